"""The connector interface: what an LMS connector implements for sync, actions, features and the API.

A connector declares its streams (what each feeds, in which order, how its deletions are confirmed),
plans a run as cursor chains whose checkpoints are opaque JSON (a next URL, an offset, a POST body: the
connector's business), fetches pages, and maps them to unified records with pure functions. Sync, jobs,
actions, features and the API know connectors only through this module and ``connectors.registry``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self

from lmsbridge.connectors.errors import HostNotAllowed
from lmsbridge.unified.records import MappedRecord

if TYPE_CHECKING:
    import httpx

    from lmsbridge.connectors.writes import WriteActions
    from lmsbridge.settings import Settings
    from lmsbridge.unified.coverage import ToolCoverage

# plain JSON data: what checkpoints, chain requests and a run's memory are made of (stored as JSON)
Json = dict[str, Any]
Dto = dict[str, Any]


class SyncMode(enum.StrEnum):
    FULL = "FULL"
    DELTA = "DELTA"


class Deletions(enum.StrEnum):
    """When a complete scan of a stream proves that records it did not return are gone."""

    EVERY_RUN = "every_run"  # the stream is scanned in full by every run (FULL and DELTA)
    FULL_RUNS = "full_runs"  # only FULL runs scan it in full
    NEVER = "never"


# ---- reading: streams, chains, pages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chain:
    """One cursor chain of a stream: pages fetched one after another, checkpointed after each.

    ``request`` says what to fetch (the connector's own JSON: a path and filters, a POST body …);
    ``key`` is unique within a run and stable across a resume; ``full`` marks a chain that belongs to
    a complete scan of its stream (only complete scans may infer deletions).
    """

    stream: str
    key: str
    request: Json = field(default_factory=dict)
    full: bool = True

    def to_dict(self) -> Json:
        return {"stream": self.stream, "key": self.key, "request": self.request, "full": self.full}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chain:
        return cls(str(data["stream"]), str(data["key"]), dict(data["request"]), bool(data["full"]))


@dataclass(frozen=True, slots=True)
class Page:
    """One fetched page: its decoded items and the checkpoint the chain's next page starts from
    (``None``: the chain is finished). A checkpoint is JSON the connector alone reads."""

    items: list[Dto]
    checkpoint: Json | None


@dataclass(frozen=True, slots=True)
class MapContext:
    """What a pure page mapping may use besides the page: the time it was fetched and the run's memory
    (what ``Stream.remember`` kept from earlier pages, e.g. a lookup table another stream feeds)."""

    now: datetime
    memory: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """What the store holds of a record a page maps again (for ``Stream.reconcile``)."""

    remote_data: Any
    remote_deleted_at: datetime | None = None
    origin_id: str | None = None


# page items → unified records by model; module-level functions, so they can run in another process
PageMapping = Callable[[list[Dto], MapContext], dict[str, list[MappedRecord]]]
# (remote id, the page's remote_data of it, what is stored, context) → records replacing the page's
Reconcile = Callable[[str, Any, StoredRecord, MapContext], Sequence[MappedRecord]]
# (page items, memory so far) → memory
Remember = Callable[[list[Dto], Mapping[str, Any]], Json]


@dataclass(frozen=True, slots=True)
class Revisit:
    """After a complete DELTA scan of the stream, stored records of ``model`` whose ``status`` is
    ``status`` and that the run did not see are fetched one by one (``Connector.fetch_record``): a
    change the delta filter cannot see (e.g. a restore) comes back; a record gone remotely is deleted."""

    model: str
    status: str


@dataclass(frozen=True, slots=True)
class Stream:
    """One readable collection of the LMS and what it feeds (singer-style declaration).

    ``models``: what a complete scan of the stream confirms (records of them it did not return are
    deleted, see ``deletions``); its pages may also write records of other models they refer to.
    ``after``: streams that must have finished before this one starts (their records or memory are
    what its planning or mapping needs). ``deletions_after``: streams whose complete scan must also
    have happened before this one's deletions are inferred. ``replication_key``: the item field whose
    greatest value seen is where the next DELTA starts (an ISO-8601 text; the remote clock).
    ``partition_by``: a model whose remote ids this run saw are handed to ``plan`` (e.g. to split a
    scan into ``[in]`` partitions). ``stored_model`` with ``reconcile``: records of that model the
    store already holds are handed to ``reconcile`` with what is stored.
    """

    name: str
    models: tuple[str, ...]
    map_page: PageMapping
    scope: str | None = None
    after: tuple[str, ...] = ()
    deletions: Deletions = Deletions.FULL_RUNS
    deletions_after: tuple[str, ...] = ()
    replication_key: str | None = None
    partition_by: str | None = None
    remember: Remember | None = None
    stored_model: str | None = None
    reconcile: Reconcile | None = None
    revisit: Revisit | None = None
    # the mapping needs only the page: the run's memory need not travel with it to the helper process
    maps_alone: bool = True


@dataclass(frozen=True, slots=True)
class PlanInput:
    """What planning a stream's chains may use: the run's mode, where a DELTA starts (the stream's
    cursor from the last successful run, else that run's start; ``None``: never synced) and the
    remote ids of ``Stream.partition_by`` this run saw (``None``: unknown, e.g. that scan failed)."""

    mode: SyncMode
    since: datetime | None = None
    partition_ids: Sequence[str] | None = None


# ---- connecting: what a user enters, and what lmsbridge keeps -------------------------------------------


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One credential a user enters to connect the LMS (every declared one is required).

    ``name`` is its key in ``connection_from_input``'s credentials and the Connect page's form field
    (so not ``region``, ``host`` or ``csrf_token``, which that form uses);
    ``label`` is how pages and messages name it. A ``secret`` is typed hidden and never shown back;
    ``env`` is an environment variable the CLI reads it from when the command line does not give it.
    """

    name: str
    label: str
    secret: bool = False
    env: str | None = None
    help: str = ""


@dataclass(frozen=True, slots=True)
class SettingField:
    """One optional per-integration setting (a key of ``connection_from_input``'s settings)."""

    name: str
    label: str
    help: str = ""


@dataclass(frozen=True, slots=True)
class StoredConnection:
    """What lmsbridge keeps for one connected tenant (credentials decrypted by the caller)."""

    base_url: str
    credentials: Mapping[str, Any]
    settings: Mapping[str, Any]


# ---- what a connector offers besides reading: scopes, passthrough, events in ------------------------------


@dataclass(frozen=True, slots=True)
class ScopeRequirements:
    """The credential scopes each read model and each write action needs (all of them), by Kombo id."""

    models: Mapping[str, tuple[str, ...]]
    actions: Mapping[str, tuple[str, ...]]


ScopeStatus = Literal["granted", "missing", "unknown"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a side-effect-free probe tells of one scope of the credential, and why."""

    scope: str
    status: ScopeStatus
    why: str
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class PassthroughApi:
    """A raw API of the LMS that passthrough forwards to: only under ``prefix`` on the connection's own
    host (``Connector.passthrough_url``), with the connector's authentication."""

    tool: str
    api: str
    prefix: str  # e.g. "/api/v2/": every caller path is resolved under it
    label: str
    # request headers the connector sets itself (e.g. a pinned API version): a caller's are dropped
    reserved_headers: frozenset[str] = frozenset()


class BadEvent(ValueError):
    """A pushed event without the ids its type promises (signed by the LMS, but unusable)."""


class RemoteSubscription(Protocol):
    """One webhook subscription at the LMS."""

    @property
    def id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def active(self) -> bool: ...


class RemoteEvent(Protocol):
    """One entry of a subscription's event list: ``id`` is the deliveries' ``webhook-id``."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def event_type(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


class SubscriptionApi(Protocol):
    """The LMS's webhook subscriptions, one per event type, with their signing secrets and event lists."""

    async def list(self) -> Sequence[RemoteSubscription]: ...
    async def create(self, event_type: str, url: str) -> RemoteSubscription: ...
    async def reactivate(self, subscription_id: str, url: str) -> RemoteSubscription: ...
    async def delete(self, subscription_id: str) -> None: ...
    async def secret(self, subscription_id: str) -> str: ...
    async def events_since(self, subscription_id: str, since: datetime | None) -> Sequence[RemoteEvent]: ...


class EventBatch(Protocol):
    """A batch of received events: each one a hint of what to read back, never data to trust."""

    def add(self, event_type: str, payload: Any) -> bool:
        """Take one event; False when the connector has no use for its type, ``BadEvent`` when its
        payload lacks the ids its type requires."""
        ...

    @property
    def calls_needed(self) -> bool: ...

    @property
    def ended_operations(self) -> Mapping[str, str]:
        """Remote write operations the batch said ended: id → status (a waiting action ends early)."""
        ...

    async def read_back(self) -> Mapping[str, list[Dto]]:
        """The records the events point at, read from the LMS now: stream name → items, in the streams'
        order, written like a sync's pages."""
        ...


class EventsIn(ABC):
    """Events an LMS pushes (webhooks in). Connectors without push events return none from
    ``Connector.events_in``."""

    # the event types to subscribe to
    subscribed_events: ClassVar[tuple[str, ...]]

    @abstractmethod
    def subscriptions(self) -> SubscriptionApi: ...

    @abstractmethod
    def batch(self) -> EventBatch: ...


# ---- the connector -----------------------------------------------------------------------------------


class Connector(ABC):
    """One connected LMS tenant. Owns its HTTP client; close it with ``aclose`` (or ``async with``).

    Class-level declarations (``tool``, ``streams``, ``coverage``, ``scopes``, ``passthrough_apis``,
    the connection fields) are what the API, the CLI and the pages read without a connection; instance
    methods talk to the tenant.
    """

    tool: ClassVar[str]
    streams: ClassVar[tuple[Stream, ...]]
    coverage: ClassVar[ToolCoverage]
    scopes: ClassVar[ScopeRequirements]
    passthrough_apis: ClassVar[tuple[PassthroughApi, ...]] = ()
    # the class of what ``write_actions`` returns (its batching policy is read without a connection)
    write_actions_class: ClassVar[type[WriteActions] | None] = None
    # what a user enters to connect it: the credentials (all required), where the tenant is hosted
    # ((value, label) pairs of named hosts; none: the user types the LMS's base URL), optional settings.
    # The CLI, the Connect page and the API's docs are built from them.
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()
    host_choices: ClassVar[tuple[tuple[str, str], ...]] = ()
    setting_fields: ClassVar[tuple[SettingField, ...]] = ()
    # texts that replace the derived ones of ``connection_text`` ("credentials", "host", "settings")
    connection_help: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def default_host(cls) -> str | None:
        """The host a connection takes when none is given: the first named one (None: the user must give
        the tenant's base URL)."""
        return cls.host_choices[0][0] if cls.host_choices else None

    @classmethod
    def connection_text(cls, part: str) -> str | None:
        """What to enter as ``part`` ("credentials", "host", "settings") to connect it, for the API's
        docs: ``connection_help`` where it says, else derived from the declarations (None: nothing)."""
        if part in cls.connection_help:
            return cls.connection_help[part]
        if part == "credentials" and cls.credential_fields:
            return ", ".join(f"`{f.name}` ({f.label})" for f in cls.credential_fields)
        if part == "host":
            if not cls.host_choices:
                return "the base URL of the tenant"
            named = ", ".join(f"`{value}` ({label})" for value, label in cls.host_choices)
            return named
        if part == "settings" and cls.setting_fields:
            return ", ".join(f"`{f.name}` ({f.help or f.label})" for f in cls.setting_fields)
        return None

    @classmethod
    def stream(cls, name: str) -> Stream:
        for stream in cls.streams:
            if stream.name == name:
                return stream
        raise KeyError(f"{cls.tool} has no stream {name!r}")

    @classmethod
    def stream_names(cls) -> Sequence[str]:
        return tuple(stream.name for stream in cls.streams)

    # ---- connection ----

    @classmethod
    @abstractmethod
    def connection_from_input(
        cls, *, host: str, credentials: Mapping[str, Any], settings: Mapping[str, Any] | None = None
    ) -> StoredConnection:
        """Validate what a user typed (host alias or URL, credentials, settings) into storable form."""

    @classmethod
    @abstractmethod
    def from_connection(
        cls,
        connection: StoredConnection,
        *,
        app_settings: Settings | None = None,
        reads_per_second: float | None = None,
        writes_per_second: float | None = None,
    ) -> Self:
        """Build a live connector from a stored connection (rates and timeouts from ``app_settings``;
        without them a sync's patience; explicit rates override both)."""

    @classmethod
    def background_options(cls, app_settings: Settings) -> dict[str, Any]:
        """Keyword arguments of ``from_connection`` for background work (the app's timeouts with a
        sync's patience), e.g. for the action worker."""
        return {}

    @abstractmethod
    async def verify_credentials(self) -> None:
        """Prove the credentials work (e.g. one token request); raise ``InvalidCredentials`` if not."""

    @property
    @abstractmethod
    def api_calls(self) -> int:
        """HTTP calls this connector instance made so far (recorded on sync runs)."""

    @property
    def throttled(self) -> int:
        """Answers that asked this connector to slow down (429s) so far."""
        return 0

    @property
    def retries(self) -> int:
        """Calls repeated after a transient failure so far."""
        return 0

    @abstractmethod
    async def aclose(self) -> None:
        """Release the HTTP client."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- reading ----

    @abstractmethod
    def plan(self, stream: Stream, given: PlanInput) -> list[Chain]:
        """The chains of one stream for this run (called once per run, when the stream's ``after``
        streams have finished)."""

    @abstractmethod
    def fetch(self, chain: Chain, checkpoint: Json | None) -> AsyncGenerator[Page, None]:
        """The pages of a chain in order, from its start or from a checkpoint a ``Page`` gave."""

    async def fetch_record(self, stream: Stream, remote_id: str) -> Dto:
        """One item of a stream by remote id (for ``Stream.revisit``); raises ``NotFound``."""
        raise NotImplementedError(f"{self.tool} cannot fetch single {stream.name} items")

    @classmethod
    def gone_item(cls, stream: Stream, stored_remote_data: Any) -> Dto | None:
        """The item a revisited record answering 404 becomes (marked deleted), from what is stored."""
        return None

    # ---- scopes ----

    @classmethod
    def probed_scopes(cls) -> tuple[str, ...]:
        """The scopes ``probe_scopes`` tells about."""
        return ()

    async def probe_scopes(self) -> Sequence[ProbeResult]:
        """Side-effect-free probes of every scope in ``probed_scopes``; raises ``InvalidCredentials``
        when the credentials are refused."""
        return ()

    # ---- events in ----

    def events_in(self) -> EventsIn | None:
        """The LMS's pushed events (subscriptions and read-back); None when it pushes none (then
        syncs alone keep the store current)."""
        return None

    # ---- write actions ----

    def write_actions(self) -> WriteActions | None:
        """Upsert courses, enroll and complete on this tenant, with their batching policy
        (``connectors.writes``); None when the connector writes nothing but ``deactivate_course``. The
        same object for the connector's lifetime (it may keep what ``prepare`` found)."""
        return None

    async def deactivate_course(self, remote_id: str) -> Dto:
        """Deactivate (archive) a course; returns its item as the stream that reads courses serves it
        (raises ``NotFound`` when it is gone). Offered when ``coverage.write_actions`` names
        ``lms_deactivate_course``."""
        raise NotImplementedError(f"{self.tool} cannot deactivate courses")

    # ---- passthrough ----

    @property
    def base_url(self) -> str:
        """The connection's base URL: its origin is the only one passthrough may reach."""
        raise NotImplementedError(f"{self.tool} has no passthrough")

    def passthrough_url(self, api: PassthroughApi, resolved_path: str) -> str:
        """The absolute URL of a caller's path already resolved under ``api.prefix``; raises
        ``HostNotAllowed`` unless it stays on the connection's origin, under the prefix."""
        import httpx  # here: the page-preparation process imports this module and needs no HTTP client

        base = httpx.URL(self.base_url)
        target = base.join(base.path.rstrip("/") + resolved_path)
        same_origin = (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)
        if not same_origin or not target.path.startswith(base.path.rstrip("/") + api.prefix):
            raise HostNotAllowed(f"passthrough may reach only {api.prefix} on the integration's host")
        return str(target)

    async def passthrough_send(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> httpx.Response:
        """One request to ``url`` (from ``passthrough_url``) with the connector's authentication, under
        its budget, retried only where the connector knows the server did not act; any HTTP status is
        an answer."""
        raise NotImplementedError(f"{self.tool} has no passthrough")
