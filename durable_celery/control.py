"""Steering executions: cancel, retry, and ending executions with their children.

Every function here runs in one transaction and publishes wake-ups only after it commits.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from durable_celery import sql
from durable_celery.definition import get_workflow
from durable_celery.errors import ExecutionNotFound, ExecutionStateError, InvalidOption
from durable_celery.models import FINISHED_STATUSES
from durable_celery.query import parse_execution_id
from durable_celery.runtime import Runtime, current_runtime

Wakeups = list[tuple[str, str]]


def stop_executions(
    conn: Connection,
    ids: list[str],
    status: str,
    error: dict[str, Any],
    *,
    include_running: bool,
    token: Any = None,
) -> Wakeups:
    """End live executions as `status`, cancel their items and, recursively, their live
    children, and wake the parents that waited on them. Running executions end at once
    with include_running (their worker is fenced out), else they are asked to stop at
    their next step boundary. Returns the wake-ups to publish after commit."""
    if not ids:
        return []
    ended = [
        str(row.id)
        for row in conn.execute(
            sql.END_EXECUTIONS,
            {
                "ids": ids,
                "status": status,
                "error": json.dumps(error),
                "token": token,
                "include_running": include_running,
            },
        )
    ]
    requested: list[str] = []
    if not include_running:
        requested = [
            str(row.id)
            for row in conn.execute(sql.REQUEST_CANCEL, {"ids": ids, "error": json.dumps(error)})
        ]
    wakeups: Wakeups = []
    if ended:
        conn.execute(sql.DROP_ITEMS_OF, {"ids": ended})
        conn.execute(sql.DROP_INPUTS_OF, {"ids": ended})
        wakeups += [
            (str(row.id), row.queue)
            for row in conn.execute(sql.WAKE_PARENTS_OF, {"ids": ended})
            if row.status == "pending"
        ]
    children = [
        str(row.id) for row in conn.execute(sql.LIVE_CHILDREN_OF, {"ids": ended + requested})
    ]
    if children:
        wakeups += stop_executions(
            conn,
            children,
            "cancelled",
            {
                "type": "durable_celery.errors.WorkflowCancelled",
                "message": f"parent execution ended ({status})",
            },
            include_running=False,
        )
    return wakeups


def lock_execution(conn: Connection, execution_id: str) -> Any:
    """Lock the execution's row for this transaction (status, queue, workflow), or raise
    ExecutionNotFound. Every control call and signal starts here."""
    row = conn.execute(sql.LOCK_EXECUTION, {"id": execution_id}).first()
    if row is None:
        raise ExecutionNotFound(execution_id)
    return row


def cancel(execution_id: str, reason: str | None = None, *, runtime: Runtime | None = None) -> str:
    """Cancel an execution and its children. Pending and waiting executions stop at once;
    a running one finishes its current step and stops at that boundary. Returns the
    status it was left in ('cancelled', or 'running' until the boundary is reached)."""
    execution_id = parse_execution_id(execution_id)
    if reason is not None and not isinstance(reason, str):
        raise InvalidOption(f"reason must be a string, got {reason!r}")
    runtime = runtime or current_runtime()
    error = {"type": "durable_celery.errors.WorkflowCancelled", "message": reason or "cancelled"}
    with runtime.engine.begin() as conn:
        row = lock_execution(conn, execution_id)
        if row.status in FINISHED_STATUSES:
            raise ExecutionStateError(execution_id, row.status, "cancel")
        wakeups = stop_executions(conn, [execution_id], "cancelled", error, include_running=False)
    runtime.send_wakeups(wakeups)
    return "running" if row.status == "running" else "cancelled"


def retry(execution_id: str, *, runtime: Runtime | None = None) -> None:
    """Resume a failed (or timed-out) execution from the step it failed in. Completed
    steps keep their recorded outputs and do not run again; the failed step gets a fresh
    attempt budget, and a timed-out execution a fresh deadline."""
    execution_id = parse_execution_id(execution_id)
    runtime = runtime or current_runtime()
    runtime.import_workflows()
    with runtime.engine.begin() as conn:
        row = lock_execution(conn, execution_id)
        if row.status not in ("failed", "timed_out"):
            raise ExecutionStateError(execution_id, row.status, "retry")
        timeout = get_workflow(row.workflow).__timeout__
        resumed = conn.execute(
            sql.RESUME_FAILED,
            {"id": execution_id, "timeout_seconds": timeout.total_seconds() if timeout else None},
        ).first()
        assert resumed is not None
    runtime.send_wakeups([(execution_id, resumed.queue)])
