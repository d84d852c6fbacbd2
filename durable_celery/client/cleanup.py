"""Cleanup: delete finished executions older than a cutoff, with everything recorded for
them, in short batches that run beside busy workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from durable_celery.client.query import Statuses, parse_statuses
from durable_celery.config import MAX_BATCH_SIZE
from durable_celery.errors import InvalidOption
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import FINISHED_STATUSES, ExecutionStatus
from durable_celery.store import cleanup as store
from durable_celery.store.connections import (
    reading,
    retry_on_deadlock,
    retry_on_disconnect,
    transaction,
)
from durable_celery.time import Duration, to_timedelta


def cleanup(
    older_than: Duration,
    *,
    status: Statuses | None = None,
    dry_run: bool = False,
    batch_size: int = 1000,
    runtime: Runtime | None = None,
    progress: Callable[[int], None] | None = None,
    time_budget: Duration | None = None,
) -> int:
    """Delete finished executions that ended more than `older_than` ago (a timedelta or
    seconds), optionally only those of some finished statuses; returns how many were
    deleted (with dry_run: how many would be, deleting nothing).

    Their step attempts, waits, events, inputs and items go with them. Never deleted: a
    live execution; a finished one with a live child; a child whose parent is kept.
    Each batch of at most `batch_size` is one short transaction that skips rows others
    hold locked; `progress` is called with the running total after each batch. With a
    `time_budget` no batch starts once it is spent: the rest waits for the next call."""
    age = _age(older_than)
    statuses = _finished(status)
    size = batch_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
        raise InvalidOption(
            f"batch_size must be an int from 1 to {MAX_BATCH_SIZE}, got {batch_size!r}"
        )
    if not isinstance(dry_run, bool):
        raise InvalidOption(f"dry_run must be a bool, got {dry_run!r}")
    stop_at = (
        None
        if time_budget is None
        else time.monotonic() + to_timedelta(time_budget, "time_budget").total_seconds()
    )
    database = (runtime or current_runtime()).database
    with reading(database) as conn:
        before = store.cutoff(conn, age)
        if dry_run:
            return store.count_deletable(conn, before, statuses)

    def one_batch() -> int:
        with transaction(database) as conn:
            return store.delete_batch(conn, before, statuses, size)

    def one_batch_again() -> int:
        # Two cleanups at once can deadlock: one deletes a parent, whose child's parent_id
        # is set NULL, while the other holds that child and deletes its own child. The
        # loser's batch wrote nothing and is taken again.
        return retry_on_deadlock(one_batch)

    total = 0
    while True:
        deleted = retry_on_disconnect(one_batch_again)
        total += deleted
        if deleted and progress is not None:
            progress(total)
        # A short batch: nothing left that nobody else holds.
        if deleted < size or (stop_at is not None and time.monotonic() >= stop_at):
            return total


def _age(older_than: Duration) -> timedelta:
    age = to_timedelta(older_than, "older_than")
    if age <= timedelta(0):
        raise InvalidOption(f"older_than must be positive, got {age}")
    return age


def _finished(status: Statuses | None) -> frozenset[ExecutionStatus]:
    if status is None:
        return FINISHED_STATUSES
    wanted = parse_statuses(status)
    live = sorted(s for s in wanted if not s.finished)
    if live:
        finished = ", ".join(sorted(FINISHED_STATUSES))
        raise InvalidOption(
            f"cleanup deletes finished executions only ({finished}), never live ones: "
            f"got {', '.join(live)}"
        )
    return wanted
