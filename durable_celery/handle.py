"""`ExecutionHandle`: what starting a workflow returns."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from durable_celery.errors import (
    ExecutionNotFound,
    ResultTimeout,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowTimedOut,
)
from durable_celery.models import FINISHED_STATUSES, workflow_executions

if TYPE_CHECKING:
    from durable_celery.records import Execution
    from durable_celery.runtime import Runtime


def reported_status(row: Any) -> str:
    if row.compensations is not None and row.status in ("pending", "running", "waiting"):
        return "compensating"
    return str(row.status)


class ExecutionHandle:
    """A reference to one execution, by id. Cheap to create; every call reads Postgres."""

    def __init__(self, execution_id: str, runtime: Runtime | None = None) -> None:
        from durable_celery.query import parse_execution_id

        self.id = parse_execution_id(execution_id)
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        from durable_celery.runtime import current_runtime

        return self._runtime or current_runtime()

    def _row(self) -> Any:
        table = workflow_executions
        with self.runtime.engine.connect() as conn:
            row = conn.execute(
                select(table.c.status, table.c.result, table.c.error, table.c.compensations).where(
                    table.c.id == self.id
                )
            ).first()
        if row is None:
            raise ExecutionNotFound(self.id)
        return row

    def status(self) -> str:
        """The execution's status; 'compensating' while a failed saga runs its undo steps."""
        return reported_status(self._row())

    def execution(self, include_steps: bool = True) -> Execution:
        from durable_celery.query import get_execution

        return get_execution(self.id, include_steps, runtime=self.runtime)

    def result(self, timeout: float | None = 30, poll_interval: float = 0.05) -> Any:
        """Block until the execution finishes and return its result.

        Raises WorkflowFailed, WorkflowCancelled or WorkflowTimedOut for those endings, and
        ResultTimeout (a TimeoutError) when `timeout` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = min(poll_interval, 0.01)
        while True:
            row = self._row()
            if row.status in FINISHED_STATUSES:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(
                    f"execution {self.id} is still {row.status} after {timeout} seconds"
                )
            time.sleep(interval)
            interval = min(interval * 2, poll_interval)
        if row.status == "completed":
            return row.result
        if row.status in ("failed", "compensated", "compensation_failed"):
            raise WorkflowFailed(self.id, row.error, row.status)
        if row.status == "cancelled":
            raise WorkflowCancelled(self.id, (row.error or {}).get("message"))
        raise WorkflowTimedOut(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutionHandle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<ExecutionHandle {self.id}>"
