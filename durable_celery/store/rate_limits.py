"""Rate limits: take a start from a key's sliding window (see TAKE_RATE_START)."""

from __future__ import annotations

from sqlalchemy import Connection

from durable_celery.store.connections import execute_hot
from durable_celery.store.sql import rate_limits as sql


def take_start(
    conn: Connection, key: str, limit: int, period_seconds: float
) -> tuple[bool, float, list[float]]:
    """Whether a start of `key` was admitted; else the database's clock and the start
    times (epoch seconds) within the window, to compute when one frees up."""
    row = execute_hot(
        conn, sql.TAKE_RATE_START, {"key": key, "limit": limit, "period_seconds": period_seconds}
    )
    return bool(row.admitted), float(row.now), [float(start) for start in row.starts or []]
