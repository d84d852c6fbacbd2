"""Child workflows started from a step: `ctx.start_child` and `ctx.run_child`.

Each call is identified by the parent, the step, the step's visit (loops) and the
call's position in the step, used as the child's idempotency key: when the step runs
again (retry, crash, resume) the same call finds the same child instead of starting
another. `run_child` suspends the parent until the child ends; the child's last
statement wakes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_celery.dsl import Workflow, get_workflow
from durable_celery.engine.interrupts import Suspend
from durable_celery.errors import ChildWorkflowFailed
from durable_celery.runtime import Runtime
from durable_celery.states import ExecutionStatus, Suspension
from durable_celery.store import queries
from durable_celery.store.connections import reading


class StepChildren:
    """The engine's side of `ctx.start_child` / `ctx.run_child` for one attempt of one step
    (a dsl ChildService)."""

    def __init__(self, runtime: Runtime, parent_id: str, step: str, visit: int) -> None:
        self.runtime = runtime
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
    ) -> Any:
        child = get_workflow(workflow) if isinstance(workflow, str) else workflow
        call = self.calls
        self.calls += 1
        new = self.runtime.new_execution(
            child,
            input,
            queue=queue,
            idempotency_key=f"child:{self.parent_id}:{self.step}:{self.visit}:{call}",
            parent_id=self.parent_id,
            wake_parent=wait,
        )
        # Committed at once: the child runs on its own, whatever becomes of this step.
        child_id = self.runtime.start(new)
        if not wait:
            return child_id
        with reading(self.runtime.database) as conn:
            child_outcome = queries.outcome(conn, child_id)
        if child_outcome.status is ExecutionStatus.COMPLETED:
            return child_outcome.result
        if child_outcome.status.finished:
            raise ChildWorkflowFailed(child_id, child_outcome.status, child_outcome.error)
        raise Suspend(Suspension.CHILD)
