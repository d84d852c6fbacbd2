"""Signals from outside into executions: buffered events, published events and answers to
inputs.

Callers lock the execution first (control.lock_execution) in the same transaction (a
published event locks the executions it reaches itself) and publish the returned
wake-ups after it commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from durable_celery.errors import EventBufferFull
from durable_celery.ids import new_id
from durable_celery.states import ExecutionStatus, InputKind
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import signals as sql
from durable_celery.store.waits import event_topic


def buffer_event(
    conn: Connection, execution_id: str, name: str, payload: str, max_buffered: int
) -> list[Wakeup]:
    """Keep the event until a wait takes it, and wake the execution if it waits for it
    (or flag it, if it is running right now). EventBufferFull when `max_buffered` events
    already wait unconsumed."""
    buffered = conn.execute(
        sql.INSERT_EVENT,
        {
            "event_id": new_id(),
            "id": execution_id,
            "name": name,
            "payload": payload,
            "max_buffered": max_buffered,
        },
    ).first()
    if buffered is None:
        raise EventBufferFull(
            f"execution {execution_id} already has {max_buffered} events waiting unconsumed "
            f"(durable_max_buffered_events): it is not reaching the waits they are for"
        )
    return _wake(conn, execution_id, name, answered_input=False)


@dataclass(frozen=True)
class Published:
    delivered: int  # executions that received the event now
    wakeups: list[Wakeup]  # to publish after commit: those that were waiting


def publish_event(
    conn: Connection, name: str, event_key: str, payload: str, retention_seconds: float
) -> Published:
    """Keep the event for `retention_seconds` under its name and key ('' for none) and
    deliver it to every live execution waiting on them, waking those that wait. Takes the
    (name, key) lock first, in the caller's transaction (see LOCK_TOPIC)."""
    conn.execute(sql.LOCK_TOPIC, {"topic": event_topic(name, event_key)})
    rows = conn.execute(
        sql.PUBLISH_EVENT,
        {
            "event_id": new_id(),
            "name": name,
            "event_key": event_key,
            "names": json.dumps([name]),
            "payload": payload,
            "retention_seconds": retention_seconds,
        },
    ).all()
    wakeups = [
        Wakeup(str(row.id), row.queue, label=row.workflow)
        for row in rows
        if row.id is not None and row.status == ExecutionStatus.PENDING
    ]
    return Published(int(rows[0].delivered), wakeups)


def answer_input(conn: Connection, execution_id: str, name: str, value: str) -> list[Wakeup] | None:
    """Answer the open input of that name and wake the execution; None when the execution
    does not ask for it."""
    answered = conn.execute(
        sql.ANSWER_INPUT, {"id": execution_id, "name": name, "value": value}
    ).first()
    if answered is None:
        return None
    return _wake(conn, execution_id, name, answered_input=True)


@dataclass(frozen=True)
class AskedInput:
    """What an open input asks for: the kind of answer, and its choices or fields."""

    kind: InputKind
    choices: list[Any] | None
    fields: dict[str, str] | None


def asked_input(conn: Connection, execution_id: str, name: str) -> AskedInput | None:
    """What the open input `name` asks for; None when the execution does not ask it."""
    row = conn.execute(sql.ASKED_INPUT, {"id": execution_id, "name": name}).first()
    if row is None:
        return None
    return AskedInput(InputKind(row.kind), row.choices, row.fields)


def open_input_names(conn: Connection, execution_id: str) -> list[str]:
    return [row.name for row in conn.execute(sql.OPEN_INPUT_NAMES, {"id": execution_id})]


def _wake(conn: Connection, execution_id: str, name: str, *, answered_input: bool) -> list[Wakeup]:
    woken = conn.execute(
        sql.WAKE_FOR_SIGNAL, {"id": execution_id, "name": name, "answered_input": answered_input}
    ).first()
    if woken is None or woken.status != ExecutionStatus.PENDING:
        return []
    return [Wakeup(execution_id, woken.queue, label=woken.workflow)]
