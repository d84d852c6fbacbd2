"""Executions: start, claim, and the checkpoint that moves a claimed execution on.

Every function that writes for a claim takes its `Fence` (execution id and lock token)
and raises LockLost when the token no longer matches: the statement touched nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from durable_celery.checks import (
    MAX_QUEUE_NAME_LENGTH,
    check_idempotency_key,
    check_priority,
    check_queue,
)
from durable_celery.errors import InvalidOption, InvalidPayload, LockLost
from durable_celery.ids import new_id
from durable_celery.states import ExecutionStatus, StepStatus, Suspension
from durable_celery.store.codec import Codec
from durable_celery.store.connections import execute_hot, schema_not_ready
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import executions as sql
from durable_celery.time import Duration, require_aware, to_timedelta


@dataclass(frozen=True)
class Fence:
    """A claim's identity: every write made for it names both."""

    execution_id: str
    token: str

    def params(self) -> dict[str, Any]:
        return {"id": self.execution_id, "token": self.token}


_PSYCOPG = PGDialect_psycopg()  # type: ignore[no-untyped-call]

# --- starting --------------------------------------------------------------------------


class StartsAs(Protocol):
    """What the store needs to know of a workflow to start it: a dsl Workflow class."""

    @property
    def name(self) -> str: ...

    @property
    def queue(self) -> str | None: ...

    def first_step(self) -> str: ...

    def route_name(self) -> str: ...

    def timeout_delta(self) -> timedelta | None: ...


@dataclass(frozen=True)
class NewExecution:
    """A validated execution to insert; build it with `NewExecution.of`."""

    id: str
    workflow: str
    first_step: str
    input: Mapping[str, Any]
    queue: str
    priority: int
    run_at: datetime | None
    delay_seconds: float
    timeout_seconds: float | None
    idempotency_key: str | None
    parent_id: str | None = None
    wake_parent: bool = False
    dispatch_now: bool = True  # due at once; else the poller wakes it at its time

    @classmethod
    def of(
        cls,
        workflow: StartsAs,
        input: Mapping[str, Any] | None,
        *,
        queue: str,
        priority: int = 0,
        delay: Duration | None = None,
        run_at: datetime | None = None,
        idempotency_key: str | None = None,
        parent_id: str | None = None,
        wake_parent: bool = False,
        max_queue_name_length: int = MAX_QUEUE_NAME_LENGTH,
    ) -> NewExecution:
        """Check every option (InvalidPayload / InvalidOption) before anything is written.
        `queue`: the one its wake-ups go to, as the runtime resolved it."""
        if input is None:
            input = {}
        if not isinstance(input, Mapping):
            raise InvalidPayload(
                f"the input of workflow {workflow.name!r} must be a dict, "
                f"got {type(input).__name__}"
            )
        if delay is not None and run_at is not None:
            raise InvalidOption("give either delay or run_at, not both")
        timeout = workflow.timeout_delta()
        if run_at is not None:
            run_at = require_aware(run_at, "run_at")
        delay_seconds = 0.0 if delay is None else to_timedelta(delay, "delay").total_seconds()
        return cls(
            id=new_id(),
            workflow=workflow.name,
            first_step=workflow.first_step(),
            input=input,
            queue=check_queue(queue, max_length=max_queue_name_length),
            priority=check_priority(priority),
            run_at=run_at,
            delay_seconds=delay_seconds,
            timeout_seconds=None if timeout is None else timeout.total_seconds(),
            idempotency_key=check_idempotency_key(idempotency_key),
            parent_id=parent_id,
            wake_parent=wake_parent,
            dispatch_now=run_at <= datetime.now(UTC) if run_at is not None else delay_seconds == 0,
        )


@dataclass(frozen=True)
class Started:
    id: str
    created: bool  # False: an execution with the same idempotency key existed already

    def wakeup(self, new: NewExecution) -> list[Wakeup]:
        """The wake-up to publish once the row is committed."""
        if not (self.created and new.dispatch_now):
            return []
        return [Wakeup(self.id, new.queue, label=new.workflow)]


