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
    # SQLite: the list endpoints read the store through a memory map of this many MiB (0: off; SQLite
    # caps it at its build's maximum, 2 GiB in common builds); store/engine.py sqlite_read_engine
    sqlite_read_mmap_mb: int = Field(default=2048, ge=0, le=1_048_576)

    # Sync schedule (hours), as Kombo's defaults: FULL every 10 h, DELTA every 3 h.
    full_sync_interval_hours: float = 10.0
    delta_sync_interval_hours: float = 3.0

    # 360Learning allows 50 reads/s and 10 writes/s per company; stay a little under.
    remote_reads_per_second: float = 45.0
    remote_writes_per_second: float = 9.0
    remote_timeout_seconds: float = 30.0
    # calls made while an API request or a CLI command waits (connect, scope and model tests) stop
    # retrying after this; syncs and background tasks retry longer
    remote_interactive_retry_seconds: float = 20.0

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
