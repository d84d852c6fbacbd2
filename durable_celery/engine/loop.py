"""The step loop: claim an execution and run its steps inline, one checkpoint per step.

One wake-up runs as many steps as it can: after a step's checkpoint commits, the next
step starts in the same task with the same claim, so a step costs one statement and no
broker round trip. Every write is fenced by the claim's lock token. The run stops when
the workflow ends, when it must wait (a retry timer, a fan-out, a child, a wait), or
when its claim is taken away. Where to go after a step is decided by `outcomes` (pure);
this module applies the decision.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from durable_celery import signals
from durable_celery.dsl import StepContext, StepKind, StepSpec, Workflow, get_workflow
from durable_celery.engine import aio, capture, fanout, gates, outcomes
from durable_celery.engine.children import StepChildren
from durable_celery.engine.claims import run_claimed
from durable_celery.engine.heartbeat import heartbeat_for
from durable_celery.engine.interrupts import ClaimLost, Suspend
from durable_celery.engine.recording import Recorder, Timing
from durable_celery.engine.timeouts import Interrupted, Limit, limit_for
from durable_celery.engine.waits import StepWaits
from durable_celery.errors import (
    DurableError,
    LockLost,
    StepTimeout,
    UnknownWorkflow,
    UnknownWorkflowVersion,
    cancellation_record,
    deadline_record,
)
from durable_celery.runtime import Runtime
from durable_celery.states import ExecutionStatus, StepStatus, Suspension, WakeTarget
from durable_celery.store import executions
from durable_celery.store.codec import encode_record
from durable_celery.store.executions import Advance, ClaimedExecution, RetryAfter, StepRun

logger = logging.getLogger("durable_celery.executor")

Next = tuple[str, int]  # the step to run next under the same claim, and its attempt


def run_execution(runtime: Runtime, execution_id: str) -> ExecutionStatus | None:
    """Handle one wake-up. Returns the status the execution was left in, or None when
    there was nothing to claim (duplicate, early or forged wake-up) or the claim was lost."""
    return run_claimed(
        runtime,
        WakeTarget.EXECUTION,
        execution_id,
        executions.claim,
        lambda conn, claim: ExecutionRun(runtime, conn, claim).run_reported(),
    )


class ExecutionRun:
    """One claim of one execution, from the claim until the run stops."""

    def __init__(self, runtime: Runtime, conn: Connection, claim: ClaimedExecution) -> None:
        self.runtime = runtime
        self.conn = conn
        self.claim = claim
        self.codec = runtime.codec
        self.record = Recorder(runtime, conn, claim)
        # The saga: the undo steps still to run after the current one (None outside one),
        # and the error that failed the execution.
        self.compensations = claim.compensations
        self.failure = claim.error
        # The durable context: the step's `ctx.put`s land here; the last checkpoint's copy
        # is what a failed step falls back to.
        self.context: dict[str, Any] = dict(claim.context)
        self.checkpointed_context = encode_record(claim.context, "context")
        self.results: dict[str, Any] = {}
        self.completed: list[str] = []  # completed step runs, in order
        self.visits: Counter[str] = Counter()

    def run_reported(self) -> ExecutionStatus:
        """`run`, between the signals that bracket a claim (for metrics and traces)."""
        status = None
        self.record.claimed()
        try:
            status = self.run()
            return status
        finally:
            self.record.released(status)

    def run(self) -> ExecutionStatus:
        claim = self.claim
        try:
            self.runtime.import_workflows()
            # The version it started with: its steps, by name, are the ones it runs.
            self.workflow: type[Workflow] = get_workflow(claim.workflow, claim.version)
        except UnknownWorkflowVersion as unknown:
            if unknown.versions and unknown.version > max(unknown.versions):
                # A rolling deploy: clients already start the new version while this worker
                # still runs the old code. A worker that has it will take it.
                logger.warning(
                    "%s[%s]: version %d is newer than this worker's (%s); leaving it for a "
                    "worker that has it, again in %.0f s",
                    claim.workflow,
                    claim.id,
                    unknown.version,
                    ", ".join(map(str, unknown.versions)),
                    self.runtime.settings.newer_version_delay,
                )
                return self.record.defer(self.runtime.settings.newer_version_delay)
            logger.error("%s[%s]: %s; failing the execution", claim.workflow, claim.id, unknown)
            return self.record.fail_without_step(outcomes.describe_error(unknown), unknown)
        except UnknownWorkflow as unknown:
            logger.error("%s[%s]: %s; failing the execution", claim.workflow, claim.id, unknown)
            return self.record.fail_without_step(outcomes.describe_error(unknown), unknown)
        if claim.cancel_requested:
            return self.record.end(ExecutionStatus.CANCELLED, cancellation_record(None))
        if claim.deadline_at is not None and claim.deadline_at <= datetime.now(UTC):
            return self.record.end(ExecutionStatus.TIMED_OUT, deadline_record())
        if claim.step_runs:
            self._load_history()
        elif claim.first_claim:
            signals.execution_started.send(
                sender=claim.workflow, execution_id=claim.id, workflow=claim.workflow
            )
        self.ctx = StepContext(
            execution_id=claim.id,
            workflow=self.workflow.name,
            input=claim.input,
            context=self.context,
            results=self.results,
            failure=self.failure,
            schedule_key=claim.schedule_key,
            scheduled_at=claim.scheduled_at,
        )
        heartbeat = heartbeat_for(self.runtime)
        step: Next | ExecutionStatus = (
            claim.current_step or self.workflow.first_step(),
            claim.attempt,
        )
        resuming_fanout = claim.suspended_on is Suspension.FANOUT
        budget = self.runtime.wake_time_budget
        began = time.monotonic()
        while not isinstance(step, ExecutionStatus):
            if heartbeat.lost(WakeTarget.EXECUTION, claim.id):
                # The heartbeat found the claim taken back: start no further step.
                raise LockLost(f"execution {claim.id}: claim taken back")
            if budget is not None and time.monotonic() - began > budget:
                # This task has run long enough: a fresh one goes on from this boundary.
                return self.record.hand_over()
            name, attempt = step
            spec = self.workflow.step_spec(name)
            if spec is None:
                vanished = DurableError(
                    f"step {name!r} no longer exists in workflow {self.workflow.name!r} (steps "
                    f"now: {', '.join(self.workflow.step_names())}); deploy a version that "
                    f"still has it, or cancel the execution"
                )
                return self.record.fail_without_step(outcomes.describe_error(vanished))
            too_often = outcomes.abandoned_too_often(spec, attempt)
            if too_often is not None:
                return self.record.fail_without_step(outcomes.describe_error(too_often))
            # A slot of the step's concurrency key, then a start of its rate limit.
            stopped = gates.admit(self.record, self.workflow.name, spec)
            if stopped is not None:
                return stopped
            step = self._attempt(spec, attempt, resuming_fanout)
            resuming_fanout = False
        return step

    def _load_history(self) -> None:
        for done in executions.completed_steps(self.conn, self.claim.id):
            self.completed.append(done.name)
            self.visits[done.name] += 1
            if done.latest:
                self.results[done.name] = done.output

    # --- one attempt ---------------------------------------------------------------------

    def _attempt(
        self, spec: StepSpec, attempt: int, resuming_fanout: bool
    ) -> Next | ExecutionStatus:
        visit = self.visits[spec.name]
        self.ctx.enter(
            spec.name,
            attempt,
            waits=StepWaits(self.conn, self.claim.fence, spec.name, visit),
            children=StepChildren(
                self.runtime, self.claim.id, spec.name, visit, self.claim.trace_context
            ),
        )
        logger.info(
            "%s[%s]: step %s attempt %d started",
            self.workflow.name,
            self.claim.id,
            spec.name,
            attempt,
        )
        timing = Timing.now()
        return self.record.settle(
            spec.name,
            attempt,
            timing,
            self.checkpointed_context,
            lambda: self._settle(spec, attempt, resuming_fanout, timing),
        )

    def _settle(
        self, spec: StepSpec, attempt: int, resuming_fanout: bool, timing: Timing
    ) -> Next | ExecutionStatus:
        """Run the attempt and record how it ended."""
        changes = self.ctx.context_changes
        try:
            output = self._call(spec, resuming_fanout)
            output_json = self.codec.encode(output, f"output of step {spec.name!r}")
            next_name = outcomes.next_step(
                self.workflow, spec, output, self.record.step_runs, self.compensations
            )
            result_json = output_json
            if next_name is None and spec.only_routes:
                result = outcomes.result_after_routing(self.workflow, self.completed, self.results)
                result_json = self.codec.encode(result, "result")
            context_json = (
                None
                if self.ctx.context_changes == changes
                else self.codec.encode(self.context, "context")
            )
        except Suspend as suspend:
            if suspend.reason is Suspension.FANOUT:
                # START_FANOUT already released the claim; dispatch the first items.
                self.runtime.publish(suspend.wakeups)
                self.record.suspended(Suspension.FANOUT)
                return ExecutionStatus.WAITING
            return self.record.suspend(suspend.reason, suspend.wake_at)
        except ClaimLost:
            raise LockLost(f"execution {self.claim.id}: claim lost during a wait") from None
        except Interrupted as interrupted:
            if interrupted.limit is Limit.DEADLINE:
                return self.record.end(ExecutionStatus.TIMED_OUT, deadline_record())
            timeout = StepTimeout(
                f"step {spec.name!r} ran longer than its timeout of {spec.timeout}"
            )
            return self._failed(spec, attempt, timeout, timing)
        except (Exception, SystemExit) as error:
            # sys.exit() in a step fails the step; it does not end the worker process.
            return self._failed(spec, attempt, error, timing)
        run = self._step_run(spec, attempt, StepStatus.COMPLETED, timing, output=output_json)
        return self._completed(spec, run, output, result_json, context_json, next_name)

    def _call(self, spec: StepSpec, resuming_fanout: bool) -> Any:
        # What the step prints and logs is kept with the attempt (ctx.log_lines).
        with capture.step_output(self.ctx.log_lines, self.codec.max_log_bytes):
            if spec.is_fanout:
                if resuming_fanout:
                    return fanout.collect(self.conn, self.claim, spec)
                return fanout.fan_out(
                    self.conn, self.claim, spec, self.ctx, self.record.step_runs, self.codec
                )
            seconds, limit = limit_for(spec.timeout, self.claim.deadline_at)
            return aio.call(spec.fn, self.ctx, seconds=seconds, limit=limit)

    def _completed(
        self,
        spec: StepSpec,
        run: StepRun,
        output: Any,
        result_json: str,
        context_json: str | None,
        next_name: str | None,
    ) -> Next | ExecutionStatus:
        """`result_json`: the execution's result, should it end after this step."""
        self.completed.append(spec.name)
        self.visits[spec.name] += 1
        logger.info(
            "%s[%s]: step %s attempt %d completed in %.1f ms",
            self.workflow.name,
            self.claim.id,
            spec.name,
            run.attempt,
            run.duration_ms,
        )
        if next_name is None:
            if self.compensations is None:
                return self.record.finish(
                    run, ExecutionStatus.COMPLETED, context_json, result=result_json
                )
            return self.record.finish(
                run, ExecutionStatus.COMPENSATED, context_json, error=self.failure or {}
            )
        if spec.kind is StepKind.COMPENSATION:
            self.compensations = (self.compensations or [])[1:]
        if self.record.checkpoint(
            run, Advance(next_name, context_json, self.compensations)
        ).cancel_requested:
            return self.record.end(ExecutionStatus.CANCELLED, cancellation_record(None))
        if context_json is not None:
            self.checkpointed_context = context_json
        if spec.kind is not StepKind.COMPENSATION:
            self.results[spec.name] = output
        return next_name, 1

    def _failed(
        self, spec: StepSpec, attempt: int, exc: BaseException, timing: Timing
    ) -> Next | ExecutionStatus:
        """Record a failed attempt and apply what `outcomes.after_failure` decides."""
        error = outcomes.describe_error(exc, spec.name, attempt)
        error_json = self.codec.record_error(error)
        run = self._step_run(spec, attempt, StepStatus.FAILED, timing, error=error_json)
        decision = outcomes.after_failure(
            self.workflow,
            spec,
            exc,
            attempt,
            compensating=self.compensations is not None,
            completed=self.completed,
        )
        retrying = isinstance(decision, outcomes.RetryLater)
        self._log_failure(spec, attempt, exc, decision)
        signals.step_failed.send(
            sender=self.workflow.name,
            execution_id=self.claim.id,
            workflow=self.workflow.name,
            step=spec.name,
            attempt=attempt,
            exception=exc,
            will_retry=retrying,
        )
        if isinstance(decision, outcomes.RetryLater):
            retry = RetryAfter(
                decision.delay.total_seconds(), self.checkpointed_context, self.compensations
            )
            if self.record.checkpoint(run, retry, exc).cancel_requested:
                return self.record.end(
                    ExecutionStatus.CANCELLED, cancellation_record(None), holding_claim=False
                )
            return ExecutionStatus.PENDING
        if isinstance(decision, outcomes.Fail):
            if decision.status is ExecutionStatus.COMPENSATION_FAILED:
                error = {**(self.failure or {}), "compensation_error": error}
            return self.record.finish(
                run, decision.status, self.checkpointed_context, error=error, exception=exc
            )
        # The saga: record the failure, then run the undo steps inline, newest first,
        # from the last checkpoint's context.
        first, *rest = decision.steps
        self.failure = self.ctx.failure = error
        self.compensations = rest
        start = Advance(first, self.checkpointed_context, rest, execution_error=error_json)
        if self.record.checkpoint(run, start, exc).cancel_requested:
            return self.record.end(ExecutionStatus.CANCELLED, cancellation_record(None))
        self.context.clear()
        self.context.update(json.loads(self.checkpointed_context))
        return first, 1

    def _log_failure(
        self,
        spec: StepSpec,
        attempt: int,
        exc: BaseException,
        decision: outcomes.RetryLater | outcomes.Fail | outcomes.Compensate,
    ) -> None:
        where = f"{self.workflow.name}[{self.claim.id}]: step {spec.name} attempt {attempt}"
        if isinstance(decision, outcomes.RetryLater):
            logger.warning(
                "%s failed; retrying in %.1f s",
                where,
                decision.delay.total_seconds(),
                exc_info=exc,
            )
        elif isinstance(decision, outcomes.Compensate):
            logger.error(
                "%s failed; compensating with %s", where, ", ".join(decision.steps), exc_info=exc
            )
        else:
            logger.error("%s failed; the execution ends %s", where, decision.status, exc_info=exc)

    def _step_run(
        self,
        spec: StepSpec,
        attempt: int,
        status: StepStatus,
        timing: Timing,
        *,
        output: str | None = None,
        error: str | None = None,
    ) -> StepRun:
        return self.record.step_run(
            spec.name, attempt, status, timing, self.ctx.log_lines, output=output, error=error
        )
