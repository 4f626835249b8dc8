"""A simulated 360Learning tenant speaking API v2 (the only fake in lmsbridge's tests and benchmarks).

Imports nothing from the rest of lmsbridge: it is a stranger that only speaks 360Learning's protocol.
Entry points: `testing` (tests), `cli` (standalone, `python -m lmsbridge.sandbox`), `app.build_app`.
"""
