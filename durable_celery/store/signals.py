"""Signals from outside into executions: buffered events and answers to inputs.

Callers lock the execution first (control.lock_execution) in the same transaction and
publish the returned wake-ups after it commits.
"""

from __future__ import annotations

from sqlalchemy import Connection

from durable_celery.errors import EventBufferFull
from durable_celery.ids import new_id
from durable_celery.states import ExecutionStatus
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


def asked_fields(conn: Connection, execution_id: str, name: str) -> dict[str, str] | None:
    """The fields the open input `name` asks for (None: no fields, or no such input)."""
    row = conn.execute(sql.INPUT_FIELDS, {"id": execution_id, "name": name}).first()
    return None if row is None else row.fields


def open_input_names(conn: Connection, execution_id: str) -> list[str]:
    return [row.name for row in conn.execute(sql.OPEN_INPUT_NAMES, {"id": execution_id})]


def _wake(conn: Connection, execution_id: str, name: str, *, answered_input: bool) -> list[Wakeup]:
    woken = conn.execute(
        sql.WAKE_FOR_SIGNAL, {"id": execution_id, "name": name, "answered_input": answered_input}
    ).first()
    if woken is None or woken.status != ExecutionStatus.PENDING:
        return []
    return [Wakeup(execution_id, woken.queue, label=woken.workflow)]
