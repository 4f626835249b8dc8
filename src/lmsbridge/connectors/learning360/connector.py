"""``Learning360Connector``: the 360Learning implementation of ``connectors.base.Connector``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

from lmsbridge.connectors.base import Connector, StoredConnection
from lmsbridge.connectors.learning360.budget import BUDGETS, BudgetRegistry
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.config import (
    ClientOptions,
    Learning360Config,
    RetryPolicy,
    resolve_base_url,
)
from lmsbridge.connectors.learning360.streams import STREAMS
from lmsbridge.settings import Settings


class Learning360Connector(Connector):
    tool: ClassVar[str] = "360learning"
    read_models: ClassVar[tuple[str, ...]] = (
        "users",
        "course_providers",
        "courses",
        "course_revisions",
        "course_progressions",
    )

    def __init__(
        self,
        config: Learning360Config,
        *,
        options: ClientOptions | None = None,
        budgets: BudgetRegistry = BUDGETS,
        reads_per_second: float | None = None,
        writes_per_second: float | None = None,
    ) -> None:
        self.config = config
        rates: dict[str, float] = {}
        if reads_per_second is not None:
            rates["reads_per_second"] = reads_per_second
        if writes_per_second is not None:
            rates["writes_per_second"] = writes_per_second
        budget = budgets.get(config.company_key, **rates)
        self.client = Learning360Client(config, options=options, budget=budget)

    @classmethod
    def connection_from_input(
        cls, *, host: str, credentials: Mapping[str, Any], settings: Mapping[str, Any] | None = None
    ) -> StoredConnection:
        config = Learning360Config.model_validate(
            {**credentials, "host": host, "settings": dict(settings or {})}
        )
        return StoredConnection(
            base_url=config.base_url,
            credentials={
                "client_id": config.client_id,
                "client_secret": config.client_secret.get_secret_value(),
            },
            settings=config.settings.model_dump(exclude_none=True),
        )

    @classmethod
    def config_from_connection(cls, connection: StoredConnection) -> Learning360Config:
        return Learning360Config.model_validate(
            {
                **connection.credentials,
                "host": resolve_base_url(connection.base_url),
                "settings": dict(connection.settings),
            }
        )

    @classmethod
    def from_connection(cls, connection: StoredConnection, *, app_settings: Settings | None = None) -> Self:
        config = cls.config_from_connection(connection)
        if app_settings is None:
            return cls(config)
        # connectors built from stored connections serve interactive paths (connect, scope and model
        # tests, passthrough): someone waits, so retries stop sooner than a sync's
        patience = app_settings.remote_interactive_retry_seconds
        retry = RetryPolicy(max_attempts=4, max_seconds=patience, throttled_max_seconds=patience)
        return cls(
            config,
            options=ClientOptions.with_timeout(
                app_settings.remote_timeout_seconds,
                retry,
                allow_private_hosts=app_settings.allow_private_hosts,
            ),
            reads_per_second=app_settings.remote_reads_per_second,
            writes_per_second=app_settings.remote_writes_per_second,
        )

    async def verify_credentials(self) -> None:
        await self.client.fetch_token()

    @property
    def api_calls(self) -> int:
        return self.client.calls

    async def aclose(self) -> None:
        await self.client.aclose()

    @classmethod
    def stream_names(cls) -> Sequence[str]:
        return tuple(stream.name for stream in STREAMS)
