"""Run-time switches of a sandbox: auth quirks, page sizes, rate limits, latency, bulk timing, webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Page sizes from each operation's description in the vendor documents.
DEFAULT_PAGE_SIZES: dict[str, int] = {
    "users": 500,
    "courses": 500,
    "stats": 500,
    "groups": 500,
    "roles": 1000,
    "integrations": 100,
    "bulk_operations": 20,
    "subscriptions": 2000,
    "events": 250,
}


@dataclass
class SandboxConfig:
    token_lifetime_s: int = 3600
    # The vendor declares `expires_in` a number but its examples show the string "3600".
    expires_in_as_string: bool = False
    # Undocumented: the reply to a missing/wrong `360-api-version` header (guess: 400).
    version_error_status: int = 400
    page_sizes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PAGE_SIZES))
    rate_limit_enabled: bool = False
    reads_per_second: int = 50
    writes_per_second: int = 10
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    # Bulk operations: seconds (sandbox clock) spent pending→queued, queued→running, running→ended.
    bulk_queue_s: float = 0.0
    bulk_start_s: float = 0.0
    bulk_run_s: float = 0.0
    bulk_enabled: bool = True
    max_concurrent_bulk: int = 3
    # Webhook retry delays in seconds, as documented (8 attempts in total).
    webhook_retry_delays_s: list[float] = field(
        default_factory=lambda: [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    )
    webhook_timeout_s: float = 15.0
    # When set, Link and Location headers use this base instead of the request's own.
    public_base_url: str | None = None

    def update(self, values: dict[str, Any]) -> list[str]:
        """Apply known keys; return the unknown ones so the caller can reject them."""
        unknown = []
        for key, value in values.items():
            if key == "page_sizes" and isinstance(value, dict):
                self.page_sizes.update({str(k): int(v) for k, v in value.items()})
            elif hasattr(self, key) and not key.startswith("_"):
                setattr(self, key, value)
            else:
                unknown.append(key)
        return unknown

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
