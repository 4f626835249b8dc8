"""Figure 9: scale-out. Twelve S tenants, each its own 360Learning company (one sandbox process each,
realistic: 150 ± 100 ms per request, limits 50 reads/s and 10 writes/s; the product's budget, 45 reads/s
per company), one FULL sync each, all queued at once, run by

  (a) 1 `lmsbridge worker` on PostgreSQL,
  (b) 3 `lmsbridge worker` processes on PostgreSQL (they share the job store and each company's budget),
  (c) 1 `lmsbridge worker` on SQLite (the embedded runner: jobs in the memory of that one process),

side by side in one run, each on a fresh store, every worker at the same `--concurrency`.

    .venv/bin/python benchmarks/fig9_scale_out.py [--rounds 1] [--concurrency 8] [--tenants 12]

Per variant: the wall time from queueing until every run is terminal (the last run's end), records/s
(the runs' `seen` counts ÷ wall), CPU seconds per 1,000 records of the worker processes (psutil, their
helper processes included), the CPU of the PostgreSQL backends serving them and of the sandboxes, the
whole machine's busy share (other sessions included), the 429s the sandboxes answered, and that every run
SUCCEEDED. Rounds alternate the order of the variants (a b c, then c b a, ...). The sandboxes stay up
across variants and rounds (their counters are reset before each variant).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped,unused-ignore]
from cryptography.fernet import Fernet

from common import (
    POSTGRES_ADMIN,
    PYTHON,
    TENANTS,
    Sandbox,
    record,
    release,
    sandbox,
    spawn,
    wait_until,
)

POLL_SECONDS = 0.2  # LMSBRIDGE_JOB_POLL_SECONDS of the workers: how soon a queued run becomes a job


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    backend: str  # "postgres" | "sqlite"
    workers: int


VARIANTS = (
    Variant("a", "1 worker, PostgreSQL", "postgres", 1),
    Variant("b", "3 workers, PostgreSQL", "postgres", 3),
    Variant("c", "embedded runner, SQLite (1 worker)", "sqlite", 1),
)


# ---- the store of one variant ----------------------------------------------------------------------


@dataclass
class JobStore:
    url: str
    key: str
    data_dir: Path
    tmp: Path
    dbname: str = ""  # the PostgreSQL database's name

    def server_cpu_seconds(self) -> float:
        """CPU of the PostgreSQL backends connected to this database now (0 on SQLite). A backend that
        disconnected before is not counted; the workers' pools keep theirs for the whole run."""
        if not self.dbname:
            return 0.0
        with _pg_admin() as conn:
            pids = [row[0] for row in conn.execute(_BACKENDS, {"db": self.dbname})]
        total = 0.0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
        return total


_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = %(db)s AND pid <> pg_backend_pid()"


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN, autocommit=True)


@contextlib.contextmanager
def fresh_job_store(backend: str) -> Iterator[JobStore]:
    """A new database migrated with the job tables (a PostgreSQL database `lmsbridge_bench_<random>`,
    dropped on exit, or an SQLite file in a temp dir), no integration yet."""
    from lmsbridge.jobs.system import apply_job_schema
    from lmsbridge.settings import Settings
    from lmsbridge.store.engine import make_engine
    from lmsbridge.store.migrate import upgrade_database

    tmp = Path(tempfile.mkdtemp(prefix="lmsbridge-bench-"))
    dbname = ""
    try:
        if backend == "postgres":
            dbname = f"lmsbridge_bench_{secrets.token_hex(4)}"
            with _pg_admin() as conn:
                conn.execute(f'CREATE DATABASE "{dbname}"')
            base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            url = f"{base}/{dbname}"
        else:
            url = f"sqlite:///{tmp / 'lmsbridge.db'}"
        store = JobStore(url, Fernet.generate_key().decode(), tmp / "data", tmp, dbname)
        settings = Settings(data_dir=store.data_dir, database_url=url, encryption_key=store.key)
        engine = make_engine(url)
        try:
            upgrade_database(engine)
            apply_job_schema(settings, engine)  # a no-op on SQLite (jobs live in the worker's memory)
        finally:
            engine.dispose()
        yield store
    finally:
        if dbname:
            with _pg_admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


