"""What every benchmark script shares: tenant sizes, a standalone sandbox process, fresh stores
(SQLite file / PostgreSQL database), syncs in a child process, the API in its own process, and the
JSON report (`benchmarks/results.json`).

Every process started here is registered and terminated on exit, also on Ctrl-C, SIGTERM and errors.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]
from cryptography.fernet import Fernet

from lmsbridge.sandbox.learning360.testing import SandboxControl

# the benchmarks' sandbox runs on loopback, which outbound calls reach only when allowed
# (lmsbridge.netguard); child processes inherit it
os.environ.setdefault("LMSBRIDGE_ALLOW_PRIVATE_HOSTS", "true")

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
# another file for runs that must not replace the latest figures (side_by_side.py's)
RESULTS = Path(os.environ.get("LMSBRIDGE_BENCH_RESULTS") or BENCH_DIR / "results.json")
PYTHON = sys.executable
SEED = 42
POSTGRES_ADMIN = os.environ.get("LMSBRIDGE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class TenantSize:
    name: str
    users: int
    courses: int
    attempts: int


TENANTS = {
    "S": TenantSize("S", 1_000, 200, 20_000),
    "M": TenantSize("M", 10_000, 2_000, 200_000),
    "L": TenantSize("L", 100_000, 10_000, 2_000_000),
}


def parse_tenants(value: str) -> list[TenantSize]:
    return [TENANTS[name.strip().upper()] for name in value.split(",") if name.strip()]


# ---- process hygiene ----------------------------------------------------------------------------

_CHILDREN: list[subprocess.Popen[Any]] = []


def _stop(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _stop_all() -> None:
    while _CHILDREN:
        _stop(_CHILDREN.pop(), grace=5)


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)  # unwinds the context managers, which stop their processes


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, _on_sigterm)


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    proc: subprocess.Popen[Any] = subprocess.Popen(args, cwd=ROOT, **kwargs)
    _CHILDREN.append(proc)
    return proc


def release(proc: subprocess.Popen[Any]) -> None:
    _stop(proc)
    if proc in _CHILDREN:
        _CHILDREN.remove(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Any, timeout: float, what: str, proc: subprocess.Popen[Any] | None = None) -> None:
    """Poll `condition()` until true; fail with `what` after `timeout` s or when `proc` died."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(0.05)


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ---- the sandbox as a separate process ----------------------------------------------------------


@dataclass
class Sandbox:
    tenant: TenantSize
    proc: subprocess.Popen[str]
    base_url: str
    client_id: str
    client_secret: str
    control: SandboxControl
    ps: psutil.Process
    generate_s: float

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def counts(self) -> dict[str, int]:
        return dict(self.control.info()["counts"])

    def realistic(self) -> None:
        """360Learning as modelled: 200 ± 50 ms per request, 50 reads/s and 10 writes/s."""
        self.control.set_latency(fixed_ms=150, jitter_ms=100)
        self.control.set_rate_limits(enabled=True, reads_per_second=50, writes_per_second=10)

    def local(self) -> None:
        """No latency, no limits: what remains is our own work (and the sandbox's)."""
        self.control.set_latency(0, 0)
        self.control.set_rate_limits(enabled=False)


@contextlib.contextmanager
def sandbox(tenant: TenantSize, *, startup_timeout: float = 300.0) -> Iterator[Sandbox]:
    """`python -m lmsbridge.sandbox` for the tenant (seed 42) on a free loopback port."""
    port = free_port()
    args = [PYTHON, "-m", "lmsbridge.sandbox", "--port", str(port), "--seed", str(SEED)]
    args += [
        "--users",
        str(tenant.users),
        "--courses",
        str(tenant.courses),
        "--attempts",
        str(tenant.attempts),
    ]
    started = time.monotonic()
    proc = spawn(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        fields: dict[str, str] = {}
        while len(fields) < 3:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"sandbox exited before printing its credentials ({proc.poll()})")
            key, _, value = line.partition(":")
            if key in ("base_url", "client_id", "client_secret"):
                fields[key] = value.strip()
        wait_until(lambda: _accepts(port), startup_timeout, "sandbox", proc)
        control = SandboxControl(fields["base_url"], timeout=60)
        box = Sandbox(
            tenant,
            proc,
            fields["base_url"],
            fields["client_id"],
            fields["client_secret"],
            control,
            psutil.Process(proc.pid),
            time.monotonic() - started,
        )
        box.local()
        yield box
        control.close()
    finally:
        release(proc)


