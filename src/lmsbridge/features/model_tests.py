"""Per-model tests: after every FULL sync and on demand, each unified model is checked and gets
PASSED / FAILED / SKIPPED with details; the outcome sets the integration's ``qa_status``.

Checks (each PASSED, FAILED or SKIPPED with a message):
- readable: the first page of the model's stream was fetched (live when a connector is given,
  otherwise as seen by the last full sync);
- counts: the last full scan completed, and every stored non-deleted record was seen by it (or by a
  later run): anything else is a record the scan could not account for;
- coverage: the share of records filling a required field is at least its documented threshold;
- references: progressions point to stored users and revisions, courses to stored providers,
  revisions to stored courses;
- freshness: the model's stream last completed no longer ago than the schedule allows.
A model whose scope is missing is SKIPPED (the scope test names it); it does not fail QA.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from lmsbridge.connectors.base import Connector, Page, PlanInput, Stream, SyncMode
from lmsbridge.connectors.errors import ConnectorError, PermissionMissing
from lmsbridge.connectors.registry import connector_class
from lmsbridge.features.availability import KOMBO_MODEL_IDS, model_missing_scopes
from lmsbridge.settings import Settings
from lmsbridge.store.integrations import complete_setup, get_integration
from lmsbridge.store.schema import (
    RECORD_TABLES,
    Course,
    CourseProgression,
    CourseProvider,
    CourseRevision,
    Integration,
    SyncRun,
    User,
)
from lmsbridge.store.transact import transact_async
from lmsbridge.sync.state import RunState
from lmsbridge.unified.records import MODELS
from lmsbridge.unified.wire import format_timestamp
from lmsbridge.webhooks.outbox import record_state_change_since, state_snapshot

PASSED, FAILED, SKIPPED = "PASSED", "FAILED", "SKIPPED"
# runs looked at for freshness (newest first)
FRESHNESS_RUNS = 50


@dataclass(frozen=True)
class Threshold:
    """At least ``minimum`` of ``subject`` (non-deleted records, optionally narrowed by ``among``)
    satisfy ``condition``. Documented in docs/features.md; an LMS may allow username-only accounts
    (the shipped one does), hence e-mail below 100 %."""

    subject: str
    predicate: str
    minimum: float
    condition: Callable[[], ColumnElement[bool]]
    among: Callable[[], ColumnElement[bool]] | None = None


def _course_has_titled_revision() -> ColumnElement[bool]:
    titled = select(CourseRevision.id).where(
        CourseRevision.course_id == Course.id,
        CourseRevision.title.is_not(None),
        CourseRevision.title != "",
    )
    return titled.exists()


THRESHOLDS: dict[str, tuple[Threshold, ...]] = {
    "users": (Threshold("users", "have an email", 0.80, lambda: User.work_email.is_not(None)),),
    "course_providers": (
        Threshold("providers", "have a name", 1.0, lambda: CourseProvider.name.is_not(None)),
    ),
    "courses": (Threshold("courses", "have a titled revision", 0.99, _course_has_titled_revision),),
    "course_revisions": (
        Threshold("revisions", "have a title", 0.99, lambda: CourseRevision.title.is_not(None)),
        Threshold("revisions", "have a status", 1.0, lambda: CourseRevision.status.is_not(None)),
    ),
    "course_progressions": (
        Threshold("progressions", "have a status", 1.0, lambda: CourseProgression.status.is_not(None)),
        Threshold(
            "completed progressions",
            "have a completion date",
            0.99,
            lambda: CourseProgression.completed_at.is_not(None),
            among=lambda: CourseProgression.status == "COMPLETED",
        ),
    ),
}


@dataclass
class Check:
    name: str
    status: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "details": self.details}


@dataclass
class ModelTest:
    model: str  # Kombo id, e.g. lms_users
    status: str
    checks: list[Check] = field(default_factory=list)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, "checks": [c.to_json() for c in self.checks]}


@dataclass
class ModelTestsResult:
    tested_at: datetime
    qa_status: str
    sync_id: str | None
    models: dict[str, ModelTest] = field(default_factory=dict)

    def failed(self) -> list[str]:
        return sorted(m for m, t in self.models.items() if t.status == FAILED)

    def to_json(self) -> dict[str, Any]:
        return {
            "tested_at": format_timestamp(self.tested_at),
            "qa_status": self.qa_status,
            "sync_id": self.sync_id,
            "models": {m: t.to_json() for m, t in self.models.items()},
        }


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _count(session: Session, table: Any, integration_id: str, *where: ColumnElement[bool]) -> int:
    query = select(func.count()).select_from(table).where(table.integration_id == integration_id, *where)
    return int(session.scalar(query) or 0)


def _live(table: Any) -> ColumnElement[bool]:
    return table.remote_deleted_at.is_(None)  # type: ignore[no-any-return]


def _scanned_everything_allowed(run: SyncRun | None) -> bool:
    """A FULL run that read every model its credential allows: all of them, or all but the streams it
    skipped for a missing scope (those models answer an error naming the scope; the others are served)."""
    if run is None:
        return False
    if run.state == "SUCCEEDED":
        return True
    failed = (run.streams or {}).get("failed") or {}
    return (
        run.state == "PARTIALLY_FAILED"
        and bool(failed)
        and all(str(message).startswith("missing scope") for message in failed.values())
    )


def _last_full_run(session: Session, integration_id: str) -> SyncRun | None:
    query = (
        select(SyncRun)
        .where(
            SyncRun.integration_id == integration_id, SyncRun.type == "FULL", SyncRun.ended_at.is_not(None)
        )
        .order_by(SyncRun.created_at.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _runs_since(session: Session, integration_id: str, since: datetime) -> list[str]:
    query = select(SyncRun.id).where(SyncRun.integration_id == integration_id, SyncRun.created_at >= since)
    return list(session.scalars(query))


# ---- the checks ------------------------------------------------------------------------------------


def streams_of_models(tool: str) -> dict[str, Stream]:
    """The models an integration of ``tool`` is tested on (our store's names, in ``MODELS`` order), each
    with the stream whose complete scan confirms it."""
    by_model = {model: stream for stream in connector_class(tool).streams for model in stream.models}
    return {model: by_model[model] for model in MODELS if model in by_model}


def check_readable(stream: Stream, run_state: RunState, live: Check | None) -> Check:
    if live is not None:
        return live
    chains = run_state.chains_of(stream.name)
    if any(c.pages > 0 for c in chains):
        return Check("readable", PASSED, f"the last full sync fetched pages of the {stream.name} stream")
    if stream.name in run_state.failed:
        return Check("readable", FAILED, run_state.failed[stream.name])
    if chains and all(c.done for c in chains):
        return Check("readable", PASSED, f"the last full sync read the {stream.name} stream (empty)")
    return Check("readable", FAILED, f"the last full sync fetched no page of the {stream.name} stream")


def check_counts(
    session: Session, integration_id: str, model: str, stream: Stream, run: SyncRun, run_state: RunState
) -> Check:
    table = RECORD_TABLES[model]
    seen = int(run_state.counts.get(model, {}).get("seen", 0))
    stored = _count(session, table, integration_id, _live(table))
    details = {"seen_by_last_full_scan": seen, "stored": stored, "sync_id": run.id}
    if not run_state.stream_complete(stream.name):
        why = run_state.failed.get(stream.name, "the run ended before the scan finished")
        return Check(
            "counts",
            FAILED,
            f"the last full scan of {stream.name} did not complete ({why}); stored records cannot be "
            "reconciled with the LMS",
            details,
        )
    recent = _runs_since(session, integration_id, run.created_at)
    unseen = _count(
        session,
        table,
        integration_id,
        _live(table),
        or_(table.last_seen_sync_id.is_(None), table.last_seen_sync_id.not_in(recent)),
    )
    details["unaccounted"] = unseen
    if unseen:
        return Check(
            "counts",
            FAILED,
            f"{unseen} of {stored} stored {model} were not returned by the last full scan yet are not marked "
            "deleted",
            details,
        )
    return Check(
        "counts",
        PASSED,
        f"{stored} stored {model}, each returned by the last full scan ({seen} seen) or a sync since",
        details,
    )


def check_coverage(session: Session, integration_id: str, model: str) -> Check:
    table = RECORD_TABLES[model]
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for threshold in THRESHOLDS.get(model, ()):
        base: list[ColumnElement[bool]] = [_live(table)]
        if threshold.among is not None:
            base.append(threshold.among())
        total = _count(session, table, integration_id, *base)
        filled = _count(session, table, integration_id, *base, threshold.condition())
        share = filled / total if total else 1.0
        label = f"{threshold.subject} {threshold.predicate}"
        results.append({"field": label, "share": round(share, 4), "minimum": threshold.minimum, "of": total})
        if share < threshold.minimum:
            failures.append(
                f"only {_pct(share)} of {threshold.subject} {threshold.predicate} ({filled} of {total}; "
                f"threshold {_pct(threshold.minimum)})"
            )
    if not results:
        return Check("coverage", SKIPPED, "no required-field thresholds for this model")
    if failures:
        return Check("coverage", FAILED, "; ".join(failures), {"fields": results})
    return Check("coverage", PASSED, "required fields meet their thresholds", {"fields": results})


def _orphans(
    session: Session, integration_id: str, child: Any, column: Any, parent: Any
) -> tuple[int, list[str]]:
    exists = select(parent.id).where(parent.id == column, parent.integration_id == integration_id).exists()
    where = and_(child.integration_id == integration_id, _live(child), column.is_not(None), ~exists)
    total = int(session.scalar(select(func.count()).select_from(child).where(where)) or 0)
    examples = list(session.scalars(select(child.remote_id).where(where).order_by(child.id).limit(3)))
    return total, examples


REFERENCES: dict[str, tuple[tuple[str, Any, Any, Any], ...]] = {
    "course_progressions": (
        ("user", CourseProgression, CourseProgression.user_id, User),
        ("course revision", CourseProgression, CourseProgression.course_revision_id, CourseRevision),
    ),
    "courses": (("provider", Course, Course.provider_id, CourseProvider),),
    "course_revisions": (("course", CourseRevision, CourseRevision.course_id, Course),),
}


def check_references(session: Session, integration_id: str, model: str, unreadable: set[str]) -> Check:
    """``unreadable``: models (our names) whose scope is missing; references to them cannot resolve."""
    refs = REFERENCES.get(model)
    if not refs:
        return Check("references", SKIPPED, "this model references no other record")
    problems: list[str] = []
    skipped: list[str] = []
    details: dict[str, Any] = {}
    for label, child, column, parent in refs:
        if parent.__tablename__.removeprefix("lms_") in unreadable:
            skipped.append(label)
            details[label] = {"skipped": "the referenced model is not synced (missing scope)"}
            continue
        total, examples = _orphans(session, integration_id, child, column, parent)
        details[label] = {"missing": total, "examples": examples}
        if total:
            problems.append(
                f"{total} {model} reference a {label} that is not stored (e.g. {', '.join(examples)})"
            )
    if problems:
        return Check("references", FAILED, "; ".join(problems), details)
    if len(skipped) == len(refs):
        return Check(
            "references", SKIPPED, f"the referenced {', '.join(skipped)} model is not synced", details
        )
    return Check("references", PASSED, "every reference resolves", details)


def readable_duration(delta: timedelta) -> str:
    """``10.7 s``, ``3 min 5 s``, ``2 h 4 min``, ``1 d 3 h``: what an operator reads in a message."""
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def check_freshness(
    session: Session, integration_id: str, stream: Stream, now: datetime, max_age: timedelta
) -> Check:
    runs = session.scalars(
        select(SyncRun)
        .where(SyncRun.integration_id == integration_id, SyncRun.ended_at.is_not(None))
        .order_by(SyncRun.created_at.desc())
        .limit(FRESHNESS_RUNS)
    )
    for run in runs:
        if run.ended_at is not None and RunState.from_dict(run.streams).stream_complete(stream.name):
            age = now - run.ended_at
            details = {"last_complete_sync": run.id, "age_seconds": int(age.total_seconds())}
            details["max_age_seconds"] = int(max_age.total_seconds())
            if age > max_age:
                return Check(
                    "freshness",
                    FAILED,
                    f"{stream.name} last synced completely {readable_duration(age)} ago (schedule allows "
                    f"{readable_duration(max_age)})",
                    details,
                )
            return Check(
                "freshness", PASSED, f"{stream.name} synced completely {readable_duration(age)} ago", details
            )
    return Check("freshness", FAILED, f"no sync has read {stream.name} completely yet")


# ---- running them ----------------------------------------------------------------------------------


def max_age_for(settings: Settings | None) -> timedelta:
    """Twice the shortest sync interval: one missed run is tolerated, two are not."""
    if settings is None:
        delta = Settings.model_fields["delta_sync_interval_hours"].default
        full = Settings.model_fields["full_sync_interval_hours"].default
    else:
        delta, full = settings.delta_sync_interval_hours, settings.full_sync_interval_hours
    return timedelta(hours=2 * min(float(delta), float(full)))


async def _first_page(connector: Connector, stream: Stream) -> Page:
    """The first page of the stream's first chain of a full scan."""
    chains = connector.plan(stream, PlanInput(SyncMode.FULL))
    if not chains:
        return Page([], None)
    async with contextlib.aclosing(connector.fetch(chains[0], None)) as pages:
        async for page in pages:
            return page
    return Page([], None)


async def _live_readable(connector: Connector) -> dict[str, Check]:
    """Fetch the first page of each model's stream once (one call per stream)."""
    by_stream: dict[str, Check] = {}
    out: dict[str, Check] = {}
    for model, stream in streams_of_models(connector.tool).items():
        if stream.name not in by_stream:
            try:
                page = await _first_page(connector, stream)
                by_stream[stream.name] = Check(
                    "readable",
                    PASSED,
                    f"first page of the {stream.name} stream fetched ({len(page.items)} records)",
                )
            except PermissionMissing as exc:
                by_stream[stream.name] = Check("readable", SKIPPED, f"missing scope {exc.scope!r}")
            except ConnectorError as exc:
                by_stream[stream.name] = Check(
                    "readable", FAILED, f"the {stream.name} stream could not be read: {exc}"
                )
        out[model] = by_stream[stream.name]
    return out


def evaluate(
    session: Session,
    integration: Integration,
    now: datetime,
    *,
    live: dict[str, Check] | None = None,
    max_age: timedelta | None = None,
) -> ModelTestsResult:
    """Test every model of the integration against the store (pure DB reads)."""
    max_age = max_age or max_age_for(None)
    run = _last_full_run(session, integration.id)
    result = ModelTestsResult(tested_at=now, qa_status="PENDING", sync_id=run.id if run else None)
    run_state = RunState.from_dict(run.streams) if run else RunState()
    tested = streams_of_models(integration.tool)
    unreadable = {
        model for model in tested if model_missing_scopes(integration.tool, model, integration.scope_test)
    }
    for model, stream in tested.items():
        kombo_id = KOMBO_MODEL_IDS[model]
        missing = model_missing_scopes(integration.tool, kombo_id, integration.scope_test)
        live_check = (live or {}).get(model)
        why = f"missing scope {', '.join(repr(s) for s in missing)}" if missing else None
        if why is None and live_check is not None and live_check.status == SKIPPED:
            why = live_check.message
        if why is not None:
            result.models[kombo_id] = ModelTest(kombo_id, SKIPPED, message=f"not tested: {why}")
            continue
        if run is None:
            result.models[kombo_id] = ModelTest(
                kombo_id, SKIPPED, message="not tested: no full sync has run yet"
            )
            continue
        checks = [
            check_readable(stream, run_state, live_check),
            check_counts(session, integration.id, model, stream, run, run_state),
            check_coverage(session, integration.id, model),
            check_references(session, integration.id, model, unreadable),
            check_freshness(session, integration.id, stream, now, max_age),
        ]
        failed = [c for c in checks if c.status == FAILED]
        status = FAILED if failed else PASSED
        message = "; ".join(f"{c.name}: {c.message}" for c in failed) if failed else "all checks passed"
        result.models[kombo_id] = ModelTest(kombo_id, status, checks, message)
    if run is not None:
        result.qa_status = FAILED if result.failed() else PASSED
    return result


def store_model_tests(
    session: Session, integration_id: str, result: ModelTestsResult, now: datetime
) -> Integration:
    """Save the results and the QA status; a change of QA status is announced in the same transaction."""
    integration = get_integration(session, integration_id)
    if integration is None:
        raise LookupError(f"integration {integration_id} does not exist")
    before = state_snapshot(integration)
    integration.model_tests = result.to_json()
    integration.qa_status = result.qa_status
    integration.updated_at = now
    last_full = _last_full_run(session, integration_id)
    if result.qa_status == PASSED and _scanned_everything_allowed(last_full):
        complete_setup(session, integration_id, now)  # QA is the last step of the setup
    session.flush()
    record_state_change_since(session, integration, before, now)  # webhooks: integration-state-changed
    return integration


async def run_model_tests(
    db: Engine,
    integration_id: str,
    connector: Connector | None,
    now: datetime,
    *,
    settings: Settings | None = None,
) -> ModelTestsResult:
    """Test every model (live first pages when ``connector`` is given), store results and QA status."""
    live = await _live_readable(connector) if connector is not None else None
    max_age = max_age_for(settings)

    def work(session: Session) -> ModelTestsResult:
        integration = get_integration(session, integration_id)
        if integration is None:
            raise LookupError(f"integration {integration_id} does not exist")
        result = evaluate(session, integration, now, live=live, max_age=max_age)
        store_model_tests(session, integration_id, result, now)
        return result

    return await transact_async(db, work)
