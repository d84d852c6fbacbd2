"""Read-only query API: executions and their step attempts."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, select

from durable_celery.errors import ExecutionNotFound, InvalidExecutionId, InvalidOption
from durable_celery.handle import reported_status
from durable_celery.models import (
    EXECUTION_STATUSES,
    LIVE_STATUSES,
    step_executions,
    workflow_executions,
)
from durable_celery.records import Execution, StepRecord
from durable_celery.runtime import Runtime, current_runtime

_EXECUTION_COLUMNS = [
    workflow_executions.c[name]
    for name in (
        "id",
        "workflow",
        "status",
        "input",
        "context",
        "result",
        "error",
        "current_step",
        "queue",
        "priority",
        "created_at",
        "started_at",
        "completed_at",
        "parent_id",
        "compensations",
    )
]


def parse_execution_id(execution_id: Any) -> str:
    """Canonical text form of an execution id, or InvalidExecutionId."""
    if isinstance(execution_id, uuid.UUID):
        return str(execution_id)
    if not isinstance(execution_id, str):
        raise InvalidExecutionId(f"execution id must be a UUID string, got {execution_id!r}")
    try:
        return str(uuid.UUID(execution_id))
    except ValueError:
        raise InvalidExecutionId(f"execution id {execution_id!r} is not a UUID") from None


def get_execution(
    execution_id: str | uuid.UUID, include_steps: bool = True, *, runtime: Runtime | None = None
) -> Execution:
    """The stored record of one execution; ExecutionNotFound when there is none."""
    execution_id = parse_execution_id(execution_id)
    runtime = runtime or current_runtime()
    with runtime.engine.connect() as conn:
        row = conn.execute(
            select(*_EXECUTION_COLUMNS).where(workflow_executions.c.id == execution_id)
        ).first()
        if row is None:
            raise ExecutionNotFound(execution_id)
        steps = _steps(conn, execution_id) if include_steps else None
    return _execution(row, steps)


def list_executions(
    workflow: str | None = None,
    status: str | None = None,
    queue: str | None = None,
    limit: int = 50,
    offset: int = 0,
    *,
    runtime: Runtime | None = None,
) -> list[Execution]:
    """Executions, newest first, filtered by workflow name, status and queue."""
    if status is not None and status not in (*EXECUTION_STATUSES, "compensating"):
        raise InvalidOption(
            f"status must be one of {', '.join(EXECUTION_STATUSES)}, compensating; got {status!r}"
        )
    for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidOption(f"{name} must be an int >= {low}, got {value!r}")
    query = select(*_EXECUTION_COLUMNS)
    if workflow is not None:
        query = query.where(workflow_executions.c.workflow == workflow)
    if status == "compensating":
        query = query.where(
            workflow_executions.c.status.in_(LIVE_STATUSES),
            workflow_executions.c.compensations.is_not(None),
        )
    elif status is not None:
        query = query.where(workflow_executions.c.status == status)
    if queue is not None:
        query = query.where(workflow_executions.c.queue == queue)
    query = (
        query.order_by(workflow_executions.c.created_at.desc(), workflow_executions.c.id)
        .limit(limit)
        .offset(offset)
    )
    runtime = runtime or current_runtime()
    with runtime.engine.connect() as conn:
        return [_execution(row, None) for row in conn.execute(query)]


def _steps(conn: Connection, execution_id: str) -> tuple[StepRecord, ...]:
    table = step_executions
    rows = conn.execute(
        select(table)
        .where(table.c.execution_id == execution_id)
        .order_by(table.c.sequence, table.c.attempt)
    )
    return tuple(
        StepRecord(
            id=str(row.id),
            step=row.step_name,
            sequence=row.sequence,
            attempt=row.attempt,
            status=row.status,
            output=row.output,
            error=row.error,
            logs=row.logs or [],
            started_at=row.started_at,
            completed_at=row.completed_at,
            duration_ms=row.duration_ms,
            worker=row.worker,
        )
        for row in rows
    )


def _execution(row: Any, steps: tuple[StepRecord, ...] | None) -> Execution:
    return Execution(
        id=str(row.id),
        workflow=row.workflow,
        status=reported_status(row),
        input=row.input,
        context=row.context,
        result=row.result,
        error=row.error,
        current_step=row.current_step,
        queue=row.queue,
        priority=row.priority,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        parent_id=str(row.parent_id) if row.parent_id is not None else None,
        steps=steps,
    )
