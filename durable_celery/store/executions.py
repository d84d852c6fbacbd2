"""Executions: claim, and the checkpoint that moves a claimed execution on.

Every function that writes for a claim takes its `Fence` (execution id and lock token)
and raises LockLost when the token no longer matches: the statement touched nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from durable_celery.errors import LockLost
from durable_celery.states import ExecutionStatus, StepStatus, Suspension
from durable_celery.store.connections import execute_hot
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import concurrency as concurrency_sql
from durable_celery.store.sql import executions as sql


@dataclass(frozen=True)
class Fence:
    """A claim's identity: every write made for it names both."""

    execution_id: str
    token: str

    def params(self) -> dict[str, Any]:
        return {"id": self.execution_id, "token": self.token}


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
    schedule_key: str | None = None
    scheduled_at: datetime | None = None
    # The execution's first claim ever (a claim after a wait or a rate limit's timer that
    # came before the first step completed is not).
    first_claim: bool = False
    # The version of the workflow class it started with: the one it runs on.
    version: int = 1
    # The starting caller's trace context (NULL without tracing), and the seconds from the
    # row becoming due to this claim: both for the observability signals.
    trace_context: str | None = None
    wake_lag: float = 0.0

    @property
    def id(self) -> str:
        return self.fence.execution_id

    @property
    def token(self) -> str:
        return self.fence.token


def claim(conn: Connection, execution_id: str, worker: str) -> ClaimedExecution | None:
    """Take the claim of one due, pending execution (see CLAIM); None when there is
    nothing to claim (running, finished, not yet due, unknown, or no free slot of its
    concurrency key: then it is queued for one, see CLAIM_LIMITED)."""
    params = {"id": execution_id, "worker": worker}
    row = execute_hot(conn, sql.CLAIM, params)
    if row is None:
        # CLAIM leaves executions with a concurrency key alone: this one statement more
        # is all that a limit costs a claim.
        row = execute_hot(conn, concurrency_sql.CLAIM_LIMITED, params)
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
        schedule_key=row.schedule_key,
        scheduled_at=row.scheduled_at,
        first_claim=bool(row.first_claim),
        version=row.workflow_version,
        trace_context=row.trace_context,
        wake_lag=max(0.0, float(row.wake_lag)),
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
    context: str | None  # None: unchanged by the step
    compensations: list[str] | None
    execution_error: str | None = None  # recorded when a saga starts


@dataclass(frozen=True)
class Finish:
    """End the execution as `status`, releasing the claim."""

    status: ExecutionStatus
    context: str | None  # None: unchanged by the step
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
    # A parent that waited on this execution (Finish); the next execution queued for the
    # concurrency slot this one gave back (Finish, RetryAfter).
    wakeups: list[Wakeup]
    # How the execution ended (Finish): the status asked for, or cancelled when a cancel
    # arrived during the last step.
    ended: ExecutionStatus | None = None


def checkpoint(
    conn: Connection,
    fence: Fence,
    run: StepRun,
    move: Advance | Finish | RetryAfter,
    step_slot: str | None = None,
) -> Checkpoint:
    """Record the step run and move the execution on, in one fenced statement (the hot
    path: run straight on the driver, server-side prepared). `step_slot`: the key of
    the step slot the attempt held, handed over to the next execution queued for it."""
    params = {**fence.params(), **_step_params(run), "step_slot_key": step_slot}
    if isinstance(move, Advance):
        params.update(
            context=move.context,
            next_step=move.next_step,
            compensations=_json_list(move.compensations),
            execution_error=move.execution_error,
        )
        if step_slot is None:
            row = _fenced(execute_hot(conn, sql.ADVANCE, params), fence)
            return Checkpoint(row.cancel_requested_at is not None, [])
        row = _fenced(execute_hot(conn, sql.ADVANCE_FROM_SLOT, params), fence)
        return Checkpoint(row.cancel_requested_at is not None, _next_for_step(row))
    if isinstance(move, RetryAfter):
        params.update(
            context=move.context,
            delay_seconds=move.delay_seconds,
            compensations=_json_list(move.compensations),
        )
        row = _fenced(execute_hot(conn, sql.RETRY_LATER, params), fence)
        return Checkpoint(row.cancel_requested_at is not None, _handed_over(row))
    params.update(
        status=move.status,
        context=move.context,
        result=move.result,
        execution_error=move.error,
    )
    row = _fenced(execute_hot(conn, sql.FINISH, params), fence)
    return Checkpoint(False, _parent_wakeup(row) + _handed_over(row), ExecutionStatus(row.status))


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


def defer(
    conn: Connection, fence: Fence, delay_seconds: float, step_slot: str | None = None
) -> list[Wakeup]:
    """Release the claim before the current step starts, due again after `delay_seconds`
    (see DEFER); returns the wake-ups of the executions its slots went to."""
    params = {**fence.params(), "delay_seconds": delay_seconds, "step_slot_key": step_slot}
    return _handed_over(_fenced(execute_hot(conn, sql.DEFER, params), fence))


@dataclass(frozen=True)
class Suspended:
    status: ExecutionStatus  # waiting; or pending, when what it waits for came meanwhile
    cancel_requested: bool
    wakeups: list[Wakeup]  # the next executions queued for the slots it gave back


def suspend(
    conn: Connection,
    fence: Fence,
    reason: Suspension,
    wake_at: datetime | None,
    step_slot: str | None = None,
) -> Suspended:
    """Release the claim while the current step waits (see SUSPEND)."""
    params = {**fence.params(), "suspended_on": reason, "wake_at": wake_at}
    row = _fenced(conn.execute(sql.SUSPEND, {**params, "step_slot_key": step_slot}).first(), fence)
    return Suspended(
        ExecutionStatus(row.status), row.cancel_requested_at is not None, _handed_over(row)
    )


def _step_params(run: StepRun) -> dict[str, Any]:
    return {
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


def _next_in_key(row: Any) -> list[Wakeup]:
    if row.next_id is None:
        return []
    return [Wakeup(str(row.next_id), row.next_queue, label=row.next_workflow)]


def _next_for_step(row: Any) -> list[Wakeup]:
    if row.step_next_id is None:
        return []
    return [Wakeup(str(row.step_next_id), row.step_next_queue, label=row.step_next_workflow)]


def _handed_over(row: Any) -> list[Wakeup]:
    """The executions the slots given back went to: the workflow's, then the step's."""
    return _next_in_key(row) + _next_for_step(row)


def _json_list(values: list[str] | None) -> str | None:
    return None if values is None else json.dumps(values)
