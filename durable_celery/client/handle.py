"""`ExecutionHandle`: what starting a workflow returns."""

from __future__ import annotations

import math
import time
from typing import Any

from durable_celery.errors import (
    InvalidOption,
    ResultTimeout,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowTimedOut,
)
from durable_celery.ids import parse_execution_id
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import FAILED_ENDINGS, ExecutionStatus
from durable_celery.store import queries
from durable_celery.store.connections import reading
from durable_celery.store.queries import Outcome
from durable_celery.store.records import Execution


class ExecutionHandle:
    """A reference to one execution, by id. Cheap to create; every call reads Postgres."""

    def __init__(self, execution_id: str, runtime: Runtime | None = None) -> None:
        self.id = parse_execution_id(execution_id)
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        return self._runtime or current_runtime()

    def _outcome(self) -> Outcome:
        with reading(self.runtime.database) as conn:
            return queries.outcome(conn, self.id)

    def status(self) -> ExecutionStatus:
        """The execution's status; 'compensating' while a failed saga runs its undo steps."""
        return self._outcome().status

    def execution(self, include_steps: bool = True) -> Execution:
        with reading(self.runtime.database) as conn:
            return queries.execution(conn, self.id, include_steps)

    def result(self, timeout: float | None = 30, poll_interval: float = 0.05) -> Any:
        """Block until the execution finishes and return its result.

        Raises WorkflowFailed, WorkflowCancelled or WorkflowTimedOut for those endings, and
        ResultTimeout (a TimeoutError) when `timeout` seconds pass first."""
        for name, value in (("timeout", timeout), ("poll_interval", poll_interval)):
            if value is not None and not _seconds(value):
                raise InvalidOption(
                    f"{name} must be a finite number of seconds >= 0, got {value!r}"
                )
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = min(poll_interval, 0.01)
        while True:
            outcome = self._outcome()
            if outcome.status.finished:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(
                    f"execution {self.id} is still {outcome.status} after {timeout} seconds"
                )
            time.sleep(interval)
            interval = min(interval * 2, poll_interval)
        if outcome.status is ExecutionStatus.COMPLETED:
            return outcome.result
        if outcome.status in FAILED_ENDINGS:
            raise WorkflowFailed(self.id, outcome.error, outcome.status)
        if outcome.status is ExecutionStatus.CANCELLED:
            raise WorkflowCancelled(self.id, (outcome.error or {}).get("message"))
        raise WorkflowTimedOut(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutionHandle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<ExecutionHandle {self.id}>"


def _seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