# ---- stores --------------------------------------------------------------------------------------


@dataclass
class Store:
    backend: str  # "sqlite" | "postgres"
    url: str
    key: bytes
    integration_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN, autocommit=True)


@contextlib.contextmanager
def fresh_store(backend: str, sb: Sandbox) -> Iterator[Store]:
    """A new, migrated database with one integration pointing at the sandbox; dropped on exit."""
    from lmsbridge.crypto import SecretBox
    from lmsbridge.store.engine import make_engine, session_scope
    from lmsbridge.store.integrations import create_integration
    from lmsbridge.store.migrate import upgrade_database

    tmp = Path(tempfile.mkdtemp(prefix="lmsbridge-bench-"))
    dbname = ""
    # LMSBRIDGE_BENCH_KEEP=NAME keeps the store for later runs (`fig6_read_api.py --url`, `profile_*.py
    # --url`): ./stores/NAME_<tenant>.db, or the PostgreSQL database name_<tenant>
    keep = os.environ.get("LMSBRIDGE_BENCH_KEEP", "")
    keep = f"{keep}_{sb.tenant.name}".lower() if keep else ""
    try:
        if backend == "sqlite" and keep:
            kept = Path("stores") / f"{keep}.db"
            kept.parent.mkdir(exist_ok=True)
            kept.unlink(missing_ok=True)
            url = f"sqlite:///{kept.resolve()}"
            print(f"keeping the store: {url}", flush=True)
        elif backend == "sqlite":
            url = f"sqlite:///{tmp / 'lmsbridge.db'}"
        elif backend == "postgres":
            dbname = keep or f"lmsbridge_bench_{secrets.token_hex(4)}"
            with _pg_admin() as conn:
                if keep:
                    conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{dbname}"')
            url = (
                POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
                + f"/{dbname}"
            )
        else:
            raise ValueError(backend)
        key = Fernet.generate_key()
        engine = make_engine(url)
        try:
            upgrade_database(engine)
            with session_scope(engine) as session:
                integration = create_integration(
                    session,
                    SecretBox(key),
                    tool="360learning",
                    base_url=sb.base_url,
                    credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
                )
                integration_id = integration.id
        finally:
            engine.dispose()
        yield Store(backend, url, key, integration_id, {"tmp": tmp})
    finally:
        if dbname and not keep:
            with _pg_admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def stored_counts(store: Store) -> dict[str, int]:
    from sqlalchemy import func, select

    from lmsbridge.store.engine import make_engine, session_scope
    from lmsbridge.store.schema import RECORD_TABLES

    engine = make_engine(store.url)
    try:
        with session_scope(engine, readonly=True) as session:
            return {
                model: int(session.scalar(select(func.count()).select_from(table)) or 0)
                for model, table in RECORD_TABLES.items()
            }
    finally:
        engine.dispose()


def mark_readable(store: Store) -> None:
    """The read API serves an integration once set up and past QA (what the first full sync leads to)."""
    from lmsbridge.store.engine import make_engine, session_scope
    from lmsbridge.store.integrations import update_integration

    engine = make_engine(store.url)
    try:
        with session_scope(engine) as session:
            update_integration(session, store.integration_id, setup_status="COMPLETED", qa_status="PASSED")
    finally:
        engine.dispose()


# ---- syncs in a child process ---------------------------------------------------------------------


UNLIMITED = 1_000_000.0  # client budget when the sandbox has no limits: measures our own work only


