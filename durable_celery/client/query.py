"""Read-only query API: executions and their step attempts."""

from __future__ import annotations

import uuid

from durable_celery.checks import check_text
from durable_celery.errors import InvalidOption
from durable_celery.ids import parse_execution_id
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import ExecutionStatus
from durable_celery.store import queries
from durable_celery.store.connections import reading
from durable_celery.store.records import Execution


def get_execution(
    execution_id: str | uuid.UUID, include_steps: bool = True, *, runtime: Runtime | None = None
) -> Execution:
    """The stored record of one execution; ExecutionNotFound when there is none."""
    execution_id = parse_execution_id(execution_id)
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return queries.execution(conn, execution_id, include_steps)


def list_executions(
    workflow: str | None = None,
    status: str | None = None,
    queue: str | None = None,
    limit: int = 50,
    offset: int = 0,
    *,
    runtime: Runtime | None = None,
) -> list[Execution]:
    """Executions, newest first, filtered by workflow name, status (as reported, so
    'compensating' too) and queue."""
    wanted = None if status is None else _status(status)
    for name, text in (("workflow", workflow), ("queue", queue)):
        if text is not None:
            check_text(text, name)
    for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidOption(f"{name} must be an int >= {low}, got {value!r}")
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return queries.executions(
            conn, workflow=workflow, status=wanted, queue=queue, limit=limit, offset=offset
        )


def _status(status: str) -> ExecutionStatus:
    try:
        return ExecutionStatus(status)
    except ValueError:
        names = ", ".join(ExecutionStatus)
        raise InvalidOption(f"status must be one of {names}; got {status!r}") from None
