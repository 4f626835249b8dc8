"""Process start-up of logs and metrics: ``setup_process`` runs once, first thing, in every lmsbridge
process (``serve`` and each of its ``--workers``, ``worker``, ``sync``, ``demo``)."""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from lmsbridge.logs import configure_logging
from lmsbridge.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def setup_process(settings: Settings) -> None:
    """Logging as configured; with metrics on, the multi-process metrics directory shared by this
    machine's lmsbridge processes (before prometheus-client builds its first metric)."""
    configure_logging(settings.log_level, settings.log_format)
    if settings.metrics_enabled and not _metrics_built_in_process():
        prepare_multiprocess(settings.data_dir)


def _metrics_built_in_process() -> bool:
    """A process that built lmsbridge's metrics before (one embedding lmsbridge, a test run) keeps
    them in memory: switching to the shared directory now would hide what they already count."""
    built = sys.modules.get("lmsbridge.metrics")
    return built is not None and getattr(built, "MULTIPROCESS_DIR", None) is None


def prepare_multiprocess(data_dir: Path) -> Path:
    """Use (and create) the operator's ``PROMETHEUS_MULTIPROC_DIR``, else ``<data_dir>/metrics``. Files of
    processes that are gone keep their counters (totals never drop when a worker restarts); their live
    gauges are dropped here, and this process's at its exit."""
    directory = Path(os.environ.get(MULTIPROC_ENV) or (data_dir / "metrics")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    from prometheus_client import multiprocess, values

    # a metric built before this point would keep its values in this process only
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    for pid in _pids_with_files(directory):
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    atexit.register(multiprocess.mark_process_dead, os.getpid(), str(directory))
    return directory


def _pids_with_files(directory: Path) -> set[int]:
    pids: set[int] = set()
    for path in directory.glob("gauge_live*_*.db"):
        tail = path.stem.rsplit("_", 1)[-1]
        if tail.isdigit():
            pids.add(int(tail))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
