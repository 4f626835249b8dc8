"""Server time of the dashboard's pages (in-process ASGI calls, no network): the integrations list, an
integration with its syncs, scope and model tests and action tasks, the sync fragment the page polls,
a log, the webhooks page. Pages read only the operational tables (integrations, sync runs, action tasks,
logs, webhook deliveries), never the record tables, so the store's record volume does not enter; what
does is seeded with ``--seed``: a store with many integrations, a long sync history, many deliveries.

    .venv/bin/python benchmarks/page_times.py --seed [--integrations 200] [--runs 2000] [--deliveries 50000]
    .venv/bin/python benchmarks/page_times.py --url sqlite:////…/stores/<kept>_l.db
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from lmsbridge.api.app import create_app
from lmsbridge.crypto import SecretBox
from lmsbridge.ids import random_id
from lmsbridge.settings import Settings
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.logs import write_log
from lmsbridge.store.migrate import upgrade_database
from lmsbridge.store.schema import (
    ActionTask,
    Integration,
    InteractionLog,
    SyncRun,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

MODELS = ("users", "course_providers", "courses", "course_revisions", "course_progressions")


def seed(engine: Engine, box: SecretBox, integrations: int, runs: int, deliveries: int) -> None:
    """``integrations`` integrations; the first has ``runs`` sync runs, 200 action tasks and ``runs`` logs;
    one endpoint with ``deliveries`` deliveries."""
    start = datetime.now(UTC) - timedelta(days=365)
    with session_scope(engine) as session:
        ids = [
            create_integration(
                session,
                box,
                tool="360learning",
                base_url="https://app.360learning.com",
                credentials={"client_id": "c", "client_secret": "s"},
                end_user={"organization_name": f"Org {n}"},
                now=start,
            ).id
            for n in range(integrations)
        ]
        counts = {m: {"seen": 1000, "created": 3, "changed": 7, "deleted": 1} for m in MODELS}
        for integration_id in ids:
            per = runs if integration_id == ids[0] else 3
            session.add_all(
                SyncRun(
                    id=random_id(),
                    integration_id=integration_id,
                    type="DELTA",
                    state="SUCCEEDED",
                    created_at=start + timedelta(hours=3 * n),
                    started_at=start + timedelta(hours=3 * n),
                    ended_at=start + timedelta(hours=3 * n, seconds=40),
                    streams={"counts": counts},
                    api_calls=120,
                    warnings=["a warning"],
                    error=None,
                )
                for n in range(per)
            )
        now = datetime.now(UTC)
        session.add_all(
            ActionTask(
                id=random_id(),
                integration_id=ids[0],
                kind="courses_upsert",
                state="COMPLETED",
                request={"items": []},
                remote_state={},
                attempts=1,
                created_at=now,
                updated_at=now,
                result=[
                    {"origin_id": f"c{k}", "status": "FAILED", "error": {"code": "X", "message": "bad"}}
                    for k in range(20)
                ],
            )
            for _ in range(200)
        )
        for n in range(runs):
            write_log(
                session, "sync", integration_id=ids[0], request={"n": n}, response={"ok": True}, now=now
            )
        endpoint = WebhookEndpoint(
            id=random_id(),
            url="https://hooks.example/x",
            secret_encrypted=box.encrypt("s"),
            event_types=None,
            created_at=start,
        )
        session.add(endpoint)
        session.flush()
        for first in range(0, deliveries, 5000):
            chunk = range(first, min(first + 5000, deliveries))
            events = [
                WebhookEvent(
                    id=random_id(),
                    type="data-changed",
                    integration_id=ids[n % len(ids)],
                    payload={"id": "x", "type": "data-changed", "data": {}},
                    created_at=start,
                )
                for n in chunk
            ]
            session.add_all(events)
            session.flush()  # the deliveries' foreign key needs the events first
            session.add_all(
                WebhookDelivery(
                    id=random_id(),
                    event_id=event.id,
                    endpoint_id=endpoint.id,
                    state="SUCCEEDED",
                    attempts=1,
                    last_status=200,
                    created_at=start + timedelta(seconds=n),
                )
                for n, event in zip(chunk, events, strict=True)
            )
            session.flush()


def time_pages(url: str, data_dir: Path, repeat: int) -> dict[str, tuple[float, float]]:
    settings = Settings(data_dir=data_dir, database_url=url, encryption_key=Fernet.generate_key().decode())
    engine = make_engine(url)
    with session_scope(engine) as session:
        _, api_key = create_api_key(session, "page-times")
        # the integration with the longest history (its page lists the newest runs and tasks of it)
        busiest = (
            select(SyncRun.integration_id).group_by(SyncRun.integration_id).order_by(func.count().desc())
        )
        integration_id = (
            session.scalars(busiest.limit(1)).first() or session.scalars(select(Integration.id)).first()
        )
        log_id = session.scalars(select(InteractionLog.id).limit(1)).first()
    pages = {
        "integrations": "/dashboard",
        "integration": f"/dashboard/integrations/{integration_id}",
        "syncs fragment": f"/dashboard/integrations/{integration_id}/syncs",
        "webhooks": "/dashboard/webhooks",
    }
    if log_id:
        pages["log"] = f"/dashboard/logs/{log_id}"
    results: dict[str, tuple[float, float]] = {}
    with TestClient(create_app(settings, engine=engine), base_url=settings.public_base_url) as client:
        login = client.get("/dashboard/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token
        signed = client.post(
            "/dashboard/login",
            data={"csrf_token": token.group(1), "api_key": api_key},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        for name, path in pages.items():
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                reply = client.get(path)
                times.append((time.perf_counter() - began) * 1000)
                assert reply.status_code == 200, (path, reply.status_code)
            times.sort()
            results[name] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="an existing store (its integrations, runs, logs and deliveries)")
    parser.add_argument(
        "--seed", action="store_true", help="a fresh SQLite store seeded with --integrations …"
    )
    parser.add_argument("--integrations", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--deliveries", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url
        if args.seed or not url:
            url = f"sqlite:///{Path(tmp) / 'pages.db'}"
            upgrade_database(url)
            engine = make_engine(url)
            began = time.perf_counter()
            seed(engine, SecretBox(Fernet.generate_key()), args.integrations, args.runs, args.deliveries)
            engine.dispose()
            print(f"seeded in {time.perf_counter() - began:.1f} s", flush=True)
        for name, (median, p95) in time_pages(url, Path(tmp) / "data", args.repeat).items():
            print(f"{name:16} median {median:7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
