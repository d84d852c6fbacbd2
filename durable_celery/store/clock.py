"""A virtual clock for tests: moving every stored time of the durable tables back by a
duration is, for everything the engine compares with now() (timers, retry delays, wait
timeouts, workflow deadlines, event retention, rate-limit windows, schedule fire times),
the same as moving the clock forward by it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from sqlalchemy import Connection

from durable_celery.store.sql import clock as sql
from durable_celery.store.tables import metadata


def timestamp_columns(conn: Connection) -> dict[str, list[tuple[str, bool]]]:
    """{table: [(timestamptz column, is an array)]} of durable-celery's tables, read from
    the catalog."""
    rows = conn.execute(
        sql.TIMESTAMP_COLUMNS,
        {
            "tables": sorted(metadata.tables),
            "scalar_type": "timestamptz",
            "array_type": "_timestamptz",
            "table_type": "BASE TABLE",
        },
    )
    columns: dict[str, list[tuple[str, bool]]] = {}
    for row in rows:
        columns.setdefault(row.table_name, []).append((row.column_name, row.is_array))
    return columns


def shift_back(
    conn: Connection, delta: timedelta, columns: Mapping[str, Sequence[tuple[str, bool]]]
) -> int:
    """Move every stored time in `columns` (timestamp_columns) back by `delta`, in one
    statement; returns how many rows moved."""
    moved: int = conn.execute(
        sql.shift_back(columns), {"seconds": delta.total_seconds()}
    ).scalar_one()
    return moved


def anything_due(conn: Connection) -> bool:
    """Whether a poll might find anything due now (see sql.ANYTHING_DUE)."""
    return bool(conn.execute(sql.ANYTHING_DUE).scalar_one())


def next_timer(conn: Connection) -> timedelta | None:
    """How long until the next timer is due; None when no timer is set."""
    seconds = conn.execute(sql.NEXT_TIMER).scalar_one()
    return None if seconds is None else timedelta(seconds=float(seconds))
