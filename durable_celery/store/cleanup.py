"""Cleanup of finished executions: one batch per call, each in the caller's (short)
transaction. See store/sql/cleanup.py for what may go and the locking."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from durable_celery.states import ExecutionStatus
from durable_celery.store.sql import cleanup as sql


def cutoff(conn: Connection, older_than: timedelta) -> datetime:
    """now() - older_than, on the database's clock."""
    moment: datetime = conn.execute(
        sql.CUTOFF, {"older_than_seconds": older_than.total_seconds()}
    ).scalar_one()
    return moment


def delete_batch(
    conn: Connection, before: datetime, statuses: Iterable[ExecutionStatus], batch_size: int
) -> int:
    """Delete up to `batch_size` finished executions that ended before `before`; returns
    how many. Rows locked by someone else are skipped."""
    rows = conn.execute(
        sql.DELETE_FINISHED, {**_params(before, statuses), "batch_size": batch_size}
    )
    return len(rows.all())


def count_deletable(conn: Connection, before: datetime, statuses: Iterable[ExecutionStatus]) -> int:
    n: int = conn.execute(sql.COUNT_FINISHED, _params(before, statuses)).scalar_one()
    return n


def _params(before: datetime, statuses: Iterable[ExecutionStatus]) -> dict[str, object]:
    wanted = [ExecutionStatus(status) for status in statuses]
    # Defence in depth: the SQL also refuses live rows.
    assert all(status.finished for status in wanted), wanted
    return {"cutoff": before, "statuses": [str(status) for status in wanted]}