@dataclass
class SyncResult:
    tenant: str
    backend: str
    sync_type: str
    state: str
    error: str | None
    wall_s: float
    cpu_s: float  # user + system of the syncing process and its page-preparation helper
    helper_cpu_s: float  # the helper's share of cpu_s
    loop_thread_cpu_s: float  # the syncing process's event-loop thread (fetch, decode, plan)
    writer_threads_cpu_s: float  # its other threads: the database writer (and short-lived helpers)
    peak_rss_mb: float
    helper_peak_rss_mb: float
    records_fetched: int
    api_calls_client: int
    sandbox_calls: int
    sandbox_429: int
    sandbox_cpu_s: float
    calls_by_route: dict[str, int]

    @property
    def records_per_s(self) -> float:
        return self.records_fetched / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_floor_s(self) -> float:
        """The wall time this machine's cores need at least for the CPU work of this sync, lmsbridge's
        and the sandbox's: no concurrency goes below it."""
        return (self.cpu_s + self.sandbox_cpu_s) / (os.cpu_count() or 1)

    @property
    def sandbox_cpu_share(self) -> float:
        """Sandbox CPU seconds as a share of the sync's wall time (1.0 = one core busy)."""
        return self.sandbox_cpu_s / self.wall_s if self.wall_s else 0.0

    def cpu_figures(self) -> dict[str, float]:
        """Where the CPU went (figures 2 and 3 record these): the syncing process with its helper, the
        helper alone, the process's event-loop thread and its writer's, the sandbox, and the floor."""
        return {
            "sync_cpu_s": self.cpu_s,
            "helper_cpu_s": self.helper_cpu_s,
            "loop_thread_cpu_s": self.loop_thread_cpu_s,
            "writer_threads_cpu_s": self.writer_threads_cpu_s,
            "sandbox_cpu_s": round(self.sandbox_cpu_s, 2),
            "cpu_floor_s": round(self.cpu_floor_s, 2),
            "sandbox_cpu_share_of_wall": round(self.sandbox_cpu_share, 3),
        }

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["records_per_s"] = round(self.records_per_s)
        out["cpu_s_per_1000_records"] = round(1000 * self.cpu_s / max(self.records_fetched, 1), 4)
        out["sandbox_cpu_share"] = round(self.sandbox_cpu_share, 3)
        return out


