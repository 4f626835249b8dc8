"""A minimal second LMS: its own tiny simulated API (``api.py``) and a connector for it
(``connector.py``) that passes the standard connector suite (tests/connectors/conformance) without any
change to sync, jobs, actions, features or API code."""
