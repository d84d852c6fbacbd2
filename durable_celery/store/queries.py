"""Read-only queries: executions, their step attempts and children, pending inputs, and
the load on queues and workflows. No locks taken.

Filters are composed with SQLAlchemy Core, so each combination is planned with the
indexes it can use (`status, created_at`, `workflow, created_at`, `parent_id`, the
primary key for an id prefix).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    false,
    func,
    literal_column,
    or_,
    select,
)

from durable_celery.errors import ExecutionNotFound
from durable_celery.states import (
    LIVE_STATUSES,
    ExecutionStatus,
    StepStatus,
    Suspension,
)
from durable_celery.store.records import Execution, StepRecord
from durable_celery.store.schema import step_executions, workflow_executions
from durable_celery.store.sql import queries as sql

_e = workflow_executions.c
_EXECUTION_COLUMNS = [
    _e.id,
    _e.workflow,
    _e.workflow_version,
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
    _e.debounce_key,
]


def _compensating() -> ColumnElement[bool]:
    return and_(_e.status.in_(LIVE_STATUSES), _e.compensations.is_not(None))


# The reported status computed in SQL, to group by it: see reported_status.
# A literal, not a parameter: GROUP BY must repeat the select's expression exactly.
_REPORTED = case(
    (_compensating(), literal_column(f"'{ExecutionStatus.COMPENSATING.value}'")),
    else_=_e.status,
).label("reported")


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions a list or a count covers; every field is optional (checked by the
    client). `statuses` are reported statuses; `id_prefix` is lowercase hex, no dashes."""

    workflow: str | None = None
    version: int | None = None
    statuses: frozenset[ExecutionStatus] | None = None
    queue: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    parent_id: str | None = None
    top_level_only: bool = False
    id_prefix: str | None = None
    # A text search: executions whose idempotency key is this text, or (when
    # `search_prefix` is set, the text read as an id prefix) whose id starts with it.
    search: str | None = None
    search_prefix: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.workflow is not None:
            where.append(_e.workflow == self.workflow)
        if self.version is not None:
            where.append(_e.workflow_version == self.version)
        if self.statuses is not None:
            where.append(_status_condition(self.statuses))
        if self.queue is not None:
            where.append(_e.queue == self.queue)
        if self.since is not None:
            where.append(_e.created_at >= self.since)
        if self.until is not None:
            where.append(_e.created_at < self.until)
        if self.parent_id is not None:
            where.append(_e.parent_id == self.parent_id)
        if self.top_level_only:
            where.append(_e.parent_id.is_(None))
        if self.id_prefix is not None:
            # A range of the primary key rather than a LIKE on its text: uuid order is the
            # order of its hex digits, so the index answers it.
            where.append(_id_range(self.id_prefix))
        if self.search is not None:
            either = [_e.idempotency_key == self.search]
            if self.search_prefix is not None:
                either.append(_id_range(self.search_prefix))
            where.append(or_(*either))
        return where


def _id_range(prefix: str) -> ColumnElement[bool]:
    low, high = (_uuid_text(prefix.ljust(32, pad)) for pad in "0f")
    return _e.id.between(low, high)


def _uuid_text(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


def _status_condition(statuses: frozenset[ExecutionStatus]) -> ColumnElement[bool]:
    """Reported statuses: 'compensating' is a live execution running its saga, and the
    live statuses leave those out."""
    finished = sorted(s for s in statuses if s.finished)
    live = sorted(s for s in statuses if s in LIVE_STATUSES)
    either: list[ColumnElement[bool]] = []
    if finished:
        either.append(_e.status.in_(finished))
    if live:
        either.append(and_(_e.status.in_(live), _e.compensations.is_(None)))
    if ExecutionStatus.COMPENSATING in statuses:
        either.append(_compensating())
    return or_(*either) if either else false()


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
    return replace(
        record,
        waiting_for=waiting_for(conn, execution_id),
        children={
            str(status): n
            for status, n in count_by_status(conn, ExecutionFilter(parent_id=execution_id)).items()
        },
    )


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
        # run_at is the run_child timeout, when the call has one (else 'infinity').
        timeout = f" until {_when(row.run_at)}" if row.run_at is not None else ""
        return f"child execution {_names(row.children)}{timeout}"
    if reason is Suspension.FANOUT:
        return f"{row.fanout_remaining} items of step {row.current_step!r}"
    return None


def _names(names: list[str] | None) -> str:
    return ", ".join(repr(name) for name in names or []) or "(none)"


def _when(moment: Any) -> str:
    return str(moment.isoformat(timespec="seconds")) if moment is not None else "?"


def executions(
    conn: Connection, where: ExecutionFilter, *, limit: int, offset: int
) -> list[Execution]:
    """Newest first."""
    query = (
        select(*_EXECUTION_COLUMNS)
        .where(*where.conditions())
        .order_by(_e.created_at.desc(), _e.id)
        .limit(limit)
        .offset(offset)
    )
    return [_execution(row, None) for row in conn.execute(query)]


def count_by_status(conn: Connection, where: ExecutionFilter) -> dict[ExecutionStatus, int]:
    """How many executions match, by reported status (statuses with none are left out),
    in the order of ExecutionStatus. One grouped query."""
    query = select(_REPORTED, func.count()).where(*where.conditions()).group_by(_REPORTED)
    counts = {ExecutionStatus(status): n for status, n in conn.execute(query)}
    return {status: counts[status] for status in ExecutionStatus if status in counts}


@dataclass(frozen=True)
class QueueLoad:
    """Live executions of one queue: `due` are pending or waiting with their time come and
    no worker on them yet; `oldest_wait` is how long the oldest of those has been due."""

    queue: str
    live: int
    due: int
    oldest_wait: timedelta | None


@dataclass(frozen=True)
class WorkflowLoad:
    workflow: str
    pending: int
    running: int
    waiting: int


@dataclass(frozen=True)
class VersionLoad:
    workflow: str
    version: int
    pending: int
    running: int
    waiting: int


def version_load(conn: Connection, workflow: str | None) -> list[VersionLoad]:
    """Live executions per workflow and version (of one workflow, or all)."""
    return [
        VersionLoad(row.workflow, row.workflow_version, row.pending, row.running, row.waiting)
        for row in conn.execute(sql.VERSION_LOAD, {"workflow": workflow})
    ]


def queue_load(conn: Connection) -> list[QueueLoad]:
    return [
        QueueLoad(row.queue, row.live, row.due, row.oldest_wait)
        for row in conn.execute(sql.QUEUE_LOAD)
    ]


def workflow_load(conn: Connection) -> list[WorkflowLoad]:
    return [
        WorkflowLoad(row.workflow, row.pending, row.running, row.waiting)
        for row in conn.execute(sql.WORKFLOW_LOAD)
    ]


@dataclass(frozen=True)
class Throughput:
    """Executions of one workflow that finished in a window, by how they ended."""

    workflow: str
    completed: int
    failed: int  # failed, timed out, compensated or compensation failed
    cancelled: int


def throughput(conn: Connection, since: datetime) -> list[Throughput]:
    return [
        Throughput(row.workflow, row.completed, row.failed, row.cancelled)
        for row in conn.execute(sql.THROUGHPUT, {"since": since})
    ]


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


def _execution(row: Any, steps: tuple[StepRecord, ...] | None) -> Execution:
    return Execution(
        id=str(row.id),
        workflow=row.workflow,
        version=row.workflow_version,
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
        debounce_key=row.debounce_key,
    )
