"""lmsbridge: a self-hostable unified LMS API, wire-compatible with Kombo's LMS API v1."""

__version__ = "0.1.0"
