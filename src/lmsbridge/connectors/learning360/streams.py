"""The 360Learning streams, declared once: what each feeds and in which order, its endpoint, and how
full and delta scans run.

A scan is a list of ``Chain``s: independent cursor chains the sync engine may run concurrently
(all under the company budget). Each chain's pages come one after another with the next URL (Link
header), which is the content of the chain's checkpoint (``fetch_chain`` resumes from it).
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from lmsbridge.connectors.base import Chain, Deletions, PlanInput, Revisit, Stream, SyncMode
from lmsbridge.connectors.learning360 import page_maps
from lmsbridge.connectors.learning360.client import Learning360Client, LinkedPage
from lmsbridge.connectors.learning360.query import Params, encode_filters, query_string

# Date filters have one-second resolution and clocks drift: start delta windows this much earlier
# (records seen twice are upserted twice, which is harmless).
DELTA_OVERLAP = timedelta(seconds=1)
# Keep every partition URL well under the 8 KB request-line limit of common servers: 150 ids of
# 24 hex chars cost 150 * len("courseId%5Bin%5D=<24>&") = 6,300 bytes of query.
DEFAULT_IDS_PER_PARTITION = 150
MAX_PARTITION_QUERY_BYTES = 7_000


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The list endpoint behind a stream and how its scans are filtered."""

    path: str
    page_size: int  # fixed by the server; used only for call-count estimates
    # date filter for delta runs (the stream's replication key); None: a delta run scans in full
    delta_filter: str | None = None
    # statuses scanned in full on every delta run because they do not move the delta filter
    delta_status_scans: tuple[str, ...] = ()
    # filter whose `[in]` lists split a full scan into disjoint chains
    partition_filter: str | None = None


INTEGRATIONS = Stream(
    "integrations",
    ("course_providers",),
    page_maps.integrations_page,
    scope="integrations:read",
    # synthetic providers are confirmed by the courses scan
    deletions_after=("courses",),
    remember=page_maps.remember_integrations,
)
USERS = Stream(
    "users",
    ("users",),
    page_maps.users_page,
    scope="users:read",
    after=("integrations",),
    # every run lists all users (the API has no modification filter for them)
    deletions=Deletions.EVERY_RUN,
)
COURSES = Stream(
    "courses",
    # a page also writes the synthetic providers its courses refer to (confirmed by integrations)
    ("courses", "course_revisions"),
    page_maps.courses_page,
    scope="courses:read",
    after=("integrations",),
    replication_key="modifiedAt",
    stored_model="courses",
    reconcile=page_maps.reconcile_course,
    # archive and restore do not move modifiedAt (vendor spec)
    revisit=Revisit(model="course_revisions", status="INACTIVE"),
    maps_alone=False,  # course providers come from the integrations the run remembered
)
STATS = Stream(
    "stats",
    ("course_progressions",),
    page_maps.stats_page,
    scope="courseStats:read",
    after=("courses",),
    replication_key="completedAt",
    partition_by="courses",
    stored_model="course_progressions",
    reconcile=page_maps.reconcile_progression,
)
# integrations first: course mapping needs the provider index; stats partitions need course ids
STREAMS: tuple[Stream, ...] = (INTEGRATIONS, USERS, COURSES, STATS)
STREAMS_BY_NAME = {stream.name: stream for stream in STREAMS}
ENDPOINTS: dict[str, Endpoint] = {
    "integrations": Endpoint("/api/v2/integrations", 100),
    "users": Endpoint("/api/v2/users", 500),
    "courses": Endpoint(
        "/api/v2/courses", 500, delta_filter="modifiedAt", delta_status_scans=("archived", "deleted")
    ),
    "stats": Endpoint("/api/v2/courses/stats", 500, delta_filter="completedAt", partition_filter="courseId"),
}


def chain(stream: str, key: str, path: str, params: Params = (), full: bool = True) -> Chain:
    """A chain whose request is a path and its query parameters."""
    return Chain(stream, key, {"path": path, "params": [list(p) for p in params]}, full)


def chain_params(chain: Chain) -> Params:
    return tuple((str(k), str(v)) for k, v in chain.request.get("params", ()))


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
    endpoint = ENDPOINTS[stream.name]
    if endpoint.partition_filter is None or partition_values is None:
        return [chain(stream.name, stream.name, endpoint.path)]
    parts = partition_ids(
        partition_values, filter_name=endpoint.partition_filter, max_ids=max_ids_per_partition
    )
    return [
        chain(
            stream.name,
            f"{stream.name}:p{index:04d}",
            endpoint.path,
            encode_filters({endpoint.partition_filter: {"in": part}}),
        )
        for index, part in enumerate(parts)
    ]


def delta_chains(stream: Stream, since: datetime | None) -> list[Chain]:
    """The chains of a delta run from ``since`` (None: never synced, so a full scan)."""
    endpoint = ENDPOINTS[stream.name]
    if endpoint.delta_filter is None or since is None:
        return [chain(stream.name, stream.name, endpoint.path)]
    start = since - DELTA_OVERLAP
    chains = [
        chain(
            stream.name,
            f"{stream.name}:{endpoint.delta_filter}",
            endpoint.path,
            encode_filters({endpoint.delta_filter: {"gte": start}}),
            full=False,
        )
    ]
    chains.extend(
        chain(
            stream.name,
            f"{stream.name}:{status}",
            endpoint.path,
            encode_filters({"status": {"eq": status}}),
            full=False,
        )
        for status in endpoint.delta_status_scans
    )
    return chains


def plan(
    stream: Stream, given: PlanInput, *, ids_per_partition: int = DEFAULT_IDS_PER_PARTITION
) -> list[Chain]:
    """A stream's chains for one run: DELTA runs filter what has a date filter, FULL runs scan all
    (stats split by the courses the run saw; none seen: one scan still proves there are no attempts)."""
    if given.mode is SyncMode.DELTA:
        return delta_chains(stream, given.since)
    if not given.partition_ids:
        return full_chains(stream)
    return full_chains(stream, partition_values=given.partition_ids, max_ids_per_partition=ids_per_partition)


async def fetch_chain(
    client: Learning360Client, chain: Chain, *, resume_url: str | None = None
) -> AsyncGenerator[LinkedPage, None]:
    """Pages of one chain; ``resume_url`` (a checkpointed ``next_url``) continues where it stopped."""
    path = str(chain.request["path"])
    async for page in client.iter_pages(path, chain_params(chain), start_url=resume_url):
        yield page
