"""The HTTP API: a FastAPI app under ``/v1``, wire-compatible with Kombo's unified LMS API."""
