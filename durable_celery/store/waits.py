"""Waits inside steps: the row of each wait, the events it consumes, the input it asks.

Every function is fenced by the claim; `open_wait` reports a lost claim as None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from durable_celery.errors import cancellation_record
from durable_celery.ids import new_id
from durable_celery.states import ExecutionStatus, InputKind, WaitKind, WaitStatus
from durable_celery.store import control
from durable_celery.store.executions import Fence
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import waits as sql


@dataclass(frozen=True)
class WaitRow:
    id: str
    kind: WaitKind
    names: list[str] | None
    event_key: str | None  # a wait_for_event's key, '' for none; None for other waits
    status: WaitStatus
    value: dict[str, Any] | None
    wake_at: datetime | None
    deadline_at: datetime | None
    now: datetime  # the database's clock, read with the row

    @property
    def expired(self) -> bool:
        return self.deadline_at is not None and self.now >= self.deadline_at


@dataclass(frozen=True)
class WaitPlace:
    """Where a wait stands: the step, the step's visit (loops) and its position among the
    waits of one run of the step."""

    step_name: str
    visit: int
    position: int


def open_wait(
    conn: Connection,
    fence: Fence,
    place: WaitPlace,
    kind: WaitKind,
    names: list[str] | None,
    *,
    wake_at: datetime | None = None,
    sleep_seconds: float | None = None,
    timeout_seconds: float | None = None,
    event_key: str | None = None,
) -> WaitRow | None:
    """The wait recorded at this place, recording it the first time (which fixes its
    timer and deadline); None when the claim was lost. `event_key` is a wait_for_event's
    key ('' for none), recorded under the shared lock of its topic (see WAIT_OPEN)."""
    topic = None if event_key is None or not names else event_topic(names[0], event_key)
    row = conn.execute(
        sql.WAIT_OPEN,
        {
            "execution_id": fence.execution_id,
            "token": fence.token,
            "wait_id": new_id(),
            "step_name": place.step_name,
            "visit": place.visit,
            "position": place.position,
            "kind": kind,
            "names": None if names is None else json.dumps(names),
            "event_key": event_key,
            "topic": topic,
            "wake_at": wake_at,
            "sleep_seconds": sleep_seconds,
            "timeout_seconds": timeout_seconds,
        },
    ).first()
    if row is None or not row.fenced:
        return None
    return WaitRow(
        id=str(row.id),
        kind=WaitKind(row.kind),
        names=row.names,
        event_key=row.event_key,
        status=WaitStatus(row.status),
        value=row.value,
        wake_at=row.wake_at,
        deadline_at=row.deadline_at,
        now=row.now,
    )


def event_topic(name: str, event_key: str) -> str:
    """What the lock of publish_event and wait_for_event is taken on: name and key."""
    return f"{name}\x1f{event_key}"


def consume_event(
    conn: Connection,
    fence: Fence,
    wait_id: str,
    names: list[str],
    event_key: str | None = None,
) -> dict[str, Any] | None:
    """Give the oldest buffered event among `names` to the wait; its value now, or None
    when no such event is buffered. With `event_key` (a wait_for_event: its key, '' for
    none), also the events published on that name and key that this execution has not
    taken yet."""
    row = conn.execute(
        sql.WAIT_CONSUME_EVENT,
        {
            "execution_id": fence.execution_id,
            "token": fence.token,
            "wait_id": wait_id,
            "names": names,
            "event_key": event_key,
            "event_id": new_id(),
        },
    ).first()
    return None if row is None else dict(row.value)


def resolve_wait(conn: Connection, fence: Fence, wait_id: str, status: WaitStatus) -> None:
    conn.execute(
        sql.WAIT_RESOLVE,
        {
            "execution_id": fence.execution_id,
            "token": fence.token,
            "wait_id": wait_id,
            "status": status,
        },
    )


def request_input(
    conn: Connection,
    fence: Fence,
    wait: WaitRow,
    *,
    name: str,
    step_name: str,
    prompt: str | None,
    fields: Any,
    kind: InputKind,
    choices: list[Any] | None,
) -> None:
    """Record what a human is asked (once per wait)."""
    conn.execute(
        sql.INPUT_REQUEST,
        {
            "execution_id": fence.execution_id,
            "token": fence.token,
            "input_id": new_id(),
            "name": name,
            "step_name": step_name,
            "wait_id": wait.id,
            "prompt": prompt,
            "kind": kind,
            "choices": None if choices is None else json.dumps(choices),
            "fields": None if fields is None else json.dumps(fields),
            "deadline_at": wait.deadline_at,
        },
    )


def expire_input(conn: Connection, wait_id: str) -> bool:
    """Close an input whose deadline passed; False when it was answered a moment ago."""
    return conn.execute(sql.INPUT_EXPIRE, {"wait_id": wait_id}).first() is not None


@dataclass(frozen=True)
class ChildStopped:
    fenced: bool  # False: the claim was lost, nothing was written
    stopped: bool  # False: the child had ended already; its outcome stands
    wakeups: list[Wakeup]


def stop_timed_out_child(
    conn: Connection, fence: Fence, wait_id: str, child_id: str, reason: str
) -> ChildStopped:
    """A child call's timer passed: mark it timed out and cancel the child, with its own
    children, in the caller's transaction; unless the child ended meanwhile."""
    row = conn.execute(
        sql.CHILD_TIMED_OUT,
        {
            "execution_id": fence.execution_id,
            "token": fence.token,
            "child_id": child_id,
            "wait_id": wait_id,
        },
    ).one()
    if not row.fenced or not row.detached:
        return ChildStopped(bool(row.fenced), False, [])
    wakeups = control.stop_executions(
        conn,
        [child_id],
        ExecutionStatus.CANCELLED,
        cancellation_record(reason),
        include_running=False,
    )
    return ChildStopped(True, True, wakeups)
