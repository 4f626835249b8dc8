"""Stream declarations against the sandbox: full scans, stats partitions, delta chains, resumable chains."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sandbox_clients import PAGE_SIZES, PATIENT_READS

from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.mapping import (
    ProviderIndex,
    course_records,
    group_attempts,
    progression_from_attempts,
    provider_record,
    synthetic_providers,
    user_record,
)
from lmsbridge.connectors.learning360.query import encode_filters, query_string
from lmsbridge.connectors.learning360.streams import (
    COURSES,
    ENDPOINTS,
    STATS,
    STREAMS,
    USERS,
    Chain,
    chain_params,
    delta_chains,
    fetch_chain,
    full_chains,
    partition_ids,
)
from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.unified.records import CourseRecord, CourseRevisionRecord

MakeClient = Callable[..., Learning360Client]
STATS_ROUTE = "GET /api/v2/courses/stats"


async def _items(client: Learning360Client, chain: Chain) -> list[dict[str, Any]]:
    return [item async for page in fetch_chain(client, chain) for item in page.items]


async def _course_ids(client: Learning360Client) -> list[str]:
    (chain,) = full_chains(COURSES)
    return [str(c["_id"]) for c in await _items(client, chain)]


def course_records_for(
    courses: list[dict[str, Any]], index: ProviderIndex, observed_at: datetime
) -> list[tuple[CourseRecord, CourseRevisionRecord]]:
    return [course_records(c, index, observed_at=observed_at) for c in courses]


def _sandbox_now(sb: RunningSandbox) -> datetime:
    return datetime.fromisoformat(sb.control.now())


def test_declarations() -> None:
    assert [s.name for s in STREAMS] == ["integrations", "users", "courses", "stats"]
    assert {m for s in STREAMS for m in s.models} == {
        "users",
        "course_providers",
        "courses",
        "course_revisions",
        "course_progressions",
    }
    assert ENDPOINTS["users"].delta_filter is None and ENDPOINTS["integrations"].delta_filter is None
    assert delta_chains(USERS, datetime(2026, 1, 1, tzinfo=UTC)) == full_chains(USERS)
    assert delta_chains(COURSES, None) == full_chains(COURSES)


def test_chain_round_trip_and_delta_filter() -> None:
    (chain,) = delta_chains(STATS, datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC))
    assert Chain.from_dict(chain.to_dict()) == chain
    # a second of overlap, whole seconds (360Learning drops milliseconds)
    assert chain.request["path"] == "/api/v2/courses/stats"
    assert chain_params(chain) == (("completedAt[gte]", "2026-03-04T05:06:06.000Z"),)
    assert chain.full is False


def test_partitions_are_disjoint_sorted_and_fit_the_url_budget() -> None:
    ids = [f"{n:024x}" for n in range(1000)]
    parts = partition_ids([*reversed(ids), ids[0]])
    assert len(parts) == math.ceil(1000 / 150)
    assert sorted(i for part in parts for i in part) == ids
    for part in parts:
        assert part == sorted(part)
        assert len(query_string([("courseId[in]", i) for i in part])) < 8_000
    # the byte cap binds before max_ids: every part fits, with no more parts than needed
    per_id = len(query_string([("courseId[in]", ids[0])])) + 1
    by_bytes = partition_ids(ids, max_ids=1000, max_query_bytes=4_200)
    assert all(len(query_string([("courseId[in]", i) for i in part])) <= 4_200 for part in by_bytes)
    assert len(by_bytes) == math.ceil(1000 / (4_200 // per_id))
    assert partition_ids([]) == []
    with pytest.raises(ValueError):
        partition_ids(ids, max_ids=0)


def test_partitions_deal_ids_so_a_busy_range_is_spread_over_every_chain() -> None:
    # ids sort by creation time and the oldest courses are the busiest: each chain gets some of them
    ids = [f"{n:024x}" for n in range(600)]
    parts = partition_ids(ids, max_ids=150)
    assert len(parts) == 4
    oldest = set(ids[:40])
    assert all(len(oldest.intersection(part)) >= 10 for part in parts)
    assert max(len(part) for part in parts) - min(len(part) for part in parts) <= 1


def test_bracket_encoding() -> None:
    when = datetime(2025, 1, 1, 12, 0, 0, 999_000, tzinfo=UTC)
    assert encode_filters({"courseId": {"in": ["a", "b"]}, "modifiedAt": {"gte": when}}) == (
        ("courseId[in]", "a"),
        ("courseId[in]", "b"),
        ("modifiedAt[gte]", "2025-01-01T12:00:00.000Z"),
    )
    assert encode_filters({"collaborativeLearning": {"eq": True}}) == (("collaborativeLearning[eq]", "true"),)
    for bad in ({"x": {"like": "y"}}, {"x": {"in": "not-a-list"}}, {"x": {"eq": ["a"]}}):
        with pytest.raises(ValueError):
            encode_filters(bad)  # type: ignore[arg-type]


async def test_partition_union_equals_unpartitioned_scan(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client(PATIENT_READS)
    course_ids = await _course_ids(client)
    (whole,) = full_chains(STATS)
    sandbox.control.reset_counters()
    unpartitioned = await _items(client, whole)
    plain_calls = sandbox.control.counters()["calls"][STATS_ROUTE]
    assert plain_calls == math.ceil(len(unpartitioned) / PAGE_SIZES["stats"])

    chains = full_chains(STATS, partition_values=course_ids, max_ids_per_partition=4)
    assert len(chains) == math.ceil(len(course_ids) / 4) and len({c.key for c in chains}) == len(chains)
    sandbox.control.reset_counters()
    # the chains are independent: fetch them concurrently
    results = await asyncio.gather(*(_items(client, chain) for chain in chains))
    partitioned = [a["_id"] for items in results for a in items]
    assert len(partitioned) == len(set(partitioned))  # disjoint, each attempt once
    assert sorted(partitioned) == sorted(a["_id"] for a in unpartitioned)
    # documented overhead: at most one extra page per partition
    calls = sandbox.control.counters()["calls"][STATS_ROUTE]
    assert calls <= plain_calls + len(chains)
    assert calls == sum(max(1, math.ceil(len(items) / PAGE_SIZES["stats"])) for items in results)


async def test_resume_a_chain_from_its_checkpoint(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    client = make_client()
    (chain,) = full_chains(STATS)
    pages = [page async for page in fetch_chain(client, chain)]
    assert len(pages) >= 3
    resumed = [page async for page in fetch_chain(make_client(), chain, resume_url=pages[0].next_url)]
    assert [p.url for p in resumed] == [p.url for p in pages[1:]]
    assert [p.items for p in resumed] == [p.items for p in pages[1:]]


async def test_course_delta_sees_edits_archives_and_deletions(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    client = make_client()
    course_ids = await _course_ids(client)
    edited, archived, deleted = course_ids[1], course_ids[2], course_ids[3]
    sandbox.control.advance_clock(10)
    since = _sandbox_now(sandbox)
    sandbox.control.advance_clock(5)
    sandbox.control.edit_course(edited, name="Renamed course")
    sandbox.control.set_course_status(archived, "archived")
    sandbox.control.set_course_status(deleted, "deleted")

    chains = {chain.key: chain for chain in delta_chains(COURSES, since)}
    assert set(chains) == {"courses:modifiedAt", "courses:archived", "courses:deleted"}
    modified = await _items(client, chains["courses:modifiedAt"])
    assert [c["_id"] for c in modified] == [edited]
    assert modified[0]["name"] == "Renamed course"
    # archive and delete do not move modifiedAt: only the status scans see them
    assert archived in {c["_id"] for c in await _items(client, chains["courses:archived"])}
    assert deleted in {c["_id"] for c in await _items(client, chains["courses:deleted"])}
    assert all(not chain.full for chain in chains.values())
    # the unfiltered full scan lists every status (what deletion marking relies on)
    assert {archived, deleted, edited} <= set(await _course_ids(client))


async def test_stats_delta_sees_new_completions(sandbox: RunningSandbox, make_client: MakeClient) -> None:
    client = make_client()
    course_ids = await _course_ids(client)
    user_id = sandbox.tenant.users.ids[0]
    sandbox.control.advance_clock(10)
    since = _sandbox_now(sandbox)
    sandbox.control.advance_clock(5)
    completed = sandbox.control.create_attempt(user_id, course_ids[0], progress=100)
    sandbox.control.create_attempt(user_id, course_ids[1], progress=10)
    (chain,) = delta_chains(STATS, since)
    found = await _items(client, chain)
    assert [a["_id"] for a in found] == [completed["_id"]]


async def test_full_scan_costs_the_minimal_call_count_and_maps(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    """A full read of every stream (stats unpartitioned) costs 1 token + ⌈n/page⌉ per stream, and maps."""
    client = make_client(PATIENT_READS)
    observed_at = _sandbox_now(sandbox)
    fetched = {}
    for stream in STREAMS:
        (chain,) = full_chains(stream)
        fetched[stream.name] = await _items(client, chain)
    counters = sandbox.control.counters()
    sizes = {"integrations": "integrations", "users": "users", "courses": "courses", "stats": "stats"}
    expected = 1 + sum(max(1, math.ceil(len(fetched[n]) / PAGE_SIZES[size])) for n, size in sizes.items())
    assert counters["total_calls"] == client.calls == expected

    index = ProviderIndex.from_integrations(fetched["integrations"])
    providers = {provider_record(i).remote_id for i in fetched["integrations"]}
    providers |= {p.remote_id for p in synthetic_providers(fetched["courses"], index)}
    pairs = course_records_for(fetched["courses"], index, observed_at)
    assert {c.remote_id for c, _ in pairs} == set(await _course_ids(client))
    for course, revision in pairs:
        assert revision.course_remote_id == course.remote_id
        dto = course.remote_data["/courses"] if course.remote_data else {}
        assert (course.provider_remote_id is not None) == (dto.get("type") == "external")
        assert course.provider_remote_id is None or course.provider_remote_id in providers
    users = {user_record(u).remote_id for u in fetched["users"]}
    progressions = [
        progression_from_attempts(user_id, course_id, attempts)
        for (user_id, course_id), attempts in group_attempts(fetched["stats"]).items()
    ]
    assert sum(len(p.remote_data["/courses/stats"]) for p in progressions if p.remote_data) == len(
        fetched["stats"]
    )
    assert all(p.user_remote_id in users for p in progressions)


async def test_deleted_user_stays_listed_and_maps_inactive(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    user_id = sandbox.tenant.users.ids[-1]
    sandbox.control.delete_user(user_id)
    client = make_client()
    (chain,) = full_chains(USERS)
    listed = {u["_id"]: u for u in await _items(client, chain)}
    record = user_record(listed[user_id])
    assert record.status == "INACTIVE"
    assert record.remote_deleted_at is not None
    assert abs((record.remote_deleted_at - _sandbox_now(sandbox)).total_seconds()) < 60