def start_on_cursor(cursor: Any, new: NewExecution, codec: Codec) -> Started:
    """`start` on a DB-API cursor that is not SQLAlchemy's (Django's, in the caller's own
    transaction): the same statements, compiled for psycopg."""
    params = _start_params(new, codec)
    cursor.execute(_psycopg_text(sql.START), params)
    row = cursor.fetchone()
    if row is not None:
        return Started(str(row[0]), True)
    cursor.execute(_psycopg_text(sql.FIND_BY_IDEMPOTENCY_KEY), params)
    return Started(str(cursor.fetchone()[0]), False)


def _psycopg_text(statement: Any) -> str:
    return str(statement.compile(dialect=_PSYCOPG))


def start(executor: Connection | Session, new: NewExecution, codec: Codec) -> Started:
    """Insert a pending execution, or find the one its idempotency key names. Concurrent
    starts with one key serialise on the partial unique index: ON CONFLICT waits for the
    other insert, and the lookup then finds it committed."""
    params = _start_params(new, codec)
    try:
        row = executor.execute(sql.START, params).first()
        if row is None:
            row = executor.execute(sql.FIND_BY_IDEMPOTENCY_KEY, params).one()
            return Started(str(row.id), False)
    except ProgrammingError as exc:
        # A caller's own session is not opened by the store: say what is missing here too.
        if isinstance(exc.orig, psycopg.errors.UndefinedTable):
            raise schema_not_ready("the database of this session") from exc
        raise
    return Started(str(row.id), True)


def _start_params(new: NewExecution, codec: Codec) -> dict[str, Any]:
    return {
        "id": new.id,
        "workflow": new.workflow,
        "queue": new.queue,
        "priority": new.priority,
        "input": codec.encode_incoming(new.input, f"the input of workflow {new.workflow!r}"),
        "first_step": new.first_step,
        "run_at": new.run_at,
        "delay_seconds": new.delay_seconds,
        "dispatch_now": new.dispatch_now,
        "timeout_seconds": new.timeout_seconds,
        "idempotency_key": new.idempotency_key,
        "parent_id": new.parent_id,
        "wake_parent": new.wake_parent,
    }


# --- claiming --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedExecution:
    """An execution this worker now runs, as the claim found it."""

    fence: Fence
    workflow: str
    input: dict[str, Any]
    context: dict[str, Any]
    current_step: str | None
    attempt: int
    step_runs: int
    queue: str
    deadline_at: datetime | None
    suspended_on: Suspension | None
    fanout_seq: int | None
    fanout_failed: bool
    compensations: list[str] | None
    error: dict[str, Any] | None
    cancel_requested: bool

    @property
    def id(self) -> str:
        return self.fence.execution_id

    @property
    def token(self) -> str:
        return self.fence.token


def claim(conn: Connection, execution_id: str, worker: str) -> ClaimedExecution | None:
    """Take the claim of one due, pending execution (see CLAIM); None when there is
    nothing to claim (running, finished, not yet due, unknown)."""
    row = conn.execute(sql.CLAIM, {"id": execution_id, "worker": worker}).first()
    conn.commit()
    if row is None:
        return None
    return ClaimedExecution(
        fence=Fence(str(row.id), str(row.lock_token)),
        workflow=row.workflow,
        input=row.input,
        context=row.context,
        current_step=row.current_step,
        attempt=row.step_attempt,
        step_runs=row.step_runs,
        queue=row.queue,
        deadline_at=row.deadline_at,
        suspended_on=None if row.suspended_on is None else Suspension(row.suspended_on),
        fanout_seq=row.fanout_seq,
        fanout_failed=row.fanout_failed,
        compensations=row.compensations,
        error=row.error,
        cancel_requested=row.cancel_requested_at is not None,
    )


@dataclass(frozen=True)
class CompletedStep:
    name: str
    output: Any
    latest: bool  # the latest completed run of this step (its output is ctx.results[name])


def completed_steps(conn: Connection, execution_id: str) -> list[CompletedStep]:
    """The completed step runs, in the order they ran."""
    return [
        CompletedStep(row.step_name, row.output, row.latest)
        for row in conn.execute(sql.COMPLETED_STEPS, {"id": execution_id})
    ]


# --- the checkpoint ----------------------------------------------------------------------


@dataclass(frozen=True)
class StepRun:
    """One attempt of one step, as recorded in its `step_executions` row. JSON fields are
    encoded text."""

    step_name: str
    sequence: int
    attempt: int
    status: StepStatus
    started_at: datetime
    duration_ms: float
    worker: str
    output: str | None = None
    error: str | None = None
    logs: str | None = None