# ---- worker processes --------------------------------------------------------------------------------


def _worker_env(store: JobStore) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMSBRIDGE_")}
    env.update(
        LMSBRIDGE_DATABASE_URL=store.url,
        LMSBRIDGE_ENCRYPTION_KEY=store.key,
        LMSBRIDGE_DATA_DIR=str(store.data_dir),
        LMSBRIDGE_JOB_POLL_SECONDS=str(POLL_SECONDS),
        LMSBRIDGE_ALLOW_PRIVATE_HOSTS="true",  # the sandboxes listen on loopback
    )
    return env


def _tree_cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU of a process, of its children it has waited for, and of its live descendants."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        times = proc.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    return total


@dataclass
class Workers:
    procs: list[subprocess.Popen[Any]]
    ps: list[psutil.Process]
    logs: list[Path]

    def cpu_seconds(self) -> float:
        return sum(_tree_cpu_seconds(p) for p in self.ps)

    def alive(self) -> bool:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited with {proc.returncode}")
        return True

    def tails(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in self.logs
        )


def _ready(log: Path) -> bool:
    # what `lmsbridge worker` prints once its job system runs (its worker and its dispatcher)
    return log.exists() and "lmsbridge worker: running" in log.read_text(errors="replace")


@contextlib.contextmanager
def workers(store: JobStore, count: int, concurrency: int) -> Iterator[Workers]:
    """`lmsbridge worker --concurrency N` × count over the store, started and ready; stopped on exit."""
    lmsbridge = str(Path(PYTHON).parent / "lmsbridge")
    env = _worker_env(store)
    procs: list[subprocess.Popen[Any]] = []
    logs: list[Path] = []
    try:
        for n in range(count):
            log = store.tmp / f"worker-{n}.log"
            with log.open("wb") as out:
                command = [lmsbridge, "worker", "--concurrency", str(concurrency)]
                procs.append(spawn(command, env=env, stdout=out, stderr=subprocess.STDOUT))
            logs.append(log)
        for proc, log in zip(procs, logs, strict=True):
            wait_until(lambda log=log: _ready(log), 60, f"lmsbridge worker ({log.name})", proc)
        yield Workers(procs, [psutil.Process(p.pid) for p in procs], logs)
    finally:
        for proc in procs:
            release(proc)


# ---- one variant ---------------------------------------------------------------------------------------


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)  # SQLite keeps naive UTC


def _runs(engine: Any) -> list[Any]:
    from sqlalchemy import select

    from lmsbridge.store.engine import session_scope
    from lmsbridge.store.schema import SyncRun

    with session_scope(engine, readonly=True) as session:
        return list(session.scalars(select(SyncRun)))


