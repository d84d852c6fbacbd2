"""Child workflows started from a step: `ctx.start_child` and `ctx.run_child`.

Each call is identified by the parent, the step, the step's visit (loops) and the
call's position in the step, used as the child's idempotency key: when the step runs
again (retry, crash, resume) the same call finds the same child instead of starting
another. `run_child` suspends the parent until the child ends; the child's last
statement wakes it. With a timeout, the call also records a timer (a wait of the step,
see StepWaits.child_timer) whose deadline is the parent's wake-up time while it waits:
the poller wakes it then, the child is cancelled and the call raises WaitTimeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_celery.dsl import WaitService, Workflow, get_workflow
from durable_celery.engine.interrupts import ClaimLost, Suspend
from durable_celery.engine.waits import StepWaits
from durable_celery.errors import ChildWorkflowFailed, WaitTimeout
from durable_celery.runtime import Runtime
from durable_celery.states import ExecutionStatus, Suspension, WaitStatus
from durable_celery.store import queries, waits
from durable_celery.store.connections import reading, transaction
from durable_celery.store.queries import Outcome
from durable_celery.store.waits import WaitRow


class StepChildren:
    """The engine's side of `ctx.start_child` / `ctx.run_child` for one attempt of one step
    (a dsl ChildService)."""

    def __init__(
        self,
        runtime: Runtime,
        parent_id: str,
        step: str,
        visit: int,
        trace_context: str | None = None,
    ) -> None:
        self.runtime = runtime
        # The parent's trace: its children join it (unless a span is current in the step).
        self.trace_context = trace_context
        self.parent_id = parent_id
        self.step = step
        self.visit = visit
        self.calls = 0  # child calls made so far in this run of the step

    def start_child(
        self,
        workflow: type[Workflow] | str,
        input: Mapping[str, Any] | None,
        queue: str | None,
        wait: bool,
        timeout: float | None = None,
        step_waits: WaitService | None = None,
    ) -> Any:
        child = get_workflow(workflow) if isinstance(workflow, str) else workflow
        call = self.calls
        self.calls += 1
        timer: WaitRow | None = None
        if wait and timeout is not None:
            if not isinstance(step_waits, StepWaits):
                raise TypeError("run_child(timeout=...) needs the step's StepWaits")
            # Recorded before the child starts: the deadline counts from the first call.
            timer = step_waits.child_timer(call, timeout)
            if timer.status is WaitStatus.TIMED_OUT:
                # Timed out on an earlier run of the step: the child was cancelled then.
                raise self._timeout(child, timeout, None)
        new = self.runtime.new_execution(
            child,
            input,
            queue=queue,
            idempotency_key=f"child:{self.parent_id}:{self.step}:{self.visit}:{call}",
            parent_id=self.parent_id,
            wake_parent=wait,
            trace_context=self.trace_context,
        )
        # Committed at once: the child runs on its own, whatever becomes of this step.
        child_id = self.runtime.start(new)
        if not wait:
            return child_id
        outcome = self._outcome(child_id)
        if not outcome.status.finished and timer is not None and timer.expired:
            assert isinstance(step_waits, StepWaits) and timeout is not None
            if self._stop(step_waits, timer, child_id, timeout):
                raise self._timeout(child, timeout, child_id)
            outcome = self._outcome(child_id)  # it ended a moment ago: its outcome stands
        if outcome.status.finished:
            if timer is not None:
                assert isinstance(step_waits, StepWaits)
                step_waits.close_child_timer(timer)
            if outcome.status is ExecutionStatus.COMPLETED:
                return outcome.result
            raise ChildWorkflowFailed(child_id, outcome.status, outcome.error)
        raise Suspend(Suspension.CHILD, None if timer is None else timer.deadline_at)

    def _outcome(self, child_id: str) -> Outcome:
        with reading(self.runtime.database) as conn:
            return queries.outcome(conn, child_id)

    def _stop(self, step_waits: StepWaits, timer: WaitRow, child_id: str, timeout: float) -> bool:
        """Cancel a child that outlived its call's timeout; False when it ended meanwhile."""
        reason = (
            f"run_child timed out after {timeout:g} seconds in step {self.step!r} of "
            f"parent execution {self.parent_id}"
        )
        with transaction(self.runtime.database) as conn:
            stopped = waits.stop_timed_out_child(conn, step_waits.fence, timer.id, child_id, reason)
        if not stopped.fenced:
            raise ClaimLost()
        self.runtime.publish(stopped.wakeups)
        return stopped.stopped

    def _timeout(self, child: type[Workflow], timeout: float, child_id: str | None) -> WaitTimeout:
        cancelled = f"; child execution {child_id} was cancelled" if child_id else ""
        return WaitTimeout(
            f"step {self.step!r}: run_child({child.name}) timed out after {timeout:g} "
            f"seconds{cancelled}"
        )
