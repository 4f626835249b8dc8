"""The 360Learning streams, declared once: path, page size, models, and how full and delta scans run.

A scan is a list of ``Chain``s: independent cursor chains the sync engine may run concurrently
(all under the company budget). Each chain's pages come one after another with the next URL, so the
engine checkpoints after every page and resumes a chain from its stored URL (``fetch_chain``).
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lmsbridge.connectors.base import Page
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.query import Params, encode_filters, query_string

# Date filters have one-second resolution and clocks drift: start delta windows this much earlier
# (records seen twice are upserted twice, which is harmless).
DELTA_OVERLAP = timedelta(seconds=1)
# Keep every partition URL well under the 8 KB request-line limit of common servers: 150 ids of
# 24 hex chars cost 150 * len("courseId%5Bin%5D=<24>&") = 6,300 bytes of query.
DEFAULT_IDS_PER_PARTITION = 150
MAX_PARTITION_QUERY_BYTES = 7_000


@dataclass(frozen=True, slots=True)
class Chain:
    """One cursor chain: a path and filters whose pages are fetched in sequence."""

    stream: str
    key: str  # unique within a run, stable across a resume: the checkpoint key
    path: str
    params: Params = ()
    # True when the chain belongs to a complete scan of the stream (deletions may be inferred)
    full: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "key": self.key,
            "path": self.path,
            "params": [list(p) for p in self.params],
            "full": self.full,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chain:
        return cls(
            stream=str(data["stream"]),
            key=str(data["key"]),
            path=str(data["path"]),
            params=tuple((str(k), str(v)) for k, v in data["params"]),
            full=bool(data["full"]),
        )


@dataclass(frozen=True, slots=True)
class Stream:
    """A list endpoint and what it feeds (meltano-style declaration)."""

    name: str
    path: str
    page_size: int  # fixed by the server; used only for call-count estimates
    models: tuple[str, ...]
    scope: str
    # date filter for delta runs (replication key); None: a delta run scans the stream in full
    delta_filter: str | None = None
    # statuses scanned in full on every delta run because they do not move the delta filter
    delta_status_scans: tuple[str, ...] = ()
    # filter whose `[in]` lists split a full scan into disjoint chains
    partition_filter: str | None = None


USERS = Stream("users", "/api/v2/users", 500, ("users",), "users:read")
INTEGRATIONS = Stream("integrations", "/api/v2/integrations", 100, ("course_providers",), "integrations:read")
COURSES = Stream(
    "courses",
    "/api/v2/courses",
    500,
    ("courses", "course_revisions"),
    "courses:read",
    delta_filter="modifiedAt",
    # archive and restore do not move modifiedAt (vendor spec)
    delta_status_scans=("archived", "deleted"),
)
STATS = Stream(
    "stats",
    "/api/v2/courses/stats",
    500,
    ("course_progressions",),
    "courseStats:read",
    delta_filter="completedAt",
    partition_filter="courseId",
)
# integrations first: course mapping needs the provider index; stats partitions need course ids
STREAMS: tuple[Stream, ...] = (INTEGRATIONS, USERS, COURSES, STATS)
STREAMS_BY_NAME = {stream.name: stream for stream in STREAMS}


def partition_ids(
    ids: Iterable[str],
    *,
    filter_name: str = "courseId",
    max_ids: int = DEFAULT_IDS_PER_PARTITION,
    max_query_bytes: int = MAX_PARTITION_QUERY_BYTES,
) -> list[list[str]]:
    """De-duplicated ids dealt round-robin, in sorted order, into the fewest lists of at most ``max_ids``
    whose query fits the byte cap; each list is sorted.

    Dealt, not cut into ranges: ObjectIds sort by creation time and a tenant's oldest courses hold most of
    its attempts, so contiguous ranges would put the busiest courses in one long sequential chain while
    the others end early. Dealing gives every chain a similar mix without knowing the counts.
    """
    if max_ids < 1:
        raise ValueError("max_ids must be positive")
    unique = sorted(set(ids))
    if not unique:
        return []
    costs = {remote_id: len(query_string([(f"{filter_name}[in]", remote_id)])) + 1 for remote_id in unique}
    count = math.ceil(len(unique) / max_ids)
    while True:
        partitions = [unique[index::count] for index in range(count)]
        if all(sum(costs[i] for i in part) <= max_query_bytes for part in partitions) or count == len(unique):
            return partitions
        count += 1


def full_chains(
    stream: Stream,
    *,
    partition_values: Sequence[str] | None = None,
    max_ids_per_partition: int = DEFAULT_IDS_PER_PARTITION,
) -> list[Chain]:
    """The chains of a full scan. With ``partition_values`` (stats: every course id, all statuses) the
    scan is split into ⌈n / max_ids_per_partition⌉ disjoint ``[in]`` chains; without, one chain."""
    if stream.partition_filter is None or partition_values is None:
        return [Chain(stream.name, stream.name, stream.path)]
    parts = partition_ids(
        partition_values, filter_name=stream.partition_filter, max_ids=max_ids_per_partition
    )
    return [
        Chain(
            stream.name,
            f"{stream.name}:p{index:04d}",
            stream.path,
            encode_filters({stream.partition_filter: {"in": part}}),
        )
        for index, part in enumerate(parts)
    ]


def delta_chains(stream: Stream, since: datetime | None) -> list[Chain]:
    """The chains of a delta run from ``since`` (None: never synced, so a full scan)."""
    if stream.delta_filter is None or since is None:
        return [Chain(stream.name, stream.name, stream.path)]
    start = since - DELTA_OVERLAP
    chains = [
        Chain(
            stream.name,
            f"{stream.name}:{stream.delta_filter}",
            stream.path,
            encode_filters({stream.delta_filter: {"gte": start}}),
            full=False,
        )
    ]
    chains.extend(
        Chain(
            stream.name,
            f"{stream.name}:{status}",
            stream.path,
            encode_filters({"status": {"eq": status}}),
            False,
        )
        for status in stream.delta_status_scans
    )
    return chains


async def fetch_chain(
    client: Learning360Client, chain: Chain, *, resume_url: str | None = None
) -> AsyncGenerator[Page, None]:
    """Pages of one chain; ``resume_url`` (a checkpointed ``Page.next_url``) continues where it stopped."""
    async for page in client.iter_pages(chain.path, chain.params, start_url=resume_url):
        yield page
