"""Signals from outside into executions: buffered events and answers to inputs.

Callers lock the execution first (control.lock_execution) in the same transaction and
publish the returned wake-ups after it commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from durable_celery.errors import EventBufferFull
from durable_celery.ids import new_id
from durable_celery.states import ExecutionStatus, InputKind
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import signals as sql


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
