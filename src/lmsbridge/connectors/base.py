"""The connector interface: what a second LMS would implement for sync, actions and the API to use it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from lmsbridge.settings import Settings


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a cursor chain: its items, the URL it came from and the URL of the next page.

    ``next_url`` is what a sync checkpoints; ``None`` means the chain is finished.
    """

    items: list[dict[str, Any]]
    url: str
    next_url: str | None


@dataclass(frozen=True, slots=True)
class StoredConnection:
    """What lmsbridge keeps for one connected tenant (credentials decrypted by the caller)."""

    base_url: str
    credentials: Mapping[str, Any]
    settings: Mapping[str, Any]


class Connector(ABC):
    """One connected LMS tenant. Owns one HTTP client; close it with ``aclose`` (or ``async with``)."""

    tool: ClassVar[str]
    # unified models this connector can read (Kombo names, see lmsbridge.unified.records.MODELS)
    read_models: ClassVar[tuple[str, ...]]

    @classmethod
    @abstractmethod
    def connection_from_input(
        cls, *, host: str, credentials: Mapping[str, Any], settings: Mapping[str, Any] | None = None
    ) -> StoredConnection:
        """Validate what a user typed (host alias or URL, credentials, settings) into storable form."""

    @classmethod
    @abstractmethod
    def from_connection(cls, connection: StoredConnection, *, app_settings: Settings | None = None) -> Self:
        """Build a live connector from a stored connection (rates and timeouts from ``app_settings``)."""

    @abstractmethod
    async def verify_credentials(self) -> None:
        """Prove the credentials work (e.g. one token request); raise ``InvalidCredentials`` if not."""

    @property
    @abstractmethod
    def api_calls(self) -> int:
        """HTTP calls this connector instance made so far (recorded on sync runs)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the HTTP client."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @classmethod
    def stream_names(cls) -> Sequence[str]:
        """Names of the streams a sync walks (tool specific; see the tool's ``streams`` module)."""
        return ()