def measure(variant: Variant, sandboxes: list[Sandbox], concurrency: int, timeout: float) -> dict[str, Any]:
    from lmsbridge.crypto import SecretBox
    from lmsbridge.store import sync_runs
    from lmsbridge.store.engine import make_engine, session_scope
    from lmsbridge.store.integrations import create_integration

    with fresh_job_store(variant.backend) as store, workers(store, variant.workers, concurrency) as started:
        engine = make_engine(store.url)
        try:
            for sb in sandboxes:
                sb.control.reset_counters()
            sandbox_cpu = sum(sb.cpu_seconds() for sb in sandboxes)
            worker_cpu = started.cpu_seconds()
            server_cpu = store.server_cpu_seconds()
            machine_cpu = psutil.cpu_times()
            box = SecretBox(store.key.encode())
            # one transaction: the integrations and their runs appear together, so the workers' schedule
            # (which queues a FULL for a never-synced integration) finds every one already queued
            queued_at = dt.datetime.now(dt.UTC)
            with session_scope(engine) as session:
                for sb in sandboxes:
                    integration = create_integration(
                        session,
                        box,
                        tool="360learning",
                        base_url=sb.base_url,
                        credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
                    )
                    sync_runs.enqueue(session, integration.id, "FULL", queued_at)
            try:
                wait_until(
                    lambda: (
                        started.alive() and all(r.state in sync_runs.TERMINAL_STATES for r in _runs(engine))
                    ),
                    timeout,
                    f"the {len(sandboxes)} FULL syncs ({variant.label})",
                )
            except (TimeoutError, RuntimeError):
                print(started.tails(), flush=True)
                raise
            worker_cpu = started.cpu_seconds() - worker_cpu
            server_cpu = store.server_cpu_seconds() - server_cpu
            sandbox_cpu = sum(sb.cpu_seconds() for sb in sandboxes) - sandbox_cpu
            after = psutil.cpu_times()
            counters = [sb.control.counters() for sb in sandboxes]
            runs = _runs(engine)
        finally:
            engine.dispose()
    states = sorted(r.state for r in runs)
    assert len(runs) == len(sandboxes), f"{len(runs)} runs for {len(sandboxes)} integrations"
    assert set(states) == {"SUCCEEDED"}, [(r.state, r.error, r.warnings) for r in runs]
    ended = max(_utc(r.ended_at) for r in runs)
    wall_s = (ended - queued_at).total_seconds()
    records = sum(
        sum(int(c.get("seen", 0)) for c in (r.streams or {}).get("counts", {}).values()) for r in runs
    )
    durations = [(_utc(r.ended_at) - _utc(r.started_at)).total_seconds() for r in runs]
    waits = [(_utc(r.started_at) - queued_at).total_seconds() for r in runs]
    busy = sum(
        getattr(after, f) - getattr(machine_cpu, f) for f in ("user", "system", "nice", "irq", "softirq")
    )
    return {
        "variant": variant.key,
        "label": variant.label,
        "backend": variant.backend,
        "workers": variant.workers,
        "concurrency_per_worker": concurrency,
        "tenants": len(sandboxes),
        "runs_succeeded": states.count("SUCCEEDED"),
        "wall_s": round(wall_s, 2),
        "records": records,
        "records_per_s": round(records / wall_s),
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_cpu_s_per_1000_records": round(1000 * worker_cpu / max(records, 1), 4),
        "postgres_backends_cpu_s": round(server_cpu, 2),
        "sandbox_cpu_s": round(sandbox_cpu, 2),
        "cpu_floor_s": round((worker_cpu + server_cpu + sandbox_cpu) / (os.cpu_count() or 1), 2),
        "machine_cpu_busy_share": round(busy / (wall_s * (os.cpu_count() or 1)), 3),
        "sandbox_calls": sum(int(c["total_calls"]) for c in counters),
        "http_429": sum(int(c["too_many_requests"]) for c in counters),
        "api_calls_client": sum(int(r.api_calls) for r in runs),
        "run_s_median": round(statistics.median(durations), 2),
        "run_s_max": round(max(durations), 2),
        "queue_wait_s_max": round(max(waits), 2),
    }


def start_sandboxes(stack: contextlib.ExitStack, count: int) -> list[Sandbox]:
    """`count` S sandboxes, generated in parallel (each is its own company, own limits), realistic."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(stack.enter_context, sandbox(TENANTS["S"])) for _ in range(count)]
        sandboxes = [f.result() for f in futures]
    for sb in sandboxes:
        sb.realistic()
    print(f"{count} S sandboxes generated and serving after {time.monotonic() - started:.1f}s", flush=True)
    return sandboxes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of the three variants (order alternates)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="jobs at once per worker process")
    parser.add_argument("--tenants", type=int, default=12, help="S tenants (sandbox processes)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per variant")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        sandboxes = start_sandboxes(stack, args.tenants)
        for round_no in range(args.rounds):
            order = VARIANTS if round_no % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                print(f"round {round_no + 1}: {variant.label} ...", flush=True)
                figures = measure(variant, sandboxes, args.concurrency, args.timeout)
                figures["round"] = round_no + 1
                figures["order"] = "".join(v.key for v in order)
                record(
                    9,
                    f"scale-out, {args.tenants} S tenants realistic: {variant.label}",
                    figures,
                    goal="(reported) every run SUCCEEDED",
                    met=None,
                )


if __name__ == "__main__":
    main()
