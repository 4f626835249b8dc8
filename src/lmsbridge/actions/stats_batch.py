"""Enroll/complete, the background side: the coalesced tasks of one integration become ONE statistics
import (≤ 10,000 items); afterwards the pairs' real attempts replace the provisional progressions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from lmsbridge.actions import tasks
from lmsbridge.actions.env import ActionEnv
from lmsbridge.actions.errors import error_body
from lmsbridge.actions.store_writes import reconcile_progressions
from lmsbridge.connectors.learning360 import write_mapping as wm
from lmsbridge.connectors.learning360 import writes
from lmsbridge.store.schema import ActionTask


async def run(batch: Sequence[ActionTask], env: ActionEnv) -> None:
    """One import for ``batch`` (all of one integration), or the resumption of the one it was in."""
    integration_id = batch[0].integration_id
    ids = [t.id for t in batch]
    items = list({wm.input_key(t.request["item"]): t.request["item"] for t in batch}.values())
    client = await env.remote.client(integration_id)
    provider = await env.remote.provider(integration_id)
    known = next((t.remote_state.get("operation_id") for t in batch if t.remote_state), None)
    operation_id = str(known) if known else ""
    async with env.remote.bulk_slot(integration_id):
        operation = await env.poll_known(client, operation_id) if operation_id else None
        if operation is None:  # not submitted yet, or 360Learning no longer knows the operation
            operation_id = await writes.submit_stats_import(client, str(provider["_id"]), items)
            state = {"operation_id": operation_id, "items": len(items)}
            await env.in_db(lambda s: tasks.save_remote_state(s, ids, state, env.clock()))
            operation = await env.poll(client, operation_id)
    if operation.get("status") == "error":
        failed = (
            f"360Learning's statistics import failed: {operation.get('errorMessage') or 'no reason given'}"
        )
        matched: dict[str, wm.ItemOutcome] = {
            wm.input_key(i): wm.ItemOutcome(False, error=failed) for i in items
        }
    else:
        matched = wm.match_results(items, await writes.get_results(client, operation_id))
    pairs = [(str(t.request["pair"][0]), str(t.request["pair"][1])) for t in batch]
    # what 360Learning now shows for each pair is the truth, whatever the import reported
    attempts = await writes.pair_attempts(client, pairs)
    failures = sum(1 for o in matched.values() if not o.ok)
    log_id = await env.log(
        integration_id,
        method="POST",
        url=f"/api/v2/bulk/integrations/{provider['_id']}/stats",
        request={"operation_id": operation_id, "tasks": len(batch), "items": len(items)},
        response={"status": operation.get("status"), "failed_items": failures},
    )
    now = env.clock()

    def finish(session: Session) -> None:
        reconcile_progressions(session, integration_id, attempts, now)
        for task in batch:
            outcome = matched[wm.input_key(task.request["item"])]
            if outcome.ok:
                result: dict[str, Any] = {"operation_id": operation_id, "attempt_id": outcome.resource_id}
                tasks.finish(session, task.id, tasks.COMPLETED, now, result=result, log_id=log_id)
            else:
                error = error_body("REMOTE.INPUT_INVALID", str(outcome.error), env.log_url(log_id))
                tasks.finish(session, task.id, tasks.FAILED, now, error=error, log_id=log_id)

    await env.in_db(finish)
