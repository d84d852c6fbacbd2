"""Fan-out items of each/parallel steps: writing them, claiming one, and the fan-in.

An item's writes are fenced by its own lock token, like an execution's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from durable_celery.errors import LockLost
from durable_celery.ids import new_id
from durable_celery.states import ExecutionStatus, ItemStatus, Suspension, WakeTarget
from durable_celery.store.executions import Fence
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import items as sql


def start_fanout(
    conn: Connection,
    fence: Fence,
    *,
    workflow: str,
    step_name: str,
    fanout_seq: int,
    queue: str,
    concurrency: int,
    values: list[str],
    queues: list[str] | None = None,
) -> list[Wakeup]:
    """Write the items (JSON text, in order) and suspend the execution on them, releasing
    its claim, in one statement; returns the wake-ups of the items dispatched now. Each
    item goes to `queue`, or to its own entry of `queues` (one per item) when given."""
    rows = conn.execute(
        sql.START_FANOUT,
        {
            **fence.params(),
            "step_name": step_name,
            "fanout_seq": fanout_seq,
            "total": len(values),
            "concurrency": concurrency,
            "queue": queue,
            "item_ids": [new_id() for _ in values],
            "item_values": values,
            "item_queues": queues or [],
        },
    ).all()
    if len(rows) != len(values):
        raise LockLost(f"execution {fence.execution_id}: lock token no longer matches")
    return [
        Wakeup(str(row.id), row.queue, WakeTarget.ITEM, f"{workflow}.{step_name}")
        for row in rows
        if row.status == ItemStatus.PENDING
    ]


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: ItemStatus
    output: Any
    error: dict[str, Any] | None


def fanout_results(conn: Connection, execution_id: str, fanout_seq: int) -> list[ItemResult]:
    """The items of one fan-out, in item order."""
    return [
        ItemResult(row.item_index, ItemStatus(row.status), row.output, row.error)
        for row in conn.execute(sql.FANOUT_RESULTS, {"id": execution_id, "fanout_seq": fanout_seq})
    ]


@dataclass(frozen=True)
class ClaimedItem:
    id: str
    token: str
    execution_id: str
    step_name: str
    fanout_seq: int
    index: int
    value: Any
    attempt: int

    def params(self) -> dict[str, Any]:
        """The fence of every write for this item: its id and lock token."""
        return {"id": self.id, "token": self.token}


def claim_item(conn: Connection, item_id: str, worker: str) -> ClaimedItem | None:
    """Claim one due, pending item by id, like executions.claim; None when there is
    nothing to claim."""
    row = conn.execute(sql.ITEM_CLAIM, {"id": item_id, "worker": worker}).first()
    if row is None:
        return None
    return ClaimedItem(
        id=str(row.id),
        token=str(row.lock_token),
        execution_id=str(row.execution_id),
        step_name=row.step_name,
        fanout_seq=row.fanout_seq,
        index=row.item_index,
        value=row.item,
        attempt=row.attempt,
    )


@dataclass(frozen=True)
class ItemParent:
    workflow: str
    version: int
    input: dict[str, Any]
    context: dict[str, Any]
    deadline_at: datetime | None
    waits_for_this_fanout: bool


def parent_of(conn: Connection, item: ClaimedItem) -> ItemParent | None:
    """The execution an item belongs to, and whether it still waits for the item's fan-out
    (it stops waiting when cancelled or failed fast)."""
    row = conn.execute(sql.ITEM_PARENT, {"id": item.execution_id}).first()
    if row is None:
        return None
    return ItemParent(
        workflow=row.workflow,
        version=row.workflow_version,
        input=row.input,
        context=row.context,
        deadline_at=row.deadline_at,
        waits_for_this_fanout=(
            row.status == ExecutionStatus.WAITING
            and row.suspended_on == Suspension.FANOUT
            and row.fanout_seq == item.fanout_seq
        ),
    )


def drop_item(conn: Connection, item: ClaimedItem) -> None:
    conn.execute(sql.ITEM_DROP, item.params())


def retry_item(conn: Connection, item: ClaimedItem, error: str, delay_seconds: float) -> None:
    """A failed attempt waits on a durable timer; the item keeps its concurrency slot."""
    conn.execute(
        sql.ITEM_RETRY_LATER, {**item.params(), "error": error, "delay_seconds": delay_seconds}
    )


@dataclass(frozen=True)
class ItemEnd:
    status: ItemStatus  # completed or failed
    output: str | None
    error: str | None
    fail_fast: bool  # a failure that cancels what has not started and wakes the execution
    duration_ms: float


def finish_item(conn: Connection, item: ClaimedItem, end: ItemEnd) -> list[Wakeup] | None:
    """Record the item's ending and do the fan-in (ITEM_FINISH); returns the wake-ups of
    the next queued item and of the execution when this was the last item, or None when
    the claim was lost."""
    row = conn.execute(
        sql.ITEM_FINISH,
        {
            **item.params(),
            "status": end.status,
            "output": end.output,
            "error": end.error,
            "fail_fast": end.fail_fast,
            "duration_ms": end.duration_ms,
        },
    ).one()
    if not row.done:
        return None
    wakeups = []
    if row.next_id is not None:
        label = f"{row.parent_workflow}.{item.step_name}" if row.parent_workflow else ""
        wakeups.append(Wakeup(str(row.next_id), row.next_queue, WakeTarget.ITEM, label))
    if row.parent_status == ExecutionStatus.PENDING:
        wakeups.append(Wakeup(item.execution_id, row.parent_queue, label=row.parent_workflow))
    return wakeups
