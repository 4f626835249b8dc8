"""360Learning's webhooks in: which event types lmsbridge subscribes to, what each one asks to fetch, and
the fetch itself.

An event is a hint, not data: its payload is parsed only for ids, and the records are read back through
the API (a user event → that user; ``course.attempt.closed`` → that pair's attempts), so a late, repeated
or forged-but-signed payload can never write anything 360Learning does not show. Paths are not a unified
model and their events carry no course id, so they are not subscribed to; courses have no events at all
(archive, restore and edits are seen by syncs only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lmsbridge.connectors.base import BadEvent, EventBatch, EventsIn, SubscriptionApi
from lmsbridge.connectors.errors import NotFound
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.query import encode_filters
from lmsbridge.connectors.learning360.streams import STATS, USERS
from lmsbridge.connectors.learning360.subscriptions import Learning360Subscriptions

API = "/api/v2"
USER_EVENTS = ("user.created", "user.updated", "user.deleted", "user.reactivated", "user.activated")
ATTEMPT_CLOSED = "course.attempt.closed"
BULK_ENDED = "bulk.operation.ended"
# one subscription per type (the Webhook API's rule)
SUBSCRIBED_EVENTS: tuple[str, ...] = (*USER_EVENTS, ATTEMPT_CLOSED, BULK_ENDED)
# ids per `[in]` list of a stats query: ~26 bytes each keeps the URL far below 8 KB
IDS_PER_STATS_QUERY = 100

Dto = dict[str, Any]


@dataclass
class FetchPlan:
    """What a batch of events asks to read back, deduplicated (ten updates of one user: one read)."""

    users: set[str] = field(default_factory=set)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    # bulk operations that ended: id → status (completed | error)
    operations: dict[str, str] = field(default_factory=dict)

    def add(self, event_type: str, body: Any) -> bool:
        """Add one event's needs; False when lmsbridge has no use for its type. ``BadEvent`` when the
        payload lacks the ids its type requires."""
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise BadEvent("the event has no data object")
        if event_type in USER_EVENTS:
            self.users.add(_id(data, "userId"))
        elif event_type == ATTEMPT_CLOSED:
            self.pairs.add((_id(data, "userId"), _id(data, "courseId")))
        elif event_type == BULK_ENDED:
            self.operations[_id(data, "bulkOperationId")] = str(data.get("status") or "")
        else:
            return False
        return True

    @property
    def calls_needed(self) -> bool:
        return bool(self.users or self.pairs)


def _id(data: Dto, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BadEvent(f"the event's data has no {key}")
    return value


@dataclass
class Fetched:
    """Pages of what the plan read, by sync stream name (they go through the sync's page writers)."""

    users: list[Dto] = field(default_factory=list)
    stats: list[Dto] = field(default_factory=list)
    # users 360Learning no longer knows (purged): a FULL sync marks them deleted
    missing_users: list[str] = field(default_factory=list)
    # pairs read back whole (every attempt of the pair is in ``stats``)
    pairs: set[tuple[str, str]] = field(default_factory=set)


async def fetch(client: Learning360Client, plan: FetchPlan) -> Fetched:
    """Read back what ``plan`` names: one call per user, one stats query per hundred
    users × hundred courses (``userId[in]`` and ``courseId[in]``, filtered to the wanted pairs)."""
    out = Fetched()
    for user_id in sorted(plan.users):
        try:
            user = await client.get_json(f"{API}/users/{user_id}")
        except NotFound:
            out.missing_users.append(user_id)
            continue
        if isinstance(user, dict) and user.get("_id"):
            out.users.append(user)
    out.stats = await pair_attempts(client, plan.pairs)
    out.pairs = set(plan.pairs)
    return out


async def pair_attempts(client: Learning360Client, pairs: Iterable[tuple[str, str]]) -> list[Dto]:
    """Every attempt of the wanted (userId, courseId) pairs."""
    wanted = set(pairs)
    users = sorted({u for u, _ in wanted})
    courses = sorted({c for _, c in wanted})
    found: list[Dto] = []
    for u_start in range(0, len(users), IDS_PER_STATS_QUERY):
        for c_start in range(0, len(courses), IDS_PER_STATS_QUERY):
            params = encode_filters(
                {
                    "userId": {"in": users[u_start : u_start + IDS_PER_STATS_QUERY]},
                    "courseId": {"in": courses[c_start : c_start + IDS_PER_STATS_QUERY]},
                }
            )
            async for page in client.iter_pages(f"{API}/courses/stats", params):
                found.extend(
                    a for a in page.items if (str(a.get("userId")), str(a.get("courseId"))) in wanted
                )
    return found


class Learning360Events(EventsIn):
    """360Learning's webhooks in, over the connector's client (its budget, token and retries)."""

    subscribed_events = SUBSCRIBED_EVENTS

    def __init__(self, client: Learning360Client) -> None:
        self.client = client

    def subscriptions(self) -> SubscriptionApi:
        return Learning360Subscriptions(self.client)

    def batch(self) -> EventBatch:
        return _Batch(self.client)


class _Batch:
    def __init__(self, client: Learning360Client) -> None:
        self.client = client
        self.plan = FetchPlan()

    def add(self, event_type: str, payload: Any) -> bool:
        return self.plan.add(event_type, payload)

    @property
    def calls_needed(self) -> bool:
        return self.plan.calls_needed

    @property
    def ended_operations(self) -> dict[str, str]:
        return self.plan.operations

    async def read_back(self) -> dict[str, list[Dto]]:
        fetched = await fetch(self.client, self.plan)
        return {USERS.name: fetched.users, STATS.name: fetched.stats}
