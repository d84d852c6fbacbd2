"""Claim an execution and run its steps inline, one checkpoint statement per step.

One wake-up runs as many steps as it can: after a step's checkpoint commits, the next
step starts in the same task with the same claim, so a step costs one transaction and
no broker round trip. Every write is fenced by the claim's lock token. The run stops
when the workflow ends, when it must wait (a retry timer, a fan-out, a child), or when
its claim is taken away.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from durable_celery import fanout, sql
from durable_celery.context import StepContext
from durable_celery.db import encode_json, execute_hot, is_disconnect
from durable_celery.definition import StepSpec, Workflow, get_workflow
from durable_celery.errors import (
    ChildWorkflowFailed,
    DecisionError,
    DurableError,
    FanoutFailed,
    LockLost,
    NonDeterministicStep,
    StepLimitExceeded,
    StepTimeout,
    UnknownWorkflow,
    WaitTimeout,
    WorkflowTimedOut,
)
from durable_celery.heartbeat import heartbeat_for
from durable_celery.models import FINISHED_STATUSES
from durable_celery.runtime import ITEM_TASK, Runtime
from durable_celery.timeouts import DEADLINE, Interrupted, limit_for, time_limit
from durable_celery.waits import ClaimLost, Suspend, Waits

logger = logging.getLogger("durable_celery.executor")
_UNLIMITED = 1 << 62
# Attempts abandoned by dead workers (stale recovery) beyond a step's retry budget before
# the execution fails: a step that kills its worker every time must not loop forever.
MAX_ABANDONED_ATTEMPTS = 3


@dataclass(frozen=True)
class _Compensate:
    """A failure that starts the saga: the loop goes on with compensation `first`."""

    first: str


@dataclass(frozen=True)
class Claim:
    execution_id: str
    workflow: str
    input: dict[str, Any]
    context: dict[str, Any]
    current_step: str | None
    attempt: int
    step_runs: int
    token: Any
    queue: str
    deadline_at: datetime | None
    suspended_on: str | None
    fanout_seq: int | None
    fanout_failed: bool
    compensations: list[str] | None
    error: dict[str, Any] | None
    cancel_requested: bool


def claim_execution(conn: Connection, execution_id: str, worker: str) -> Claim | None:
    row = conn.execute(sql.CLAIM, {"id": execution_id, "worker": worker}).first()
    conn.commit()
    if row is None:
        return None
    return Claim(
        execution_id=str(row.id),
        workflow=row.workflow,
        input=row.input,
        context=row.context,
        current_step=row.current_step,
        attempt=row.step_attempt,
        step_runs=row.step_runs,
        token=row.lock_token,
        queue=row.queue,
        deadline_at=row.deadline_at,
        suspended_on=row.suspended_on,
        fanout_seq=row.fanout_seq,
        fanout_failed=row.fanout_failed,
        compensations=row.compensations,
        error=row.error,
        cancel_requested=row.cancel_requested_at is not None,
    )


def describe_error(
    exc: BaseException, step: str | None = None, attempt: int | None = None
) -> dict[str, Any]:
    kind = type(exc)
    error: dict[str, Any] = {
        "type": kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}",
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }
    if step is not None:
        error["step"] = step
        error["attempt"] = attempt
    return error


def run_execution(runtime: Runtime, execution_id: str) -> str | None:
    """Handle one wake-up. Returns the status the execution was left in, or None when
    there was nothing to claim (duplicate, early or forged wake-up) or the claim was lost."""
    worker = runtime.worker_id
    for tries_left in (1, 0):
        # Autocommit: every hot-path statement is a single fenced statement, atomic on its
        # own, so each costs one round trip and one commit with no BEGIN/COMMIT around it.
        with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            try:
                claim = claim_execution(conn, execution_id, worker)
            except DBAPIError as exc:
                # A connection that died with the database (restart) is replaced once;
                # nothing was claimed, so trying again is safe.
                if tries_left and is_disconnect(exc):
                    continue
                raise
            if claim is None:
                return None
            try:
                with heartbeat_for(runtime).hold("execution", claim.execution_id, claim.token):
                    return _Run(runtime, conn, claim, worker).run()
            except LockLost:
                logger.warning(
                    "execution %s: claim lost to another worker or a control call; stopping "
                    "without writing",
                    execution_id,
                )
                return None
    return None


class _Run:
    def __init__(self, runtime: Runtime, conn: Connection, claim: Claim, worker: str) -> None:
        self.runtime = runtime
        self.conn = conn
        self.claim = claim
        self.worker = worker
        self.limit = runtime.settings.max_payload_bytes
        self.step_runs = claim.step_runs
        self.context_json = encode_json(claim.context, "context", _UNLIMITED)
        self.compensations = claim.compensations
        self.visits: dict[str, int] = {}
        self.item_wakeups: list[tuple[str, str]] = []

    # --- the loop --------------------------------------------------------------------

    def run(self) -> str:
        claim = self.claim
        try:
            self.runtime.import_workflows()
            workflow = get_workflow(claim.workflow)
        except UnknownWorkflow as unknown:
            return self._fail_without_step(unknown)
        self.workflow = workflow
        if claim.cancel_requested:
            return self._stop("cancelled", claim.error or {"message": "cancelled"})
        if claim.deadline_at is not None and claim.deadline_at <= datetime.now(UTC):
            return self._stop("timed_out", _deadline_error())
        name = claim.current_step or workflow.__steps__[0].name
        results: dict[str, Any] = {}
        if self.step_runs:
            for row in self.conn.execute(sql.COMPLETED_OUTPUTS, {"id": claim.execution_id}):
                results[row.step_name] = row.output
                self.visits[row.step_name] = row.visits
        ctx = StepContext(
            execution_id=claim.execution_id,
            workflow=workflow.name,
            input=claim.input,
            context=claim.context,
            results=results,
            failure=claim.error,
            children=self,
            waits=Waits(self),
        )
        attempt = claim.attempt
        resuming_fanout = claim.suspended_on == "fanout"
        while True:
            if heartbeat_for(self.runtime).lost("execution", claim.execution_id):
                # The heartbeat found the claim taken back: start no further step.
                raise LockLost(f"execution {claim.execution_id}: claim taken back")
            spec = workflow.step_spec(name)
            if spec is None:
                return self._fail_without_step(
                    DurableError(
                        f"step {name!r} no longer exists in workflow {workflow.name!r} (steps now: "
                        f"{', '.join(workflow.step_names())}); deploy a version that still has it, "
                        f"or cancel the execution"
                    )
                )
            if attempt > spec.retry.max_attempts + MAX_ABANDONED_ATTEMPTS:
                return self._fail_without_step(
                    StepLimitExceeded(
                        f"step {spec.name!r} was started {attempt} times without finishing: its "
                        f"worker died each time (killed, out of memory?); giving up"
                    )
                )
            ctx._enter_step(spec.name, attempt)
            started_at = datetime.now(UTC)
            clock = time.perf_counter()
            failure: Exception | None = None
            try:
                output = self._attempt(spec, ctx, resuming_fanout)
                output_json = encode_json(output, f"output of step {spec.name!r}", self.limit)
                next_name = self._next_step(spec, output)
                context_json = encode_json(dict(ctx._context), "context", self.limit)
            except Suspend as suspend:
                if suspend.reason == "fanout":
                    # START_FANOUT already released the claim; dispatch the first items.
                    self.runtime.send_wakeups(self.item_wakeups, task=ITEM_TASK)
                    return "waiting"
                return self._suspend(suspend.reason, suspend.wake_at)
            except ClaimLost:
                raise LockLost(
                    f"execution {claim.execution_id}: claim lost during a wait"
                ) from None
            except Interrupted as interrupted:
                if interrupted.reason == DEADLINE:
                    return self._stop("timed_out", _deadline_error())
                failure = StepTimeout(
                    f"step {spec.name!r} ran longer than its timeout of {spec.timeout}"
                )
            except Exception as error:
                failure = error
            resuming_fanout = False
            if failure is not None:
                outcome = self._failed(spec, attempt, failure, started_at, clock, ctx)
                if isinstance(outcome, str):
                    return outcome
                # Saga: go on in compensation mode, from the last checkpoint's context.
                ctx._context.clear()
                ctx._context.update(json.loads(self.context_json))
                ctx.failure = self.claim.error
                name, attempt = outcome.first, 1
                continue
            record = self._step_record(
                spec, attempt, "completed", started_at, clock, ctx, output=output_json
            )
            self.visits[spec.name] = self.visits.get(spec.name, 0) + 1
            if next_name is None:
                status = "compensated" if self.compensations is not None else "completed"
                self._finish(
                    record,
                    status,
                    context_json,
                    output_json if status == "completed" else None,
                    None
                    if status == "completed"
                    else encode_json(self.claim.error, "error", _UNLIMITED),
                )
                return status
            if spec.kind == "compensation":
                self.compensations = (self.compensations or [])[1:]
            if self._advance(record, context_json, next_name):
                return self._stop("cancelled", {"message": "cancelled"})
            self.context_json = context_json
            if spec.kind != "compensation":
                results[spec.name] = output
            name, attempt = next_name, 1

    def _attempt(self, spec: StepSpec, ctx: StepContext, resuming_fanout: bool) -> Any:
        if spec.is_fanout:
            if resuming_fanout:
                return fanout.collect(self.conn, spec, self.claim)
            if fanout.start(self, spec, ctx):
                raise Suspend("fanout")
            return {} if spec.kind == "parallel" else []
        seconds, reason = limit_for(spec.timeout, self.claim.deadline_at)
        with time_limit(seconds, reason):
            return spec.fn(ctx)

    def _next_step(self, spec: StepSpec, output: Any) -> str | None:
        workflow = self.workflow
        if self.step_runs + 1 >= workflow.max_step_runs:
            raise StepLimitExceeded(
                f"workflow {workflow.name!r} ran {self.step_runs + 1} steps, the limit set by "
                f"max_step_runs={workflow.max_step_runs}; a decision probably loops forever"
            )
        if spec.kind == "compensation":
            remaining = self.compensations or []
            return remaining[0] if remaining else None
        if spec.kind == "decision" and output is not None:
            if not isinstance(output, str) or output not in workflow.__step_index__:
                raise DecisionError(
                    f"decision {spec.name!r} of workflow {workflow.name!r} returned {output!r}, "
                    f"which is not a step; allowed: {', '.join(workflow.step_names())} or None"
                )
            return output
        index = workflow.__step_index__[spec.name] + 1
        return workflow.__steps__[index].name if index < len(workflow.__steps__) else None

    # --- failures, retries and compensation ------------------------------------------

    def _failed(
        self,
        spec: StepSpec,
        attempt: int,
        exc: Exception,
        started_at: datetime,
        clock: float,
        ctx: StepContext,
    ) -> str | _Compensate:
        """Record a failed attempt: retry later, end the execution, or start the saga's
        compensations (returned, for the loop to run under the same claim)."""
        error = describe_error(exc, spec.name, attempt)
        error_json = encode_json(error, "error", _UNLIMITED)
        record = self._step_record(
            spec, attempt, "failed", started_at, clock, ctx, error=error_json
        )
        retryable = not isinstance(
            exc, (FanoutFailed, DecisionError, StepLimitExceeded, WaitTimeout, NonDeterministicStep)
        )
        if retryable and spec.retry.should_retry(exc, attempt):
            delay = spec.retry.delay_after(attempt)
            logger.info(
                "execution %s: step %s attempt %d failed (%r); retry in %s",
                self.claim.execution_id,
                spec.name,
                attempt,
                exc,
                delay,
            )
            row = self._write(
                sql.RETRY_LATER,
                {
                    **record,
                    "context": self.context_json,
                    "delay_seconds": delay.total_seconds(),
                    "compensations": self._compensations_json(),
                },
            )
            if row.cancel_requested_at is not None:
                return self._stop("cancelled", {"message": "cancelled"}, holding_claim=False)
            return "pending"
        logger.info("execution %s: step %s failed: %r", self.claim.execution_id, spec.name, exc)
        if self.compensations is not None or spec.kind == "compensation":
            combined = dict(self.claim.error or {})
            combined["compensation_error"] = error
            self._finish(
                record,
                "compensation_failed",
                self.context_json,
                None,
                encode_json(combined, "error", _UNLIMITED),
            )
            return "compensation_failed"
        plan = self._compensation_plan()
        if not plan:
            self._finish(record, "failed", self.context_json, None, error_json)
            return "failed"
        # Saga: record the failure, then run the undo steps inline, newest first.
        self.claim = replace(self.claim, error=error)
        self.compensations = plan[1:]
        if self._advance(record, self.context_json, plan[0], execution_error=error_json):
            return self._stop("cancelled", {"message": "cancelled"})
        return _Compensate(plan[0])

    def _compensation_plan(self) -> list[str]:
        rows = self.conn.execute(sql.COMPLETED_SEQUENCE, {"id": self.claim.execution_id})
        plan = []
        for row in rows:
            spec = self.workflow.step_spec(row.step_name)
            if spec is not None and spec.compensate:
                plan.append(spec.compensate)
        return list(reversed(plan))

    def _compensations_json(self) -> str | None:
        if self.compensations is None:
            return None
        return json.dumps(self.compensations)

    # --- writes ----------------------------------------------------------------------

    def _step_record(
        self,
        spec: StepSpec,
        attempt: int,
        status: str,
        started_at: datetime,
        clock: float,
        ctx: StepContext,
        *,
        output: str | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        self.step_runs += 1
        return {
            "id": self.claim.execution_id,
            "token": self.claim.token,
            "step_id": str(uuid.uuid4()),
            "step_name": spec.name,
            "sequence": self.step_runs,
            "attempt": attempt,
            "step_status": status,
            "output": output,
            "error": error,
            "logs": encode_json(ctx.log_lines, "logs", _UNLIMITED) if ctx.log_lines else None,
            "started_at": started_at,
            "duration_ms": (time.perf_counter() - clock) * 1000,
            "worker": self.worker,
        }

    def _advance(
        self,
        record: dict[str, Any],
        context_json: str,
        next_step: str,
        execution_error: str | None = None,
    ) -> bool:
        """Checkpoint and move on; True when a cancel request is waiting at this boundary."""
        row = self._write(
            sql.ADVANCE,
            {
                **record,
                "context": context_json,
                "next_step": next_step,
                "compensations": self._compensations_json(),
                "execution_error": execution_error,
            },
        )
        return row.cancel_requested_at is not None

    def _finish(
        self,
        record: dict[str, Any],
        status: str,
        context_json: str,
        result: str | None,
        execution_error: str | None,
    ) -> None:
        row = self._write(
            sql.FINISH,
            {
                **record,
                "status": status,
                "context": context_json,
                "result": result,
                "execution_error": execution_error,
            },
        )
        if row.wake_parent:
            parent_id, queue = row.wake_parent.split(" ", 1)
            self.runtime.send_wakeups([(parent_id, queue)])

    def _suspend(self, reason: str, wake_at: datetime | None = None) -> str:
        row = self.conn.execute(
            sql.SUSPEND,
            {
                "id": self.claim.execution_id,
                "token": self.claim.token,
                "suspended_on": reason,
                "wake_at": wake_at,
            },
        ).first()
        if row is None:
            raise LockLost(f"execution {self.claim.execution_id}: lock token no longer matches")
        if row.cancel_requested_at is not None:
            return self._stop("cancelled", {"message": "cancelled"}, holding_claim=False)
        if row.status == "pending":
            # What it waits for happened meanwhile: wake it again at once.
            self.runtime.send_wakeups([(self.claim.execution_id, self.claim.queue)])
        return str(row.status)

    def _stop(self, status: str, error: dict[str, Any], *, holding_claim: bool = True) -> str:
        from durable_celery.control import stop_executions

        with self.runtime.engine.begin() as conn:
            wakeups = stop_executions(
                conn,
                [self.claim.execution_id],
                status,
                error,
                include_running=True,
                token=self.claim.token if holding_claim else None,
            )
        self.runtime.send_wakeups(wakeups)
        return status

    def _fail_without_step(self, exc: Exception) -> str:
        error_json = encode_json(describe_error(exc), "error", _UNLIMITED)
        self._write(
            sql.FAIL_WITHOUT_STEP,
            {
                "id": self.claim.execution_id,
                "token": self.claim.token,
                "error": error_json,
            },
        )
        # A parent waiting on this execution (run_child) must hear that it ended.
        woken = self.conn.execute(sql.WAKE_PARENTS_OF, {"ids": [self.claim.execution_id]})
        self.runtime.send_wakeups(
            (str(row.id), row.queue) for row in woken if row.status == "pending"
        )
        return "failed"

    def _write(self, statement: Any, params: dict[str, Any]) -> Any:
        row = execute_hot(self.conn, statement, params)
        if row is None:
            raise LockLost(f"execution {self.claim.execution_id}: lock token no longer matches")
        return row

    # --- child workflows (ChildStarter) ----------------------------------------------

    def start_child(
        self,
        ctx: StepContext,
        workflow: type[Workflow] | str,
        input: dict[str, Any] | None,
        queue: str | None,
        wait: bool,
    ) -> Any:
        from durable_celery.handle import ExecutionHandle
        from durable_celery.starting import start_execution

        child_class = get_workflow(workflow) if isinstance(workflow, str) else workflow
        call = ctx._child_calls
        ctx._child_calls += 1
        visit = self.visits.get(ctx.step, 0)
        key = f"child:{self.claim.execution_id}:{ctx.step}:{visit}:{call}"
        handle: ExecutionHandle = start_execution(
            child_class,
            input,
            queue=queue,
            idempotency_key=key,
            parent_id=self.claim.execution_id,
            wake_parent=wait,
            runtime=self.runtime,
        )
        if not wait:
            return handle.id
        row = handle._row()
        if row.status == "completed":
            return row.result
        if row.status in FINISHED_STATUSES:  # finished, and not completed
            raise ChildWorkflowFailed(handle.id, row.status, row.error)
        raise Suspend("child")


def _deadline_error() -> dict[str, Any]:
    return {
        "type": f"{WorkflowTimedOut.__module__}.WorkflowTimedOut",
        "message": "the workflow deadline passed",
    }
