"""Bulk control: cancel or retry every execution that matches some filters, in short
batches that run beside busy workers, with the semantics of cancel() and retry()."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from durable_celery.checks import check_text
from durable_celery.client.query import Statuses, parse_statuses
from durable_celery.dsl import Workflow, get_workflow
from durable_celery.errors import (
    InvalidOption,
    UnknownWorkflow,
    UnknownWorkflowVersion,
    cancellation_record,
)
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import LIVE_STATUSES, ExecutionStatus
from durable_celery.store import bulk as store
from durable_celery.store.bulk import BulkFilter
from durable_celery.store.connections import (
    reading,
    retry_on_deadlock,
    retry_on_disconnect,
    transaction,
)
from durable_celery.store.records import Wakeup
from durable_celery.time import Duration, require_aware, to_timedelta

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 10_000
CANCELLABLE = frozenset({*LIVE_STATUSES, ExecutionStatus.COMPENSATING})
RETRYABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT})
_FILTERS = "workflow, status, queue, older_than or created_before"


@dataclass(frozen=True)
class Wanted:
    """The checked filters of a bulk call; the moments are resolved on the database's
    clock when the call begins."""

    statuses: frozenset[ExecutionStatus]
    workflow: str | None
    queue: str | None
    older_than: timedelta | None
    created_before: datetime | None
    batch_size: int

    def at(self, now: datetime, *, finished: bool) -> BulkFilter:
        before = [now]
        if self.older_than is not None:
            before.append(now - self.older_than)
        if self.created_before is not None:
            before.append(self.created_before)
        return BulkFilter(
            statuses=self.statuses,
            created_before=min(before),
            workflow=self.workflow,
            queue=self.queue,
            finished_before=now if finished else None,
        )


def check_filters(
    action: str,
    allowed: frozenset[ExecutionStatus],
    *,
    workflow: str | None,
    status: Statuses | None,
    queue: str | None,
    older_than: Duration | None,
    created_before: datetime | None,
    batch_size: int,
    dry_run: bool,
) -> Wanted:
    """Check a bulk call's filters before anything is read or written; InvalidOption for
    a bad one, and when none is given (a call never means "everything" by accident)."""
    if all(f is None for f in (workflow, status, queue, older_than, created_before)):
        every = ", ".join(repr(str(s)) for s in sorted(allowed))
        raise InvalidOption(
            f"{action} needs at least one filter ({_FILTERS}); to mean every execution it "
            f"can {action.removesuffix('_many')}, say so: status=[{every}]"
        )
    for name, text in (("workflow", workflow), ("queue", queue)):
        if text is not None:
            check_text(text, name)
    statuses = allowed if status is None else parse_statuses(status)
    refused = sorted(statuses - allowed)
    if refused:
        raise InvalidOption(
            f"{action} takes executions of {', '.join(sorted(allowed))} only, "
            f"got {', '.join(refused)}"
        )
    age = None if older_than is None else to_timedelta(older_than, "older_than")
    if age is not None and age <= timedelta(0):
        raise InvalidOption(f"older_than must be positive, got {age}")
    if created_before is not None:
        require_aware(created_before, "created_before")
    size = batch_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
        raise InvalidOption(
            f"batch_size must be an int from 1 to {MAX_BATCH_SIZE}, got {batch_size!r}"
        )
    if not isinstance(dry_run, bool):
        raise InvalidOption(f"dry_run must be a bool, got {dry_run!r}")
    return Wanted(statuses, workflow, queue, age, created_before, size)


def cancel_many(
    *,
    workflow: str | None = None,
    status: Statuses | None = None,
    queue: str | None = None,
    older_than: Duration | None = None,
    created_before: datetime | None = None,
    reason: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    runtime: Runtime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Cancel every live execution that matches, as cancel() does each one: pending and
    waiting ones end at once, running ones stop at their next step boundary, children are
    cancelled and items dropped. Returns how many executions it changed, their children
    included (with dry_run: how many match, changing nothing).

    Filters: workflow name, status (reported, live ones: pending, running, waiting,
    compensating; all of them by default), queue, older_than (created more than this long
    ago), created_before (an aware datetime). At least one is required. Executions
    created after the call began are left alone. Each batch of at most `batch_size` is
    one transaction that skips rows others hold; `progress` gets the running total."""
    wanted = check_filters(
        "cancel_many",
        CANCELLABLE,
        workflow=workflow,
        status=status,
        queue=queue,
        older_than=older_than,
        created_before=created_before,
        batch_size=batch_size,
        dry_run=dry_run,
    )
    if reason is not None:
        check_text(reason, "reason")
    error = cancellation_record(reason)
    runtime = runtime or current_runtime()
    database = runtime.database
    with reading(database) as conn:
        where = wanted.at(store.now(conn), finished=False)
        if dry_run:
            return store.count_cancellable(conn, where)

    def one_batch() -> tuple[int, int, list[Wakeup]]:
        with transaction(database) as conn:
            return store.cancel_batch(conn, where, error, wanted.batch_size)

    total = 0
    while True:
        taken, changed, wakeups = _run(one_batch)
        runtime.publish(wakeups)
        total += changed
        if not taken:
            return total
        if progress is not None:
            progress(total)


