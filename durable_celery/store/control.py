"""Steering executions: locking one for a control call, ending executions with their
children and items, and resuming a failed one. Every function runs inside the caller's
transaction; wake-ups are returned, to be published after it commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from durable_celery.errors import ExecutionNotFound, cancellation_record
from durable_celery.states import ExecutionStatus
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import control as sql


@dataclass(frozen=True)
class LockedExecution:
    status: ExecutionStatus
    queue: str
    workflow: str
    version: int


def lock_execution(conn: Connection, execution_id: str) -> LockedExecution:
    """Lock the execution's row for this transaction, or raise ExecutionNotFound."""
    row = conn.execute(sql.LOCK_EXECUTION, {"id": execution_id}).first()
    if row is None:
        raise ExecutionNotFound(execution_id)
    return LockedExecution(
        ExecutionStatus(row.status), row.queue, row.workflow, row.workflow_version
    )


def stop_executions(
    conn: Connection,
    ids: list[str],
    status: ExecutionStatus,
    error: dict[str, Any],
    *,
    include_running: bool,
    token: str | None = None,
) -> list[Wakeup]:
    """End live executions as `status` (cancelled or timed_out), cancel their items and,
    recursively, their live children, and wake the parents that waited on them. Running
    executions end at once with include_running (their worker is fenced out; with `token`,
    only while that claim holds), else they are asked to stop at their next step
    boundary. Executions are locked before their items, like every other writer does."""
    return _stop(conn, ids, status, error, include_running=include_running, token=token).wakeups


def cancel_locked(conn: Connection, ids: list[str], error: dict[str, Any]) -> Stopped:
    """Cancel live executions the caller has locked, as cancel() does (running ones are
    asked to stop at their next step boundary); returns how many executions this changed,
    their children included, and the wake-ups to publish after commit."""
    return _stop(conn, ids, ExecutionStatus.CANCELLED, error, include_running=False, token=None)


@dataclass(frozen=True)
class Stopped:
    changed: int  # executions ended or asked to stop, children included
    wakeups: list[Wakeup]


def _stop(
    conn: Connection,
    ids: list[str],
    status: ExecutionStatus,
    error: dict[str, Any],
    *,
    include_running: bool,
    token: str | None,
) -> Stopped:
    if not ids:
        return Stopped(0, [])
    error_json = json.dumps(error)
    params = {"ids": ids, "status": status, "error": error_json, "token": token}
    ended = [
        str(row.id)
        for row in conn.execute(sql.END_EXECUTIONS, {**params, "include_running": include_running})
    ]
    requested: list[str] = []
    if not include_running:
        requested = [
            str(row.id)
            for row in conn.execute(sql.REQUEST_CANCEL, {"ids": ids, "error": error_json})
        ]
    wakeups: list[Wakeup] = []
    if ended:
        conn.execute(sql.DROP_ITEMS_OF, {"ids": ended})
        conn.execute(sql.DROP_INPUTS_OF, {"ids": ended})
        wakeups += [
            Wakeup(str(row.id), row.queue, label=row.workflow)
            for row in conn.execute(sql.WAKE_PARENTS_OF, {"ids": ended})
            if row.status == ExecutionStatus.PENDING
        ]
    changed = len(ended) + len(requested)
    children = [
        str(row.id) for row in conn.execute(sql.LIVE_CHILDREN_OF, {"ids": ended + requested})
    ]
    if children:
        cascade = _stop(
            conn,
            children,
            ExecutionStatus.CANCELLED,
            cancellation_record(f"parent execution ended ({status})"),
            include_running=False,
            token=None,
        )
        changed += cascade.changed
        wakeups += cascade.wakeups
    return Stopped(changed, wakeups)


def resume_failed(conn: Connection, execution_id: str, timeout: timedelta | None) -> Wakeup:
    """Make a failed (or timed-out) execution pending at the step it failed in, with a
    fresh attempt budget and deadline. The caller holds its row lock and checked its
    status."""
    row = conn.execute(
        sql.RESUME_FAILED,
        {
            "id": execution_id,
            "timeout_seconds": None if timeout is None else timeout.total_seconds(),
        },
    ).one()
    return Wakeup(execution_id, row.queue, label=row.workflow)
