"""``Learning360Connector``: the 360Learning implementation of ``connectors.base.Connector``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, ClassVar, Self

import httpx

from lmsbridge.connectors.base import (
    Chain,
    Connector,
    CredentialField,
    Dto,
    Json,
    Page,
    PassthroughApi,
    PlanInput,
    ProbeResult,
    ScopeRequirements,
    SettingField,
    StoredConnection,
    Stream,
)
from lmsbridge.connectors.budget import BUDGETS, BudgetRegistry
from lmsbridge.connectors.learning360 import page_maps, writes
from lmsbridge.connectors.learning360 import streams as declared
from lmsbridge.connectors.learning360.client import API_VERSION_HEADER, Learning360Client
from lmsbridge.connectors.learning360.config import (
    ClientOptions,
    Learning360Config,
    RetryPolicy,
    resolve_base_url,
)
from lmsbridge.connectors.learning360.coverage import COVERAGE, SCOPES
from lmsbridge.connectors.learning360.events import Learning360Events
from lmsbridge.connectors.learning360.probes import PROBES, run_probes
from lmsbridge.connectors.learning360.write_actions import Learning360Writes
from lmsbridge.settings import Settings

# A transport failure is retried only as the client would (idempotent methods, or a connection that was
# never made), but with a budget that suits an interactive passthrough call.
PASSTHROUGH_RETRY = RetryPolicy(
    max_attempts=3, max_seconds=15.0, initial_wait=0.2, max_wait=2.0, throttled_max_seconds=15.0
)


class Learning360Connector(Connector):
    tool: ClassVar[str] = "360learning"
    streams: ClassVar[tuple[Stream, ...]] = declared.STREAMS
    coverage = COVERAGE
    scopes: ClassVar[ScopeRequirements] = SCOPES
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(
            "client_id", "Client id", help="An administrator creates API v2 credentials under Settings → API."
        ),
        CredentialField(
            "client_secret",
            "Client secret",
            secret=True,
            env="LMSBRIDGE_360_CLIENT_SECRET",
            help="Shown once, when the API credential is created.",
        ),
    )
    # a tenant lives in exactly one region (config.HOSTS); the CLI and the API also take a base URL
    host_choices: ClassVar[tuple[tuple[str, str], ...]] = (("eu", "EU"), ("us", "US"))
    setting_fields: ClassVar[tuple[SettingField, ...]] = (
        SettingField("provider_name", "Course provider", help="course provider for upserts"),
        SettingField("author_id", "Author id", help="24-hex user id"),
    )
    connection_help: ClassVar[Mapping[str, str]] = {
        "credentials": "`client_id` and `client_secret` of an API v2 credential",
        "host": "`eu` (app.360learning.com), `us` (app.us.360learning.com) or an explicit base URL",
    }
    write_actions_class: ClassVar[type[Learning360Writes]] = Learning360Writes
    passthrough_apis: ClassVar[tuple[PassthroughApi, ...]] = (
        PassthroughApi(
            "360learning", "v2", "/api/v2/", "360Learning API v2", frozenset({API_VERSION_HEADER})
        ),
    )

    def __init__(
        self,
        config: Learning360Config,
        *,
        options: ClientOptions | None = None,
        budgets: BudgetRegistry = BUDGETS,
        reads_per_second: float | None = None,
        writes_per_second: float | None = None,
        ids_per_partition: int = declared.DEFAULT_IDS_PER_PARTITION,
    ) -> None:
        self.config = config
        # stats scans are split into `courseId[in]` partitions of at most this many course ids
        self.ids_per_partition = ids_per_partition
        budget = budgets.get(
            config.company_key, reads_per_second=reads_per_second, writes_per_second=writes_per_second
        )
        self.client = Learning360Client(config, options=options, budget=budget)
        self._writes: Learning360Writes | None = None

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
    def from_connection(
        cls,
        connection: StoredConnection,
        *,
        app_settings: Settings | None = None,
        reads_per_second: float | None = None,
        writes_per_second: float | None = None,
        options: ClientOptions | None = None,
        ids_per_partition: int = declared.DEFAULT_IDS_PER_PARTITION,
    ) -> Self:
        config = cls.config_from_connection(connection)
        if app_settings is None:
            return cls(
                config,
                options=options,
                reads_per_second=reads_per_second,
                writes_per_second=writes_per_second,
                ids_per_partition=ids_per_partition,
            )
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
            reads_per_second=reads_per_second or app_settings.remote_reads_per_second,
            writes_per_second=writes_per_second or app_settings.remote_writes_per_second,
            ids_per_partition=ids_per_partition,
        )

    @classmethod
    def background_options(cls, app_settings: Settings) -> dict[str, Any]:
        return {
            "options": ClientOptions.with_timeout(
                app_settings.remote_timeout_seconds, allow_private_hosts=app_settings.allow_private_hosts
            )
        }

    async def verify_credentials(self) -> None:
        await self.client.fetch_token()

    @property
    def api_calls(self) -> int:
        return self.client.calls

    @property
    def throttled(self) -> int:
        return self.client.throttled

    @property
    def retries(self) -> int:
        return self.client.retries

    async def aclose(self) -> None:
        await self.client.aclose()

    def plan(self, stream: Stream, given: PlanInput) -> list[Chain]:
        return declared.plan(stream, given, ids_per_partition=self.ids_per_partition)

    async def fetch(self, chain: Chain, checkpoint: Json | None) -> AsyncGenerator[Page, None]:
        """A chain's checkpoint is the next page's URL (the Link header 360Learning sends)."""
        resume_url = str(checkpoint["next_url"]) if checkpoint else None
        async for page in declared.fetch_chain(self.client, chain, resume_url=resume_url):
            yield Page(page.items, {"next_url": page.next_url} if page.next_url else None)

    async def fetch_record(self, stream: Stream, remote_id: str) -> Dto:
        item: Dto = await self.client.get_json(f"{declared.ENDPOINTS[stream.name].path}/{remote_id}")
        return item

    def events_in(self) -> Learning360Events:
        return Learning360Events(self.client)

    def write_actions(self) -> Learning360Writes:
        if self._writes is None:
            self._writes = Learning360Writes(self.client, self.config)
        return self._writes

    async def deactivate_course(self, remote_id: str) -> Dto:
        """Archiving keeps the course's progress; upserting or restoring it brings it back."""
        return await writes.archive_course(self.client, remote_id)

    @property
    def base_url(self) -> str:
        return self.client.base_url

    async def passthrough_send(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> httpx.Response:
        return await self.client.send(
            method, url, content=content, headers=dict(headers), retry=PASSTHROUGH_RETRY
        )

    @classmethod
    def probed_scopes(cls) -> tuple[str, ...]:
        return tuple(probe.scope for probe in PROBES)

    async def probe_scopes(self) -> Sequence[ProbeResult]:
        return await run_probes(self.client)

    @classmethod
    def gone_item(cls, stream: Stream, stored_remote_data: Any) -> Dto | None:
        return page_maps.gone_course(stored_remote_data) if stream is declared.COURSES else None
