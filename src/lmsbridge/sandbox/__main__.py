"""`python -m lmsbridge.sandbox --port 8360 --users ... --courses ... --attempts ...`: the simulated
tenant of the shipped connector."""

from __future__ import annotations

from lmsbridge.sandbox.shipped import cli_main

cli_main()
