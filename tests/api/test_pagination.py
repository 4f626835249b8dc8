"""Keyset pagination: a walk returns every pre-existing matching record exactly once, even while syncs
upsert (change and add records) between pages and during the walk."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

from api_support import ApiEnv, KomboContract

from factories import BASE_TIME, course, revision, seed_tenant, upsert, user


def walk(api: ApiEnv, kombo: KomboContract, operation_id: str, path: str, integration_id: str, **params: Any):  # type: ignore[no-untyped-def]
    """Yield each page's results, following ``data.next`` with the same filters."""
    cursor = None
    while True:
        query = dict(params) | ({"cursor": cursor} if cursor else {})
        body = kombo.check(operation_id, api.get(path, integration_id, **query))
        yield body["data"]["results"]
        cursor = body["data"]["next"]
        if cursor is None:
            return


def test_walk_returns_everything_once_in_id_order(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    tenant = seed_tenant(api.engine, integration_id, users=23, courses=0)
    pages = list(walk(api, kombo, "GetLmsUsers", "/v1/lms/users", integration_id, page_size=5))
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    ids = [r["id"] for page in pages for r in page]
    assert sorted(ids) == sorted(tenant.ids(tenant.users))  # every user, each exactly once


def test_page_size_default_and_maximum(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    upsert(api.engine, integration_id, [user(n) for n in range(1, 262)])
    default = kombo.check("GetLmsUsers", api.get("/v1/lms/users", integration_id))
    assert len(default["data"]["results"]) == 100 and default["data"]["next"]
    largest = kombo.check("GetLmsUsers", api.get("/v1/lms/users", integration_id, page_size=250))
    assert len(largest["data"]["results"]) == 250
    rest = kombo.check(
        "GetLmsUsers", api.get("/v1/lms/users", integration_id, page_size=250, cursor=largest["data"]["next"])
    )
    assert len(rest["data"]["results"]) == 11 and rest["data"]["next"] is None


def test_exactly_once_while_upserting_between_pages(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    tenant = seed_tenant(api.engine, integration_id, users=30, courses=0)
    expected = set(tenant.ids(tenant.users))
    seen: Counter[str] = Counter()
    later = BASE_TIME
    for page_number, page in enumerate(
        walk(api, kombo, "GetLmsUsers", "/v1/lms/users", integration_id, page_size=7)
    ):
        seen.update(r["id"] for r in page)
        # a sync between pages: every existing user changes (moving changed_at), new users appear
        later += timedelta(minutes=1)
        changed = [user(n, first_name=f"Renamed{page_number}-{n}") for n in range(1, 31)]
        added = [user(1000 + page_number * 10 + k) for k in range(5)]
        upsert(api.engine, integration_id, [*changed, *added], now=later)
    assert expected <= set(seen)
    assert all(count == 1 for count in seen.values()), [i for i, c in seen.items() if c > 1]


def test_exactly_once_with_updated_after_while_records_change(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    old = [user(n) for n in range(1, 21)]
    upsert(api.engine, integration_id, old, now=BASE_TIME)
    fresh = [user(n, first_name="Fresh") for n in range(1, 11)]
    upsert(api.engine, integration_id, fresh, now=BASE_TIME + timedelta(hours=1))
    since = (BASE_TIME + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    seen: Counter[str] = Counter()
    later = BASE_TIME + timedelta(hours=2)
    for page in walk(
        api, kombo, "GetLmsUsers", "/v1/lms/users", integration_id, page_size=3, updated_after=since
    ):
        seen.update(r["remote_id"] for r in page)
        later += timedelta(minutes=1)
        # changes between pages only ever add matches; nothing that matched may be lost or repeated
        upsert(api.engine, integration_id, [user(n, last_name=str(later)) for n in (1, 5, 10, 15)], now=later)
    assert {r.remote_id for r in fresh} <= set(seen)
    assert all(count == 1 for count in seen.values())


def test_courses_exactly_once_while_revisions_change(api: ApiEnv, kombo: KomboContract) -> None:
    integration_id = api.integration()
    tenant = seed_tenant(api.engine, integration_id, users=0, courses=12)
    seen: Counter[str] = Counter()
    later = BASE_TIME
    for page in walk(api, kombo, "GetLmsCourses", "/v1/lms/courses", integration_id, page_size=5):
        seen.update(r["id"] for r in page)
        later += timedelta(minutes=1)
        upsert(
            api.engine,
            integration_id,
            [revision(n, title=f"Retitled {later}") for n in range(1, 13)] + [course(50 + len(seen))],
            now=later,
        )
    assert set(tenant.ids(tenant.courses)) <= set(seen)
    assert all(count == 1 for count in seen.values())


def test_exactly_once_under_a_concurrent_writer(api: ApiEnv, kombo: KomboContract) -> None:
    """A writer thread upserts continuously (changes and inserts) while the client walks the pages;
    the walk waits for at least one completed write between pages, so the two really interleave."""
    integration_id = api.integration()
    tenant = seed_tenant(api.engine, integration_id, users=60, courses=0)
    stop = threading.Event()
    progress = threading.Condition()
    writes = 0

    def writer() -> None:
        nonlocal writes
        n = 0
        while not stop.is_set():
            n += 1
            now = BASE_TIME + timedelta(seconds=n)
            upsert(
                api.engine, integration_id, [user(k, first_name=f"W{n}") for k in range(1, 61, 3)], now=now
            )
            upsert(api.engine, integration_id, [user(5000 + n)], now=now)
            with progress:
                writes += 1
                progress.notify_all()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    seen: Counter[str] = Counter()
    try:
        cursor = None
        while True:
            with progress:
                before = writes
                moved = progress.wait_for(
                    lambda before=before: writes > before or writes < 0,  # type: ignore[misc]
                    timeout=30,
                )
                assert moved, "the writer made no progress"
            query: dict[str, Any] = {"page_size": 4} | ({"cursor": cursor} if cursor else {})
            body = kombo.check("GetLmsUsers", api.get("/v1/lms/users", integration_id, **query))
            seen.update(r["id"] for r in body["data"]["results"])
            cursor = body["data"]["next"]
            if cursor is None:
                break
    finally:
        stop.set()
        thread.join(timeout=30)
    assert set(tenant.ids(tenant.users)) <= set(seen)
    assert all(count == 1 for count in seen.values())
    assert writes != 0
