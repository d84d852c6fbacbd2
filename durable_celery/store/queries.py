"""Read-only queries: executions, their step attempts, pending inputs. No locks taken.

Filters are composed with SQLAlchemy Core, so each combination is planned with the
indexes it can use (`status, created_at`, `workflow, created_at`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, not_, select

from durable_celery.errors import ExecutionNotFound
from durable_celery.states import (
    LIVE_STATUSES,
    ExecutionStatus,
    InputStatus,
    StepStatus,
    Suspension,
)
from durable_celery.store.records import Execution, PendingInput, StepRecord
from durable_celery.store.schema import pending_inputs, step_executions, workflow_executions
from durable_celery.store.sql import queries as sql

_e = workflow_executions.c
_EXECUTION_COLUMNS = [
    _e.id,
    _e.workflow,
    _e.status,
    _e.input,
    _e.context,
    _e.result,
    _e.error,
    _e.current_step,
    _e.queue,
    _e.priority,
    _e.created_at,
    _e.started_at,
    _e.completed_at,
    _e.parent_id,
    _e.compensations,
    _e.schedule_key,
    _e.scheduled_at,
]


def _compensating() -> ColumnElement[bool]:
    return and_(_e.status.in_(LIVE_STATUSES), _e.compensations.is_not(None))


def reported_status(status: str, compensations: Any) -> ExecutionStatus:
    """The status users see: 'compensating' while a failed saga runs its undo steps."""
    stored = ExecutionStatus(status)
    if compensations is not None and stored.live:
        return ExecutionStatus.COMPENSATING
    return stored


@dataclass(frozen=True)
class Outcome:
    """Where an execution stands, for `handle.status()` and `handle.result()`."""

    status: ExecutionStatus  # as reported
    result: Any
    error: dict[str, Any] | None


def outcome(conn: Connection, execution_id: str) -> Outcome:
    row = conn.execute(
        select(_e.status, _e.result, _e.error, _e.compensations).where(_e.id == execution_id)
    ).first()
    if row is None:
        raise ExecutionNotFound(execution_id)
    return Outcome(reported_status(row.status, row.compensations), row.result, row.error)


def execution(conn: Connection, execution_id: str, include_steps: bool) -> Execution:
    row = conn.execute(select(*_EXECUTION_COLUMNS).where(_e.id == execution_id)).first()
    if row is None:
        raise ExecutionNotFound(execution_id)
    record = _execution(row, steps(conn, execution_id) if include_steps else None)
    return replace(record, waiting_for=waiting_for(conn, execution_id))


def waiting_for(conn: Connection, execution_id: str) -> str | None:
    """What a pending or waiting execution waits for, in words; None otherwise."""
    row = conn.execute(sql.WAITING_ON, {"id": execution_id}).first()
    if row is None:
        return None
    if row.status == ExecutionStatus.PENDING:
        return f"its next attempt, due at {_when(row.run_at)}" if row.later else None
    until = f" until {_when(row.deadline_at)}" if row.deadline_at else ""
    reason = None if row.suspended_on is None else Suspension(row.suspended_on)
    if reason is Suspension.SLEEP:
        return f"a timer, due at {_when(row.run_at)}"
    if reason is Suspension.EVENT:
        return f"event {_names(row.events)}{until}"
    if reason is Suspension.INPUT:
        return f"input {_names(row.inputs)}{until}"
    if reason is Suspension.CHILD:
        return f"child execution {_names(row.children)}"
    if reason is Suspension.FANOUT:
        return f"{row.fanout_remaining} items of step {row.current_step!r}"
    return None


def _names(names: list[str] | None) -> str:
    return ", ".join(repr(name) for name in names or []) or "(none)"


def _when(moment: Any) -> str:
    return str(moment.isoformat(timespec="seconds")) if moment is not None else "?"


def executions(
    conn: Connection,
    *,
    workflow: str | None,
    status: ExecutionStatus | None,
    queue: str | None,
    limit: int,
    offset: int,
) -> list[Execution]:
    """Newest first. `status` is the reported one: 'compensating' selects live executions
    running their saga, and the live statuses exclude those."""
    query = select(*_EXECUTION_COLUMNS)
    if workflow is not None:
        query = query.where(_e.workflow == workflow)
    if status is ExecutionStatus.COMPENSATING:
        query = query.where(_compensating())
    elif status is not None:
        query = query.where(_e.status == status)
        if status.live:
            query = query.where(not_(_compensating()))
    if queue is not None:
        query = query.where(_e.queue == queue)
    query = query.order_by(_e.created_at.desc(), _e.id).limit(limit).offset(offset)
    return [_execution(row, None) for row in conn.execute(query)]


def steps(conn: Connection, execution_id: str) -> tuple[StepRecord, ...]:
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
            status=StepStatus(row.status),
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


def open_inputs(
    conn: Connection, *, workflow: str | None, execution_id: str | None
) -> list[PendingInput]:
    """Inputs that live executions are waiting for, oldest first."""
    inputs = pending_inputs
    query = (
        select(inputs, _e.workflow)
        .join(workflow_executions, _e.id == inputs.c.execution_id)
        .where(inputs.c.status == InputStatus.PENDING, _e.status.in_(LIVE_STATUSES))
        .order_by(inputs.c.created_at)
    )
    if workflow is not None:
        query = query.where(_e.workflow == workflow)
    if execution_id is not None:
        query = query.where(inputs.c.execution_id == execution_id)
    return [
        PendingInput(
            id=str(row.id),
            execution_id=str(row.execution_id),
            workflow=row.workflow,
            name=row.name,
            step=row.step_name,
            prompt=row.prompt,
            fields=row.fields,
            deadline_at=row.deadline_at,
            created_at=row.created_at,
        )
        for row in conn.execute(query)
    ]


def _execution(row: Any, steps: tuple[StepRecord, ...] | None) -> Execution:
    return Execution(
        id=str(row.id),
        workflow=row.workflow,
        status=reported_status(row.status, row.compensations),
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
        schedule_key=row.schedule_key,
        scheduled_at=row.scheduled_at,
    )
