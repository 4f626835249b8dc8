"""`python -m lmsbridge.sandbox --port 8360 --users ... --courses ... --attempts ...`."""

from __future__ import annotations

from lmsbridge.sandbox.cli import main

main()
