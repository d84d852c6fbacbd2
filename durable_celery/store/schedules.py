"""Schedules as stored: taking the due ones, firing one fire time, declaring, steering.

Every function runs in the caller's transaction. A fire (`fire`) applies the schedule's
overlap policy and inserts the execution under the schedule's row lock, so the sweep and
`trigger_schedule` of one schedule never run side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from durable_celery.errors import ScheduleNotFound, cancellation_record
from durable_celery.states import (
    ExecutionStatus,
    MisfirePolicy,
    OverlapPolicy,
    ScheduleOrigin,
    ScheduleStatus,
    TriggerKind,
)
from durable_celery.store import starts
from durable_celery.store.codec import Codec
from durable_celery.store.control import stop_executions
from durable_celery.store.records import Schedule, Wakeup
from durable_celery.store.sql import schedules as sql


@dataclass(frozen=True)
class ScheduleRow:
    """What the store writes for a schedule: its definition and its next fire time."""

    key: str
    workflow: str
    trigger_kind: TriggerKind
    expression: str
    timezone: str
    input: dict[str, Any]
    queue: str | None
    overlap: OverlapPolicy
    misfire: MisfirePolicy
    misfire_grace: float
    catch_up_limit: int
    next_fire_at: datetime

    def params(self, codec: Codec) -> dict[str, Any]:
        params = dict(vars(self))
        params["input"] = codec.encode_incoming(self.input, f"the input of schedule {self.key!r}")
        return params


@dataclass(frozen=True)
class Locked:
    """A schedule locked for this transaction, and the database's clock when it was."""

    schedule: Schedule
    now: datetime


def take_due(conn: Connection, batch_size: int) -> list[Locked]:
    """The active schedules due now, locked (see TAKE_DUE)."""
    rows = conn.execute(sql.TAKE_DUE, {"batch_size": batch_size})
    return [Locked(_schedule(row), row.now) for row in rows]


def lock(conn: Connection, key: str) -> Locked:
    row = conn.execute(sql.LOCK, {"key": key}).first()
    if row is None:
        raise ScheduleNotFound(key)
    return Locked(_schedule(row), row.now)


def get(conn: Connection, key: str) -> Schedule:
    row = conn.execute(sql.GET, {"key": key}).first()
    if row is None:
        raise ScheduleNotFound(key)
    return _schedule(row)


def listed(
    conn: Connection, *, workflow: str | None, status: ScheduleStatus | None
) -> list[Schedule]:
    rows = conn.execute(sql.LIST, {"workflow": workflow, "status": status})
    return [_schedule(row) for row in rows]


@dataclass(frozen=True)
class Fired:
    """One fire time of a schedule: the execution it started, or the live run that made
    it skip (overlap="skip"); the wake-ups to publish after commit."""

    execution_id: str | None
    skipped_for: str | None
    wakeups: list[Wakeup]


def fire(conn: Connection, schedule: Schedule, new: starts.NewExecution, codec: Codec) -> Fired:
    """Start `new` for a schedule the caller locked, as its overlap policy says: with a
    live run, "skip" starts nothing and "cancel_previous" cancels the live runs first."""
    wakeups: list[Wakeup] = []
    if schedule.overlap is not OverlapPolicy.ALLOW:
        live = [str(row.id) for row in conn.execute(sql.LIVE_RUNS, {"key": schedule.key})]
        if live and schedule.overlap is OverlapPolicy.SKIP:
            return Fired(None, live[0], [])
        wakeups += stop_executions(
            conn,
            live,
            ExecutionStatus.CANCELLED,
            cancellation_record(
                f"schedule {schedule.key!r} fired again (overlap='cancel_previous')"
            ),
            include_running=False,
        )
    started = starts.start(conn, new, codec)
    return Fired(started.id, None, wakeups + started.wakeup(new))


def record_fire(
    conn: Connection,
    key: str,
    next_fire_at: datetime,
    *,
    last_fire_at: datetime | None,
    last_execution_id: str | None,
    last_error: str | None,
) -> None:
    conn.execute(
        sql.RECORD_FIRE,
        {
            "key": key,
            "next_fire_at": next_fire_at,
            "last_fire_at": last_fire_at,
            "last_execution_id": last_execution_id,
            "last_error": last_error,
        },
    )


@dataclass(frozen=True)
class Declared:
    key: str
    next_fire_at: datetime
    status: ScheduleStatus
    inserted: bool


def declare(
    conn: Connection, rows: list[ScheduleRow], workflows: list[str], codec: Codec
) -> tuple[list[Declared], list[str]]:
    """Make the stored schedules of origin "code" of `workflows` (the ones registered in
    this process) those `rows` (see DECLARE and DISABLE_UNDECLARED); returns what each
    became and the keys disabled."""
    declared = []
    for row in sorted(rows, key=lambda row: row.key):
        result = conn.execute(sql.DECLARE, row.params(codec)).one()
        declared.append(
            Declared(
                result.key, result.next_fire_at, ScheduleStatus(result.status), result.inserted
            )
        )
    disabled = conn.execute(
        sql.DISABLE_UNDECLARED,
        {"declared": [row.key for row in rows], "workflows": sorted(workflows)},
    )
    return declared, [row.key for row in disabled]


def put(conn: Connection, row: ScheduleRow, codec: Codec) -> Schedule | None:
    """Create or change a run-time schedule; None when the code declares that key."""
    result = conn.execute(sql.PUT, row.params(codec)).first()
    return None if result is None else _schedule(result)


def set_status(
    conn: Connection, key: str, status: ScheduleStatus, next_fire_at: datetime | None = None
) -> Schedule:
    return _schedule(
        conn.execute(
            sql.SET_STATUS, {"key": key, "status": status, "next_fire_at": next_fire_at}
        ).one()
    )


def delete(conn: Connection, key: str) -> None:
    conn.execute(sql.DELETE, {"key": key})


def _schedule(row: Any) -> Schedule:
    return Schedule(
        key=row.key,
        workflow=row.workflow,
        trigger=TriggerKind(row.trigger_kind),
        expression=row.expression,
        timezone=row.timezone,
        input=row.input if not isinstance(row.input, str) else json.loads(row.input),
        queue=row.queue,
        overlap=OverlapPolicy(row.overlap),
        misfire=MisfirePolicy(row.misfire),
        misfire_grace=row.misfire_grace,
        catch_up_limit=row.catch_up_limit,
        status=ScheduleStatus(row.status),
        origin=ScheduleOrigin(row.origin),
        next_fire_at=row.next_fire_at,
        last_fire_at=row.last_fire_at,
        last_execution_id=None if row.last_execution_id is None else str(row.last_execution_id),
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