def retry_many(
    *,
    workflow: str | None = None,
    status: Statuses | None = None,
    queue: str | None = None,
    older_than: Duration | None = None,
    created_before: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    runtime: Runtime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Resume every failed (or timed-out) execution that matches, as retry() does each
    one: from the step it failed in, with a fresh attempt budget and deadline. Returns
    how many it resumed (with dry_run: how many match, changing nothing).

    Filters as for cancel_many; status is failed, timed_out or both (the default).
    Executions that fail again while the call runs are not retried twice. Executions of
    a workflow this process does not know are left as they are (logged); naming an
    unknown workflow raises UnknownWorkflow."""
    wanted = check_filters(
        "retry_many",
        RETRYABLE,
        workflow=workflow,
        status=status,
        queue=queue,
        older_than=older_than,
        created_before=created_before,
        batch_size=batch_size,
        dry_run=dry_run,
    )
    runtime = runtime or current_runtime()
    runtime.import_workflows()
    if workflow is not None:
        get_workflow(workflow)  # an unknown name is bad input: UnknownWorkflow
    database = runtime.database
    with reading(database) as conn:
        where = wanted.at(store.now(conn), finished=True)
        if dry_run:
            return store.count_retryable(conn, where, [])
    unknown: list[str] = []

    def one_batch() -> tuple[int, list[Wakeup]]:
        with transaction(database) as conn:
            locked = store.lock_retryable(conn, where, wanted.batch_size, unknown)
            timeouts: dict[str, timedelta | None] = {}
            for execution_id, name, version in locked:
                try:
                    timeouts[execution_id] = _workflow(name, version).timeout_delta()
                except UnknownWorkflow:
                    if name not in unknown:
                        unknown.append(name)
                        logger.warning(
                            "retry_many leaves the executions of workflow %r as they are: "
                            "it is not registered in this process",
                            name,
                        )
            return len(locked), store.resume_locked(conn, timeouts)

    total = 0
    while True:
        taken, wakeups = _run(one_batch)
        runtime.publish(wakeups)
        total += len(wakeups)
        if not taken:
            return total
        if progress is not None and wakeups:
            progress(total)


def _workflow(name: str, version: int) -> type[Workflow]:
    """The class an execution runs on; the newest version's when its own is not in this
    process (the worker then fails it again, saying which versions there are)."""
    try:
        return get_workflow(name, version)
    except UnknownWorkflowVersion:
        return get_workflow(name)


def _run(batch: Callable[[], T]) -> T:
    # A batch is one transaction: after a lost connection or a deadlock broken by
    # PostgreSQL (a cascade meeting a worker's or another call's locks) it wrote nothing
    # and runs again; the next batch selects afresh.
    return retry_on_disconnect(lambda: retry_on_deadlock(batch))
