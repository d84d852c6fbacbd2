"""Writing down what happened to a claimed execution: the one place where the rule holds.

The rule: whatever happens after a step returns or raises, the attempt ends recorded
(completed, failed with its real error, or retried) and the claim is released. The step
loop decides; `Recorder` writes, through the store, and `settle` turns any failure to
write into a recorded `RecordingFailed` ending. Only a lost claim or a database that went
away leaves the attempt to stale recovery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection

from durable_celery import signals
from durable_celery.engine.outcomes import describe_error
from durable_celery.errors import LockLost, RecordingFailed, cancellation_record, qualified_name
from durable_celery.runtime import Runtime
from durable_celery.states import FAILED_ENDINGS, ExecutionStatus, StepStatus, Suspension
from durable_celery.store import control, executions, step_slots
from durable_celery.store.connections import is_disconnect, transaction
from durable_celery.store.executions import (
    Advance,
    Checkpoint,
    ClaimedExecution,
    Finish,
    RetryAfter,
    StepRun,
)
from durable_celery.store.records import Wakeup

logger = logging.getLogger("durable_celery.executor")

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    started_at: datetime
    clock: float

    @classmethod
    def now(cls) -> Timing:
        return cls(datetime.now(UTC), time.perf_counter())

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.clock) * 1000


class Recorder:
    """The writes made for one claim of one execution, all fenced by its lock token."""

    def __init__(self, runtime: Runtime, conn: Connection, claim: ClaimedExecution) -> None:
        self.runtime = runtime
        self.conn = conn
        self.claim = claim
        self.codec = runtime.codec
        self.step_runs = claim.step_runs  # step rows of the execution, for their sequence
        # The key of the step slot the current attempt holds (a step with a concurrency
        # limit): the statement that ends the attempt hands it to the next one queued.
        self.step_slot: str | None = None

    def take_step_slot(self, key: str, limit: int) -> bool:
        """Take a slot of `key` for the attempt about to start; False: none was free, the
        claim is released and the execution queued for the key (a holder wakes it)."""
        slot = step_slots.take(self.conn, self.claim.fence, key, limit)
        self.runtime.publish(slot.wakeups)
        if slot.taken:
            self.step_slot = key
        return slot.taken

    def _give_back(self) -> str | None:
        """The step slot the statement about to run ends (given back by trigger)."""
        held, self.step_slot = self.step_slot, None
        return held

    def step_run(
        self,
        step: str,
        attempt: int,
        status: StepStatus,
        timing: Timing,
        log_lines: list[str],
        *,
        output: str | None = None,
        error: str | None = None,
    ) -> StepRun:
        self.step_runs += 1
        return StepRun(
            step_name=step,
            sequence=self.step_runs,
            attempt=attempt,
            status=status,
            started_at=timing.started_at,
            duration_ms=timing.elapsed_ms(),
            worker=self.runtime.worker_id,
            output=output,
            error=error,
            logs=self.codec.record_logs(log_lines),
        )

    def checkpoint(
        self, run: StepRun, move: Advance | RetryAfter, exception: BaseException | None = None
    ) -> Checkpoint:
        """`exception`: what failed the attempt `run` records, if it failed."""
        done = executions.checkpoint(self.conn, self.claim.fence, run, move, self._give_back())
        self.runtime.publish(done.wakeups)
        self._attempt_finished(run, exception)
        return done

    def _attempt_finished(self, run: StepRun, exception: BaseException | None) -> None:
        if not signals.step_attempt_finished.receivers:
            return  # the step path: not even the arguments when nobody listens
        claim = self.claim
        signals.step_attempt_finished.send(
            sender=claim.workflow,
            execution_id=claim.id,
            workflow=claim.workflow,
            step=run.step_name,
            attempt=run.attempt,
            status=run.status,
            started_at=run.started_at,
            duration=run.duration_ms / 1000,
            exception=exception,
        )

    # --- the signals that bracket a claim --------------------------------------------------

    def claimed(self) -> None:
        claim = self.claim
        signals.execution_claimed.send(
            sender=claim.workflow,
            execution_id=claim.id,
            workflow=claim.workflow,
            lag=claim.wake_lag,
            first_claim=claim.first_claim,
            trace_context=claim.trace_context,
        )
        if claim.suspended_on is not None:
            signals.execution_resumed.send(
                sender=claim.workflow,
                execution_id=claim.id,
                workflow=claim.workflow,
                reason=claim.suspended_on,
            )

    def released(self, status: ExecutionStatus | None) -> None:
        claim = self.claim
        signals.execution_released.send(
            sender=claim.workflow, execution_id=claim.id, workflow=claim.workflow, status=status
        )

    def suspended(self, reason: Suspension) -> None:
        claim = self.claim
        signals.execution_suspended.send(
            sender=claim.workflow, execution_id=claim.id, workflow=claim.workflow, reason=reason
        )

    def finish(
        self,
        run: StepRun,
        status: ExecutionStatus,
        context: str | None,
        *,
        result: str | None = None,
        error: dict[str, Any] | None = None,
        exception: BaseException | None = None,
    ) -> ExecutionStatus:
        """Record the last step run and end the execution as `status` (or cancelled, when a
        cancel arrived during that step)."""
        recorded = None if error is None else self.codec.record_error(error)
        move = Finish(status, context, result, recorded)
        done = executions.checkpoint(self.conn, self.claim.fence, run, move, self._give_back())
        self.runtime.publish(done.wakeups)
        self._attempt_finished(run, exception)
        ended = done.ended or status
        self.ended(ended, error, exception)
        return ended

    def suspend(self, reason: Suspension, wake_at: datetime | None) -> ExecutionStatus:
        suspended = executions.suspend(
            self.conn, self.claim.fence, reason, wake_at, self._give_back()
        )
        self.runtime.publish(suspended.wakeups)
        self.suspended(reason)
        if suspended.cancel_requested:
            return self.end(
                ExecutionStatus.CANCELLED, cancellation_record(None), holding_claim=False
            )
        if suspended.status is ExecutionStatus.PENDING:
            # What it waits for happened meanwhile: wake it again at once.
            self.runtime.publish(
                [Wakeup(self.claim.id, self.claim.queue, label=self.claim.workflow)]
            )
        return suspended.status

    def defer(self, delay_seconds: float) -> ExecutionStatus:
        """Release the claim before the current step starts, onto a durable timer."""
        handed = executions.defer(self.conn, self.claim.fence, delay_seconds, self._give_back())
        self.runtime.publish(handed)
        return ExecutionStatus.PENDING

    def hand_over(self) -> ExecutionStatus:
        """Release the claim at a step boundary and wake a fresh task for the execution."""
        executions.release(self.conn, self.claim.fence)
        self.runtime.publish([Wakeup(self.claim.id, self.claim.queue, label=self.claim.workflow)])
        return ExecutionStatus.PENDING

    def end(
        self, status: ExecutionStatus, error: dict[str, Any], *, holding_claim: bool = True
    ) -> ExecutionStatus:
        """End the execution as cancelled or timed_out, with its children and items."""
        with transaction(self.runtime.database) as conn:
            wakeups = control.stop_executions(
                conn,
                [self.claim.id],
                status,
                error,
                include_running=True,
                token=self.claim.token if holding_claim else None,
            )
        self.runtime.publish(wakeups)
        self.ended(status, error, None)
        return status

    def fail_without_step(
        self, error: dict[str, Any], exception: BaseException | None = None
    ) -> ExecutionStatus:
        recorded = self.codec.record_error(error)
        self.runtime.publish(executions.fail_without_step(self.conn, self.claim.fence, recorded))
        self.ended(ExecutionStatus.FAILED, error, exception)
        return ExecutionStatus.FAILED

    def ended(
        self,
        status: ExecutionStatus,
        error: dict[str, Any] | None,
        exception: BaseException | None,
    ) -> None:
        """Say that the execution ended: one log line, and the signals."""
        claim = self.claim
        logger.info("%s[%s]: %s", claim.workflow, claim.id, status)
        signals.execution_finished.send(
            sender=claim.workflow, execution_id=claim.id, workflow=claim.workflow, status=status
        )
        if status in FAILED_ENDINGS or status is ExecutionStatus.TIMED_OUT:
            signals.execution_failed.send(
                sender=claim.workflow,
                execution_id=claim.id,
                workflow=claim.workflow,
                status=status,
                error=error,
                exception=exception,
            )

    def settle(
        self,
        step: str,
        attempt: int,
        timing: Timing,
        checkpointed_context: str,
        record: Callable[[], T],
    ) -> T | ExecutionStatus:
        """Run `record` (the attempt and the writes of its ending); if writing fails, fail
        the execution with RecordingFailed, with a step row if the database takes one,
        else without."""
        try:
            return record()
        except LockLost:
            raise
        except Exception as cause:
            if is_disconnect(cause):
                raise
            return self._recording_failed(step, attempt, timing, checkpointed_context, cause)

    def _recording_failed(
        self, step: str, attempt: int, timing: Timing, context: str, cause: Exception
    ) -> ExecutionStatus:
        logger.error(
            "execution %s: the outcome of step %s attempt %d could not be recorded; failing "
            "the execution",
            self.claim.id,
            step,
            attempt,
            exc_info=cause,
        )
        failure = RecordingFailed(
            f"the outcome of step {step!r} (attempt {attempt}) could not be recorded: "
            f"{describe_error(cause)['message']}"
        )
        error = describe_error(failure, step, attempt)
        run = self.step_run(
            step, attempt, StepStatus.FAILED, timing, [], error=self.codec.record_error(error)
        )
        try:
            self.finish(run, ExecutionStatus.FAILED, context, error=error, exception=failure)
        except LockLost:
            raise
        except Exception as again:
            if is_disconnect(again):
                raise
            # Even the step row was refused: end without one, with fixed text only.
            return self.fail_without_step(
                {"type": qualified_name(RecordingFailed), "message": "see the worker log"},
                failure,
            )
        return ExecutionStatus.FAILED
