"""Typed configuration of one 360Learning connection: credentials, host, settings, client options."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# Regional hosts from the vendor's OpenAPI `servers`; a tenant lives in exactly one region.
HOSTS = {"eu": "https://app.360learning.com", "us": "https://app.us.360learning.com"}


def resolve_base_url(host: str) -> str:
    """``eu``/``us`` → the regional host; anything else must be an http(s) base URL (e.g. the sandbox)."""
    alias = host.strip().lower()
    if alias in HOSTS:
        return HOSTS[alias]
    parts = urlsplit(host.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("host must be 'eu', 'us' or an http(s) base URL")
    if parts.query or parts.fragment:
        raise ValueError("the base URL must not carry a query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class Learning360Settings(BaseModel):
    """Optional per-integration settings."""

    model_config = ConfigDict(extra="forbid")

    # externalPlatform name of the 360Learning integration used for course upserts (actions)
    provider_name: str | None = Field(default=None, min_length=1)
    # author (editor/admin in the target group) of the integration lmsbridge creates for upserts
    author_id: str | None = Field(default=None, pattern=r"^[a-fA-F0-9]{24}$")


class Learning360Config(BaseModel):
    """Credentials and host of one tenant. ``client_secret`` never shows in repr, logs or dumps."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    host: str = "eu"
    settings: Learning360Settings = Field(default_factory=Learning360Settings)

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        resolve_base_url(value)
        return value

    @property
    def base_url(self) -> str:
        return resolve_base_url(self.host)

    @property
    def company_key(self) -> str:
        """Key of the rate budget. 360Learning limits per company; one credential is one company."""
        return f"{self.base_url}|{self.client_id}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for retrying transient failures (429, 5xx, timeouts, dropped connections, bad JSON)."""

    max_attempts: int = 8
    max_seconds: float = 120.0
    # jittered exponential backoff: random in [0, min(max_wait, initial_wait * 2**n)]
    initial_wait: float = 0.5
    max_wait: float = 20.0
    # 360Learning sends no Retry-After; its docs say "wait ~1 second" after a 429
    throttle_wait: float = 1.0
    # 429s slow the company's budget down and are retried this long, however many (see client._Stop)
    throttled_max_seconds: float = 900.0


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """HTTP behaviour of the client; tests shrink the numbers."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    write_timeout: float = 30.0
    pool_timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # refresh the token this long before it expires (a 1 h token is refreshed after 59 min)
    token_refresh_margin: float = 60.0
    max_connections: int = 20
    # connect to loopback/private hosts too (lmsbridge.netguard); None: LMSBRIDGE_ALLOW_PRIVATE_HOSTS
    allow_private_hosts: bool | None = None

    @classmethod
    def with_timeout(
        cls, seconds: float, retry: RetryPolicy | None = None, *, allow_private_hosts: bool | None = None
    ) -> ClientOptions:
        """All four timeouts set to ``seconds`` (what ``Settings.remote_timeout_seconds`` configures)."""
        return cls(
            connect_timeout=seconds,
            read_timeout=seconds,
            write_timeout=seconds,
            pool_timeout=seconds,
            retry=retry or RetryPolicy(),
            allow_private_hosts=allow_private_hosts,
        )

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )
