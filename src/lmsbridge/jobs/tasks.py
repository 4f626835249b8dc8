"""The task functions: what a job of each kind does. Each is a thin call into the process's ``Runtime``
(found in the job's context), so both backends run exactly the same code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from procrastinate import Blueprint, JobContext

from lmsbridge.jobs import dispatch

if TYPE_CHECKING:
    from lmsbridge.runtime import Runtime

tasks = Blueprint()


def _runtime(context: JobContext) -> Runtime:
    runtime: Any = context.additional_context["runtime"]
    return runtime  # type: ignore[no-any-return]


@tasks.task(name=dispatch.SYNC, queue="syncs", pass_context=True)
async def run_sync(context: JobContext, run_id: str) -> None:
    await _runtime(context).run_sync(run_id)


@tasks.task(name=dispatch.COURSE_UPSERT, queue="actions", pass_context=True)
async def run_course_upsert(context: JobContext, task_id: str) -> None:
    await _runtime(context).run_course_upsert(task_id)


@tasks.task(name=dispatch.STATS_IMPORT, queue="actions", pass_context=True)
async def run_stats_import(context: JobContext, integration_id: str) -> None:
    await _runtime(context).run_stats_import(integration_id)


@tasks.task(name=dispatch.WEBHOOK_DELIVERY, queue="webhooks", pass_context=True)
async def run_webhook_delivery(context: JobContext, delivery_id: str) -> None:
    await _runtime(context).deliverer.deliver(delivery_id)


@tasks.task(name=dispatch.INCOMING_EVENTS, queue="incoming", pass_context=True)
async def run_incoming_events(context: JobContext, integration_id: str) -> None:
    await _runtime(context).apply_incoming(integration_id)


@tasks.task(name=dispatch.RETIRE_SUBSCRIPTIONS, queue="incoming", pass_context=True)
async def run_retire_subscriptions(context: JobContext, integration_id: str) -> None:
    await _runtime(context).retire_subscriptions(integration_id)


# Periodic tasks: deferred once per tick however many workers run (the job store dedupes each tick).
@tasks.periodic(cron="* * * * *", periodic_id="schedule")
@tasks.task(
    name="lmsbridge.schedule", queue="schedule", pass_context=True, queueing_lock="schedule", lock="schedule"
)
async def run_schedule(context: JobContext, timestamp: int) -> None:
    await _runtime(context).queue_due_syncs()


@tasks.periodic(cron="23 * * * *", periodic_id="retention")
@tasks.task(
    name="lmsbridge.retention",
    queue="schedule",
    pass_context=True,
    queueing_lock="retention",
    lock="retention",
)
async def run_retention(context: JobContext, timestamp: int) -> None:
    await _runtime(context).apply_retention()