@dataclass(frozen=True)
class Advance:
    """Go on to `next_step` under the same claim."""

    next_step: str
    context: str
    compensations: list[str] | None
    execution_error: str | None = None  # recorded when a saga starts


@dataclass(frozen=True)
class Finish:
    """End the execution as `status`, releasing the claim."""

    status: ExecutionStatus
    context: str
    result: str | None
    error: str | None


@dataclass(frozen=True)
class RetryAfter:
    """Release the execution onto a durable timer; the poller wakes it when due."""

    delay_seconds: float
    context: str
    compensations: list[str] | None


@dataclass(frozen=True)
class Checkpoint:
    cancel_requested: bool  # a cancel waits at this step boundary
    wakeups: list[Wakeup]  # a parent that waited on this execution (Finish)
    # How the execution ended (Finish): the status asked for, or cancelled when a cancel
    # arrived during the last step.
    ended: ExecutionStatus | None = None


def checkpoint(
    conn: Connection, fence: Fence, run: StepRun, move: Advance | Finish | RetryAfter
) -> Checkpoint:
    """Record the step run and move the execution on, in one fenced statement (the hot
    path: run straight on the driver, server-side prepared)."""
    params = {**fence.params(), **_step_params(run)}
    if isinstance(move, Advance):
        params.update(
            context=move.context,
            next_step=move.next_step,
            compensations=_json_list(move.compensations),
            execution_error=move.execution_error,
        )
        row = _fenced(execute_hot(conn, sql.ADVANCE, params), fence)
        return Checkpoint(row.cancel_requested_at is not None, [])
    if isinstance(move, RetryAfter):
        params.update(
            context=move.context,
            delay_seconds=move.delay_seconds,
            compensations=_json_list(move.compensations),
        )
        row = _fenced(execute_hot(conn, sql.RETRY_LATER, params), fence)
        return Checkpoint(row.cancel_requested_at is not None, [])
    params.update(
        status=move.status,
        context=move.context,
        result=move.result,
        execution_error=move.error,
    )
    row = _fenced(execute_hot(conn, sql.FINISH, params), fence)
    return Checkpoint(False, _parent_wakeup(row), ExecutionStatus(row.status))


def fail_without_step(conn: Connection, fence: Fence, error: str) -> list[Wakeup]:
    """End a claimed execution that cannot run at all; returns its waiting parent's
    wake-up."""
    row = execute_hot(conn, sql.FAIL_WITHOUT_STEP, {**fence.params(), "error": error})
    if not row.fenced:
        raise LockLost(f"execution {fence.execution_id}: lock token no longer matches")
    return _parent_wakeup(row)


def release(conn: Connection, fence: Fence) -> None:
    """Release the claim at a step boundary; the execution is pending and due now."""
    _fenced(conn.execute(sql.RELEASE, fence.params()).first(), fence)


@dataclass(frozen=True)
class Suspended:
    status: ExecutionStatus  # waiting; or pending, when what it waits for came meanwhile
    cancel_requested: bool


def suspend(
    conn: Connection, fence: Fence, reason: Suspension, wake_at: datetime | None
) -> Suspended:
    """Release the claim while the current step waits (see SUSPEND)."""
    row = conn.execute(
        sql.SUSPEND, {**fence.params(), "suspended_on": reason, "wake_at": wake_at}
    ).first()
    row = _fenced(row, fence)
    return Suspended(ExecutionStatus(row.status), row.cancel_requested_at is not None)


def _step_params(run: StepRun) -> dict[str, Any]:
    return {
        "step_id": new_id(),
        "step_name": run.step_name,
        "sequence": run.sequence,
        "attempt": run.attempt,
        "step_status": run.status,
        "output": run.output,
        "error": run.error,
        "logs": run.logs,
        "started_at": run.started_at,
        "duration_ms": run.duration_ms,
        "worker": run.worker,
    }


def _fenced(row: Any, fence: Fence) -> Any:
    if row is None:
        raise LockLost(f"execution {fence.execution_id}: lock token no longer matches")
    return row


def _parent_wakeup(row: Any) -> list[Wakeup]:
    if row.parent_id is None:
        return []
    return [Wakeup(str(row.parent_id), row.parent_queue, label=row.parent_workflow)]


def _json_list(values: list[str] | None) -> str | None:
    return None if values is None else json.dumps(values)