class ChildrenPeakRss:
    """The largest RSS any child of a process had, sampled every 0.1 s in a thread (the sync's
    page-preparation helper). getrusage cannot tell: a child's ru_maxrss includes the parent's RSS at the
    moment it was forked."""

    def __init__(self, pid: int) -> None:
        self.peak_bytes = 0
        self._parent = psutil.Process(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            with contextlib.suppress(psutil.Error):
                for child in self._parent.children():
                    with contextlib.suppress(psutil.Error):
                        self.peak_bytes = max(self.peak_bytes, child.memory_info().rss)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def run_sync(
    sb: Sandbox,
    store: Store,
    sync_type: str = "FULL",
    *,
    reads_per_second: float | None = UNLIMITED,
    timeout: float = 3600.0,
) -> SyncResult:
    """One sync of the store's integration in a child process (`sync_child.py`); sandbox counters and
    CPU are read around it."""
    sb.control.reset_counters()
    sandbox_cpu = sb.cpu_seconds()
    args = [
        PYTHON,
        str(BENCH_DIR / "sync_child.py"),
        "--url",
        store.url,
        "--integration",
        store.integration_id,
    ]
    args += ["--type", sync_type]
    if reads_per_second is not None:
        args += ["--reads-per-second", str(reads_per_second)]
    if os.environ.get("LMSBRIDGE_BENCH_NO_HELPER"):  # side-by-side runs: pages prepared in the sync
        args.append("--no-helper")
    env = {**os.environ, "LMSBRIDGE_BENCH_KEY": store.key.decode()}
    proc = spawn(args, stdout=subprocess.PIPE, text=True, env=env)
    helper_rss = ChildrenPeakRss(proc.pid)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        helper_rss.stop()
        release(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"sync child failed with exit code {proc.returncode}")
    child = json.loads(out.strip().splitlines()[-1])
    counters = sb.control.counters()
    return SyncResult(
        tenant=sb.tenant.name,
        backend=store.backend,
        sync_type=sync_type,
        state=child["state"],
        error=child["error"],
        wall_s=child["wall_s"],
        cpu_s=child["cpu_s"],
        helper_cpu_s=child["helper_cpu_s"],
        loop_thread_cpu_s=child["loop_thread_cpu_s"],
        writer_threads_cpu_s=child["writer_threads_cpu_s"],
        peak_rss_mb=child["peak_rss_mb"],
        helper_peak_rss_mb=round(helper_rss.peak_bytes / 2**20, 1),
        records_fetched=child["records_fetched"],
        api_calls_client=child["api_calls"],
        sandbox_calls=int(counters["total_calls"]),
        sandbox_429=int(counters["too_many_requests"]),
        sandbox_cpu_s=sb.cpu_seconds() - sandbox_cpu,
        calls_by_route=dict(counters["calls"]),
    )


# ---- the minimal call count (reference §5) and the partitioning allowance (docs/sync.md) ----------


def minimal_full_calls(counts: dict[str, int]) -> int:
    def pages(n: int, size: int) -> int:
        return max(1, math.ceil(n / size))

    return (
        1
        + pages(counts["users"], 500)
        + pages(counts["courses"], 500)
        + pages(counts["attempts"], 500)
        + pages(counts["integrations"], 100)
    )


def partition_allowance(counts: dict[str, int], ids_per_partition: int = 150) -> int:
    return max(0, math.ceil(counts["courses"] / ids_per_partition) - 1)


# ---- the API in its own process -------------------------------------------------------------------

# `lmsbridge serve --workers`: one per core of the benchmark machine
API_WORKERS = os.cpu_count() or 1


@dataclass
class Api:
    base_url: str
    api_key: str
    proc: subprocess.Popen[Any]
    ps: psutil.Process
    workers: int

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its worker processes."""
        processes = [self.ps, *self.ps.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in processes if p.is_running())


@contextlib.contextmanager
def api_server(
    store: Store, workers: int = API_WORKERS, settings: dict[str, str] | None = None, *, public: bool = False
) -> Iterator[Api]:
    """`lmsbridge serve --workers N` over the store, with a fresh API key, on a free loopback port;
    ``settings``: extra LMSBRIDGE_* environment variables; ``public``: its own address is the public URL
    360Learning's webhooks are delivered to (real-time updates on)."""
    from lmsbridge.store.api_keys import create_api_key
    from lmsbridge.store.engine import make_engine, session_scope

    engine = make_engine(store.url)
    try:
        with session_scope(engine) as session:
            _, api_key = create_api_key(session, "benchmarks")
    finally:
        engine.dispose()
    port = free_port()
    tmp: Path = store.extra["tmp"]
    env = {
        **os.environ,
        "LMSBRIDGE_DATABASE_URL": store.url,
        "LMSBRIDGE_DATA_DIR": str(tmp / "data"),
        "LMSBRIDGE_ENCRYPTION_KEY": store.key.decode(),
        "LMSBRIDGE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        **({"LMSBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}"} if public else {}),
        **(settings or {}),
    }
    lmsbridge = str(Path(PYTHON).parent / "lmsbridge")
    log = open(tmp / "api.log", "w")  # noqa: SIM115 - closed below
    command = [lmsbridge, "serve", "--port", str(port), "--workers", str(workers)]
    proc = spawn(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _accepts(port), 60, "lmsbridge serve", proc)
        yield Api(f"http://127.0.0.1:{port}", api_key, proc, psutil.Process(proc.pid), workers)
    finally:
        release(proc)
        log.close()


def start_load(
    api: Api,
    integration_id: str,
    *,
    duration_s: float,
    clients: int = 16,
    page_size: int = 250,
    params: list[dict[str, str]] | None = None,
) -> subprocess.Popen[str]:
    """Start `loadgen.py` (its own process) against the API; `finish_load` collects its summary."""
    args = [
        PYTHON,
        str(BENCH_DIR / "loadgen.py"),
        "--base-url",
        api.base_url,
        "--integration",
        integration_id,
    ]
    args += ["--duration", str(duration_s), "--clients", str(clients), "--page-size", str(page_size)]
    args += ["--params", json.dumps(params or [{}])]
    env = {**os.environ, "LMSBRIDGE_BENCH_API_KEY": api.api_key}
    proc: subprocess.Popen[str] = spawn(args, stdout=subprocess.PIPE, text=True, env=env)
    return proc


