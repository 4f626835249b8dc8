"""Routers, one per area: LMS reads, general (check-api-key), integrations, logs (our extension)."""
