"""Verified API keys are cached per process for a few seconds: cache semantics and what a revocation does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_support import make_settings, new_api_key

from lmsbridge.api.app import create_app
from lmsbridge.api.key_cache import MAX_ENTRIES, VerifiedKeys
from lmsbridge.store.api_keys import list_api_keys, revoke_api_key
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import upgrade_database
from lmsbridge.store.schema import ApiKey
from loopback import bound_socket, serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_for_the_ttl_only() -> None:
    clock = FakeClock()
    cache = VerifiedKeys(5.0, clock=clock)
    key = ApiKey(id="k1", name="n")
    assert cache.get("lmsb_a") is None
    cache.put("lmsb_a", key)
    assert cache.get("lmsb_a") is key
    assert cache.get("lmsb_b") is None
    clock.now += 4.9
    assert cache.get("lmsb_a") is key
    clock.now += 0.1
    assert cache.get("lmsb_a") is None


def test_a_zero_ttl_caches_nothing_and_the_size_is_bounded() -> None:
    uncached = VerifiedKeys(0.0)
    uncached.put("lmsb_a", ApiKey(id="k1", name="n"))
    assert uncached.get("lmsb_a") is None
    bounded = VerifiedKeys(60.0)
    for n in range(MAX_ENTRIES + 1):
        bounded.put(f"lmsb_{n}", ApiKey(id=str(n), name="n"))
    assert bounded.get(f"lmsb_{MAX_ENTRIES}") is not None
    assert sum(bounded.get(f"lmsb_{n}") is not None for n in range(MAX_ENTRIES + 1)) <= MAX_ENTRIES


@pytest.mark.parametrize(("ttl", "after_revocation"), [(0.0, 401), (300.0, 200)])
def test_revocation_takes_effect_at_once_without_cache_and_after_the_ttl_with_it(
    database_url: str, tmp_path: Path, ttl: float, after_revocation: int
) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    sock = bound_socket()
    settings = make_settings(tmp_path, database_url, sock.getsockname()[1]).model_copy(
        update={"api_key_cache_seconds": ttl}
    )
    key = new_api_key(engine)
    try:
        with (
            serve(create_app(settings, engine=engine), sock) as base_url,
            httpx.Client(base_url=base_url) as client,
        ):
            headers = {"Authorization": f"Bearer {key}"}
            assert client.get("/v1/check-api-key", headers=headers).status_code == 200
            with session_scope(engine) as session:
                [stored] = list_api_keys(session)
                assert revoke_api_key(session, stored.id) is not None
            assert client.get("/v1/check-api-key", headers=headers).status_code == after_revocation
            # an unknown key is never served from the cache
            unknown = {"Authorization": "Bearer lmsb_unknown"}
            assert client.get("/v1/check-api-key", headers=unknown).status_code == 401
    finally:
        engine.dispose()
