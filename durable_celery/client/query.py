"""Read-only query API: executions, their step attempts and children, counts, and the
load on queues and workflows. Nothing here takes a lock."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from durable_celery.checks import check_text
from durable_celery.errors import InvalidOption
from durable_celery.ids import parse_execution_id
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import ExecutionStatus
from durable_celery.store import queries
from durable_celery.store.connections import reading
from durable_celery.store.queries import ExecutionFilter, QueueLoad, Throughput, WorkflowLoad
from durable_celery.store.records import Execution
from durable_celery.time import require_aware

Statuses = str | Iterable[str]

_ID_PREFIX = re.compile(r"[0-9a-fA-F-]+")


def get_execution(
    execution_id: str | uuid.UUID, include_steps: bool = True, *, runtime: Runtime | None = None
) -> Execution:
    """The stored record of one execution, with its children counted by status;
    ExecutionNotFound when there is none."""
    execution_id = parse_execution_id(execution_id)
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return queries.execution(conn, execution_id, include_steps)


def list_executions(
    workflow: str | None = None,
    status: Statuses | None = None,
    queue: str | None = None,
    limit: int = 50,
    offset: int = 0,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    parent_id: str | uuid.UUID | None = None,
    top_level_only: bool = False,
    id_prefix: str | None = None,
    version: int | None = None,
    search: str | None = None,
    runtime: Runtime | None = None,
) -> list[Execution]:
    """Executions, newest first, filtered by workflow name, status or statuses (as
    reported, so 'compensating' too), queue, creation time (since <= created_at < until,
    aware datetimes), parent, top-level only, a prefix of the id, the workflow
    version they started with (and run on), and `search`: an idempotency key, or the
    start of an id."""
    where = _filter(workflow, status, queue, since, until, parent_id, top_level_only, id_prefix)
    where = _with_search(_with_version(where, version), search)
    for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidOption(f"{name} must be an int >= {low}, got {value!r}")
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return queries.executions(conn, where, limit=limit, offset=offset)


def count_executions(
    workflow: str | None = None,
    status: Statuses | None = None,
    queue: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    parent_id: str | uuid.UUID | None = None,
    top_level_only: bool = False,
    version: int | None = None,
    search: str | None = None,
    runtime: Runtime | None = None,
) -> dict[ExecutionStatus, int]:
    """How many executions match, by reported status; statuses with none are left out.
    The filters are those of list_executions."""
    where = _filter(workflow, status, queue, since, until, parent_id, top_level_only, None)
    where = _with_search(_with_version(where, version), search)
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return queries.count_by_status(conn, where)


@dataclass(frozen=True)
class Overview:
    """What `durable-celery status` shows: live executions per queue (due ones waiting
    for a worker, and how long the oldest has waited) and per workflow."""

    queues: tuple[QueueLoad, ...]
    workflows: tuple[WorkflowLoad, ...]

    @property
    def oldest_due(self) -> QueueLoad | None:
        """The queue whose oldest due execution has waited longest, if any is due."""
        due = [load for load in self.queues if load.oldest_wait is not None]
        return max(due, key=lambda load: load.oldest_wait or timedelta(0), default=None)


def overview(*, runtime: Runtime | None = None) -> Overview:
    """Live executions per queue and per workflow, read from the database (the broker's
    own message counts are the command line's to add)."""
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return Overview(tuple(queries.queue_load(conn)), tuple(queries.workflow_load(conn)))


def throughput(
    window: timedelta = timedelta(hours=1), *, runtime: Runtime | None = None
) -> list[Throughput]:
    """Executions that finished within the last `window`, per workflow, by ending
    (completed, failed (with timed out and the saga endings), cancelled)."""
    if not isinstance(window, timedelta) or window <= timedelta(0):
        raise InvalidOption(f"window must be a positive timedelta, got {window!r}")
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return queries.throughput(conn, datetime.now(UTC) - window)


def parse_statuses(status: Statuses) -> frozenset[ExecutionStatus]:
    """A status or several, as reported statuses; InvalidOption for anything else."""
    given = [status] if isinstance(status, str) else status
    try:
        wanted = frozenset(_status(item) for item in given)
    except TypeError:
        raise InvalidOption(f"status must be a status or a list of them, got {status!r}") from None
    if not wanted:
        raise InvalidOption("status must name at least one status, got none")
    return wanted


def _filter(
    workflow: str | None,
    status: Statuses | None,
    queue: str | None,
    since: datetime | None,
    until: datetime | None,
    parent_id: str | uuid.UUID | None,
    top_level_only: bool,
    id_prefix: str | None,
) -> ExecutionFilter:
    for name, text in (("workflow", workflow), ("queue", queue)):
        if text is not None:
            check_text(text, name)
    if since is not None:
        require_aware(since, "since")
    if until is not None:
        require_aware(until, "until")
    if since is not None and until is not None and since > until:
        raise InvalidOption(
            f"since must not be after until, got since={since.isoformat()} "
            f"until={until.isoformat()}"
        )
    if not isinstance(top_level_only, bool):
        raise InvalidOption(f"top_level_only must be a bool, got {top_level_only!r}")
    if top_level_only and parent_id is not None:
        raise InvalidOption("give parent_id or top_level_only, not both")
    return ExecutionFilter(
        workflow=workflow,
        statuses=None if status is None else parse_statuses(status),
        queue=queue,
        since=since,
        until=until,
        parent_id=None if parent_id is None else parse_execution_id(parent_id),
        top_level_only=top_level_only,
        id_prefix=None if id_prefix is None else _id_prefix(id_prefix),
    )


def _with_version(where: ExecutionFilter, version: int | None) -> ExecutionFilter:
    if version is None:
        return where
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidOption(f"version must be an int >= 1, got {version!r}")
    return replace(where, version=version)


def _with_search(where: ExecutionFilter, search: str | None) -> ExecutionFilter:
    if search is None:
        return where
    check_text(search, "search")
    # Text that could start an id is tried as both; anything else only as a key.
    prefix = search.replace("-", "")
    as_id = _id_prefix(search) if _ID_PREFIX.fullmatch(search) and 0 < len(prefix) <= 32 else None
    return replace(where, search=search, search_prefix=as_id)


def _id_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _ID_PREFIX.fullmatch(prefix):
        raise InvalidOption(
            f"id_prefix must be the start of an execution id (hex digits and dashes), "
            f"got {prefix!r}"
        )
    digits = prefix.replace("-", "").lower()
    if not digits or len(digits) > 32:
        raise InvalidOption(
            f"id_prefix must have from 1 to 32 hex digits, got {len(digits)} in {prefix!r}"
        )
    return digits


def _status(status: Any) -> ExecutionStatus:
    try:
        return ExecutionStatus(status)
    except ValueError:
        names = ", ".join(ExecutionStatus)
        raise InvalidOption(f"status must be one of {names}; got {status!r}") from None
