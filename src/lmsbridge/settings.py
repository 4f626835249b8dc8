"""One settings object, read from ``LMSBRIDGE_*`` environment variables and an optional ``lmsbridge.toml``."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Runtime configuration. Environment variables win over ``lmsbridge.toml``."""

    model_config = SettingsConfigDict(
        env_prefix="LMSBRIDGE_",
        toml_file=os.environ.get("LMSBRIDGE_CONFIG_FILE", "lmsbridge.toml"),
        extra="forbid",
    )

    data_dir: Path = Field(default=Path(".lmsbridge"), description="Holds the SQLite file and the key file.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite in the data dir. PostgreSQL: postgresql+psycopg://…",
    )
    encryption_key: str | None = Field(
        default=None, description="Fernet key for secrets at rest; generated into the data dir when unset."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Where this API is reachable; used in log_url."
    )
    # Where the connected LMS reaches this lmsbridge (https://…, no path): with it, each integration gets
    # webhook subscriptions and changes arrive within seconds; without it, changes arrive with syncs only
    public_url: str | None = Field(
        default=None, description="Address the LMS delivers webhooks to; unset: no subscriptions, syncs only."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    # API processes; one of them also runs the background services (syncs, actions, webhooks)
    api_workers: int = Field(default=1, ge=1, le=64)
    # a verified API key is trusted this long without a database lookup (0: look up every request);
    # a revoked key keeps working in a running server for at most this long
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # threads per API process that run list requests (api/read_pool.py): CPU-bound work under one GIL
    api_read_threads: int = Field(default=2, ge=1, le=64)
    # with several API processes, a keep-alive connection serves about this many requests before it is
    # closed, so clients spread over the processes again (api/connection_recycling.py); 0: never
    api_requests_per_connection: int = Field(default=30, ge=0, le=1_000_000)
    # request bodies larger than this are refused with 413 before they are parsed (api/guard.py);
    # POST /v1/lms/courses/bulk takes up to max_bulk_request_body_bytes (thousands of courses)
    max_request_body_bytes: int = Field(default=2**20, ge=1024, le=2**30)
    max_bulk_request_body_bytes: int = Field(default=16 * 2**20, ge=1024, le=2**30)
    # outbound calls (LMS hosts, webhook URLs) may reach loopback, private, link-local and
    # metadata addresses only when true (lmsbridge.netguard): the demo and the tests set it
    allow_private_hosts: bool = False
    # history kept (store/retention.py prune_history, run periodically by the job system); 0: forever.
    # Sync runs: an integration's latest 20 stay whatever their age.
    interaction_log_retention_days: int = Field(default=30, ge=0)
    sync_run_retention_days: int = Field(default=90, ge=0)
    webhook_event_retention_days: int = Field(default=30, ge=0)

    # Sync schedule (hours), as Kombo's defaults: FULL every 10 h, DELTA every 3 h.
    full_sync_interval_hours: float = 10.0
    delta_sync_interval_hours: float = 3.0
    # A failed sync is retried after this many minutes, doubling with each failure in a row (at most the
    # regular interval); after this many failures in a row the schedule pauses until a forced sync or
    # re-enabling resumes it.
    sync_retry_first_minutes: float = Field(default=1.0, gt=0)
    sync_max_consecutive_failures: int = Field(default=5, ge=1)

    # The job system (lmsbridge/jobs): "auto" keeps jobs in PostgreSQL when the database is PostgreSQL
    # (any number of `lmsbridge worker` processes and machines), in the working process's memory on SQLite.
    job_backend: Literal["auto", "postgresql", "in-memory"] = "auto"
    # PostgreSQL: `serve` processes also run jobs (on SQLite one of them always does); `serve --work`
    serve_works: bool = False
    # jobs one worker process runs at once (syncs, action tasks, webhook deliveries)
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    # how often a worker looks for stored work and due jobs when nothing woke it
    job_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # a worker (or a sync run) without a heartbeat for this long is dead: its jobs are taken over
    worker_stalled_seconds: float = Field(default=30.0, ge=1, le=3600)

    # the LMS's per-company API limits (the shipped connector's: 50 reads/s, 10 writes/s); stay a
    # little under.
    remote_reads_per_second: float = 45.0
    remote_writes_per_second: float = 9.0
    remote_timeout_seconds: float = 30.0
    # calls made while an API request or a CLI command waits (connect, scope and model tests) stop
    # retrying after this; syncs and background tasks retry longer
    remote_interactive_retry_seconds: float = 20.0

    # Web pages (lmsbridge.web): a dashboard sign-in lasts this long
    dashboard_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # The Connect page offers the hosts a connector names (`host_choices`, e.g. "eu" and "us"); one listed
    # here connects to this base URL instead of the vendor's (a staging tenant, or the sandbox in tests)
    connect_region_urls: dict[str, str] = Field(default_factory=dict)

    # Observability (docs/operations.md): process logs and Prometheus metrics
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Least severe level written to the process log."
    )
    log_format: Literal["console", "json"] | None = Field(
        default=None, description="console or json; default: console on a terminal, json otherwise."
    )
    metrics_enabled: bool = Field(default=True, description="Serve GET /metrics (Prometheus text format).")
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, GET /metrics requires `Authorization: Bearer <token>`."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("LMSBRIDGE_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
        if value and value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lmsbridge.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