def finish_load(
    proc: subprocess.Popen[str], *, interrupt: bool = False, timeout: float = 600
) -> dict[str, Any]:
    if interrupt:
        proc.send_signal(signal.SIGINT)  # the generator stops its clients and prints its summary
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        release(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed with exit code {proc.returncode}")
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def load(api: Api, integration_id: str, *, duration_s: float, **kwargs: Any) -> dict[str, Any]:
    """A timed load; adds the API server's CPU share (1.0 = one core) to the generator's summary."""
    server_cpu = api.cpu_seconds()
    summary = finish_load(
        start_load(api, integration_id, duration_s=duration_s, **kwargs), timeout=duration_s + 120
    )
    server_cpu = api.cpu_seconds() - server_cpu
    summary["server_workers"] = api.workers
    summary["server_cpu_share"] = round(server_cpu / summary["elapsed_s"], 3)
    summary.update(closed_loop_floor(summary, server_cpu))
    return summary


def closed_loop_floor(summary: dict[str, Any], server_cpu_s: float) -> dict[str, Any]:
    """What this machine allows the load at best: the servers' CPU per page, the pages/s they would serve
    with every core the load generator leaves them, and the mean latency that implies for the closed loop
    of N clients (Little's law: mean latency = N ÷ pages/s; a p99 is never below the mean)."""
    if not summary["requests"]:
        return {}
    per_page_s = server_cpu_s / summary["requests"]
    capacity = ((os.cpu_count() or 1) - summary["loadgen_cpu_share"]) / per_page_s
    return {
        "server_cpu_ms_per_page": round(1000 * per_page_s, 2),
        "capacity_pages_per_s": round(capacity, 1),
        "mean_latency_floor_ms": round(1000 * summary["clients"] / capacity, 1),
    }


# ---- the report ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = match.group(1) if match else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def record(figure: int, name: str, figures: dict[str, Any], *, goal: str, met: bool | None) -> dict[str, Any]:
    """Print one result and store it in results.json (a JSON list), in place of the previous entry of
    the same figure and name: the file holds the latest run of each; history is in git."""
    entry = {
        "figure": figure,
        "name": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "command": " ".join([Path(PYTHON).name, *sys.argv]),
        "machine": machine(),
        "goal": goal,
        "goal_met": met,
        "figures": figures,
    }
    existing: list[Any] = []
    if RESULTS.exists():
        with contextlib.suppress(json.JSONDecodeError):
            existing = json.loads(RESULTS.read_text())
    existing = [e for e in existing if (e["figure"], e["name"]) != (figure, name)]
    existing.append(entry)
    RESULTS.write_text(json.dumps(existing, indent=1) + "\n")
    verdict = {True: "MET", False: "MISSED", None: "n/a"}[met]
    print(f"[figure {figure}] {name}: {json.dumps(figures)}  goal: {goal} → {verdict}", flush=True)
    return entry


def fetch_token(sb: Sandbox, client: httpx.Client) -> str:
    response = client.post(
        f"{sb.base_url}/api/v2/oauth2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


# ---- one benchmark session: sandboxes and synced stores shared by the figures of one run ----------


class Bench:
    """Keeps one sandbox per tenant and the stores of local FULL syncs alive for the figures of one run
    (run_all shares one Bench, so L is generated and synced once). Close it to stop/drop everything."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._sandboxes: dict[str, Sandbox] = {}
        self._synced: dict[tuple[str, str], tuple[Store, SyncResult]] = {}

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def sandbox(self, tenant: TenantSize) -> Sandbox:
        if tenant.name not in self._sandboxes:
            self._sandboxes[tenant.name] = self._stack.enter_context(sandbox(tenant))
            started = self._sandboxes[tenant.name].generate_s
            print(f"sandbox {tenant.name}: generated and serving after {started:.1f}s", flush=True)
        sb = self._sandboxes[tenant.name]
        sb.local()
        return sb

    def synced_store(self, tenant: TenantSize, backend: str) -> tuple[Store, SyncResult]:
        """A store filled by one local FULL sync (latency 0, limits off), and that sync's measurements."""
        key = (tenant.name, backend)
        if key not in self._synced:
            sb = self.sandbox(tenant)
            store = self._stack.enter_context(fresh_store(backend, sb))
            result = run_sync(sb, store, "FULL")
            if result.state != "SUCCEEDED":
                raise RuntimeError(
                    f"FULL sync of {tenant.name} on {backend} ended {result.state}: {result.error}"
                )
            self._synced[key] = (store, result)
        return self._synced[key]
