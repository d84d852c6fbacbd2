"""The sweeps: due timers and lost wake-ups, expired deadlines, expired published events,
heartbeats, and stale claims. Each batch is taken with FOR UPDATE SKIP LOCKED, so several
beats share the work instead of doubling it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from durable_celery.errors import deadline_record
from durable_celery.states import ExecutionStatus, WakeTarget
from durable_celery.store.control import stop_executions
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import concurrency as concurrency_sql
from durable_celery.store.sql import sweeps as sql

_HEARTBEATS = {WakeTarget.EXECUTION: sql.HEARTBEAT_EXECUTIONS, WakeTarget.ITEM: sql.HEARTBEAT_ITEMS}


def expire_deadlines(
    conn: Connection, grace_seconds: float, batch_size: int
) -> tuple[int, list[Wakeup]]:
    """End live executions past their workflow deadline as timed_out, with their children
    and items; returns how many, and the wake-ups of parents that waited on them."""
    params = {"grace_seconds": grace_seconds, "batch_size": batch_size}
    expired = [str(row.id) for row in conn.execute(sql.EXPIRED_DEADLINES, params)]
    wakeups = stop_executions(
        conn, expired, ExecutionStatus.TIMED_OUT, deadline_record(), include_running=True
    )
    return len(expired), wakeups


@dataclass(frozen=True)
class Dispatched:
    wakeup: Wakeup
    resends: int  # times the poller has re-sent this wake-up since the row was last claimed


def dispatch_due(
    conn: Connection, grace_seconds: float, backoff_max: float, batch_size: int
) -> list[Dispatched]:
    """Make due executions runnable and mark the wake-ups about to be sent, highest
    priority first; a wake-up nobody claimed is re-sent with a growing wait."""
    rows = conn.execute(sql.DISPATCH_DUE, _dispatch_params(grace_seconds, backoff_max, batch_size))
    by_priority = sorted(rows, key=lambda row: -row.priority)
    return [
        Dispatched(Wakeup(str(row.id), row.queue, label=row.workflow), row.resends)
        for row in by_priority
    ]


def dispatch_slot_queued(conn: Connection, batch_size: int) -> list[Wakeup]:
    """Wake executions queued for a concurrency slot that is free and that no holder
    handed over (see DISPATCH_SLOT_QUEUED)."""
    rows = conn.execute(concurrency_sql.DISPATCH_SLOT_QUEUED, {"batch_size": batch_size})
    return [Wakeup(str(row.id), row.queue, label=row.workflow) for row in rows]


def dispatch_step_queued(conn: Connection, batch_size: int) -> list[Wakeup]:
    """Wake executions queued for a step's concurrency slot that is free and that no
    holder handed over (see DISPATCH_STEP_QUEUED)."""
    rows = conn.execute(concurrency_sql.DISPATCH_STEP_QUEUED, {"batch_size": batch_size})
    return [Wakeup(str(row.id), row.queue, label=row.workflow) for row in rows]


def dispatch_due_items(
    conn: Connection, grace_seconds: float, backoff_max: float, batch_size: int
) -> list[Dispatched]:
    rows = conn.execute(
        sql.DISPATCH_DUE_ITEMS, _dispatch_params(grace_seconds, backoff_max, batch_size)
    )
    return [
        Dispatched(Wakeup(str(row.id), row.queue, WakeTarget.ITEM, _item_label(row)), row.resends)
        for row in rows
    ]


def _dispatch_params(grace_seconds: float, backoff_max: float, batch_size: int) -> dict[str, Any]:
    return {"grace_seconds": grace_seconds, "backoff_max": backoff_max, "batch_size": batch_size}


def delete_expired_events(conn: Connection, batch_size: int) -> int:
    """Delete one batch of published events past their retention; returns how many."""
    return conn.execute(sql.DELETE_EXPIRED_EVENTS, {"batch_size": batch_size}).rowcount


def heartbeat(conn: Connection, target: WakeTarget, claims: list[tuple[str, str]]) -> set[str]:
    """Refresh the heartbeat of (id, token) claims; returns the ids still held."""
    if not claims:
        return set()
    rows = conn.execute(
        _HEARTBEATS[target],
        {"ids": [row_id for row_id, _ in claims], "tokens": [token for _, token in claims]},
    )
    return {str(row.id) for row in rows}


def recover_stale(conn: Connection, stale_seconds: float, batch_size: int) -> list[Wakeup]:
    """Give back executions and items whose worker stopped heartbeating (pending, due
    now), recording each interrupted execution attempt as abandoned."""
    params = {"stale_seconds": stale_seconds, "batch_size": batch_size}
    executions = conn.execute(sql.RECOVER_STALE_EXECUTIONS, params).all()
    items = conn.execute(sql.RECOVER_STALE_ITEMS, params).all()
    return [Wakeup(str(row.id), row.queue, label=row.workflow) for row in executions] + [
        Wakeup(str(row.id), row.queue, WakeTarget.ITEM, _item_label(row)) for row in items
    ]


def _item_label(row: Any) -> str:
    return f"{row.workflow}.{row.step_name}"
