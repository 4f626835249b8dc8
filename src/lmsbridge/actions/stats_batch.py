"""Enroll/complete, the background side: the due tasks of one integration become ONE remote call of
the connector's (as many items as its batching policy allows); afterwards what the LMS shows for the
pairs replaces the provisional progressions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from lmsbridge.actions import tasks
from lmsbridge.actions.env import ActionEnv
from lmsbridge.actions.errors import error_body
from lmsbridge.actions.store_writes import reconcile_progressions
from lmsbridge.connectors.writes import Json
from lmsbridge.store.schema import ActionTask


async def run(batch: Sequence[ActionTask], env: ActionEnv) -> None:
    """One call for ``batch`` (all of one integration), or the resumption of the one it was in."""
    integration_id = batch[0].integration_id
    ids = [t.id for t in batch]
    writer = await env.remote.writer(integration_id)
    items = list({writer.payload_key(t.request["item"]): t.request["item"] for t in batch}.values())
    progress: Json = dict(next((t.remote_state for t in batch if t.remote_state), {}))

    async def save(state: Json) -> None:
        await env.in_db(lambda s: tasks.save_remote_state(s, ids, state, env.clock()))

    async with env.remote.write_slot(writer):
        matched, call = await writer.write_progressions(
            items, progress, save, env.remote.host(integration_id)
        )
    pairs = [(str(t.request["pair"][0]), str(t.request["pair"][1])) for t in batch]
    # what the LMS now shows for each pair is the truth, whatever the call reported
    found = await writer.read_progressions(pairs)
    failures = sum(1 for o in matched.values() if not o.ok)
    log_id = await env.log(
        integration_id,
        method="POST",
        url=writer.log_target("progressions", call),
        request={
            **{k: v for k, v in call.items() if k != "status"},
            "tasks": len(batch),
            "items": len(items),
        },
        response={"status": call.get("status"), "failed_items": failures},
    )
    now = env.clock()

    def finish(session: Session) -> None:
        reconcile_progressions(session, integration_id, writer, found, now)
        for task in batch:
            outcome = matched[writer.payload_key(task.request["item"])]
            if outcome.ok:
                result: dict[str, Any] = {**call, "remote_id": outcome.remote_id}
                result.pop("status", None)
                tasks.finish(session, task.id, tasks.COMPLETED, now, result=result, log_id=log_id)
            else:
                code = outcome.code or "REMOTE.INPUT_INVALID"
                error = error_body(code, str(outcome.error), env.log_url(log_id))
                tasks.finish(session, task.id, tasks.FAILED, now, error=error, log_id=log_id)

    await env.in_db(finish)
