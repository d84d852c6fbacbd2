"""Bulk control: one batch of cancel_many or retry_many per call, in the caller's (short)
transaction, and the dry-run counts. See store/sql/bulk.py for the locking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from durable_celery.states import LIVE_STATUSES, ExecutionStatus
from durable_celery.store.control import cancel_locked
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import bulk as sql


@dataclass(frozen=True)
class BulkFilter:
    """Which executions a bulk call takes (checked by the client). `statuses` are
    reported statuses; `created_before` is always set (at the latest, the call's start)
    and `finished_before` bounds retry_many to executions that ended before it began."""

    statuses: frozenset[ExecutionStatus]
    created_before: datetime
    workflow: str | None = None
    queue: str | None = None
    finished_before: datetime | None = None

    def params(self) -> dict[str, Any]:
        stored = sorted(str(s) for s in self.statuses if s is not ExecutionStatus.COMPENSATING)
        return {
            "workflow": self.workflow,
            "queue": self.queue,
            "created_before": self.created_before,
            "finished_before": self.finished_before,
            "statuses": stored,
            "compensating": ExecutionStatus.COMPENSATING in self.statuses,
        }


def now(conn: Connection) -> datetime:
    """The database's clock."""
    moment: datetime = conn.execute(sql.NOW).scalar_one()
    return moment


def cancel_batch(
    conn: Connection, where: BulkFilter, error: dict[str, Any], batch_size: int
) -> tuple[int, int, list[Wakeup]]:
    """Cancel up to `batch_size` matching live executions, as cancel() does; returns how
    many were taken, how many executions changed (their children included), and the
    wake-ups to publish after commit. Rows locked by someone else are skipped."""
    _live_only(where)
    ids = [
        str(row.id)
        for row in conn.execute(sql.LOCK_CANCELLABLE, {**where.params(), "batch_size": batch_size})
    ]
    stopped = cancel_locked(conn, ids, error)
    return len(ids), stopped.changed, stopped.wakeups


def count_cancellable(conn: Connection, where: BulkFilter) -> int:
    _live_only(where)
    n: int = conn.execute(sql.COUNT_CANCELLABLE, where.params()).scalar_one()
    return n


def lock_retryable(
    conn: Connection, where: BulkFilter, batch_size: int, skip_workflows: list[str]
) -> list[tuple[str, str, int]]:
    """Lock up to `batch_size` matching failed or timed-out executions (not of
    `skip_workflows`); returns (id, workflow, version) triples. Rows locked by someone
    else are skipped."""
    params = {**where.params(), "batch_size": batch_size, "skip_workflows": skip_workflows}
    return [
        (str(row.id), row.workflow, row.workflow_version)
        for row in conn.execute(sql.LOCK_RETRYABLE, params)
    ]


def resume_locked(conn: Connection, timeouts: Mapping[str, timedelta | None]) -> list[Wakeup]:
    """Resume the failed executions the caller locked (id -> its workflow's timeout), as
    retry() does; returns their wake-ups, to publish after commit."""
    if not timeouts:
        return []
    ids = list(timeouts)
    seconds = [None if t is None else t.total_seconds() for t in timeouts.values()]
    rows = conn.execute(sql.RESUME_MANY, {"ids": ids, "timeouts": seconds})
    return [Wakeup(str(row.id), row.queue, label=row.workflow) for row in rows]


def count_retryable(conn: Connection, where: BulkFilter, skip_workflows: list[str]) -> int:
    n: int = conn.execute(
        sql.COUNT_RETRYABLE, {**where.params(), "skip_workflows": skip_workflows}
    ).scalar_one()
    return n


def _live_only(where: BulkFilter) -> None:
    # Defence in depth: the SQL also takes live rows only.
    assert all(s in LIVE_STATUSES or s is ExecutionStatus.COMPENSATING for s in where.statuses)
