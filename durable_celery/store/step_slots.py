"""Step-level concurrency limits: take a slot of a step's key before an attempt starts
(see TAKE_STEP_SLOT); the slot goes back in the statement that ends the attempt."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from durable_celery.errors import LockLost
from durable_celery.store.connections import execute_hot
from durable_celery.store.executions import Fence
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import concurrency as sql


@dataclass(frozen=True)
class StepSlot:
    taken: bool  # else the claim was released and the execution queued for the key
    wakeups: list[Wakeup]  # released: the execution its workflow-level slot went to


def take(conn: Connection, fence: Fence, key: str, limit: int) -> StepSlot:
    """Take a slot of `key` for the attempt about to start, or release the claim and
    queue the execution for the key; raises LockLost when the claim is no longer ours."""
    row = execute_hot(conn, sql.TAKE_STEP_SLOT, {**fence.params(), "key": key, "limit": limit})
    if not row.fenced:
        raise LockLost(f"execution {fence.execution_id}: lock token no longer matches")
    if row.next_id is None:
        return StepSlot(bool(row.taken), [])
    handed = Wakeup(str(row.next_id), row.next_queue, label=row.next_workflow)
    return StepSlot(bool(row.taken), [handed])
