"""Signals from outside into executions: events (buffered) and human input.

Each call is one transaction: the signal is stored, the execution is woken if it waits
for it (or flagged if it is running right now), and the wake-up is published after
commit. The poller is only the safety net.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from durable_celery.checks import check_name, check_text
from durable_celery.dsl.inputs import check_answer
from durable_celery.errors import ExecutionStateError, InputNotRequested
from durable_celery.ids import parse_execution_id
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.store import control, queries, signals
from durable_celery.store.connections import reading, transaction
from durable_celery.store.records import PendingInput


def send_event(
    execution_id: str, name: str, payload: Any = None, *, runtime: Runtime | None = None
) -> None:
    """Deliver event `name` to an execution. It is kept until a wait for that name takes
    it, so an event sent before the execution reaches its wait is never lost; two events
    of one name go to two waits in the order sent."""
    execution_id = parse_execution_id(execution_id)
    check_name(name, "event name")
    runtime = runtime or current_runtime()
    payload_json = runtime.codec.encode_incoming(payload, f"the payload of event {name!r}")
    with transaction(runtime.database) as conn:
        _lock_live(conn, execution_id, f"send event {name!r} to")
        wakeups = signals.buffer_event(
            conn, execution_id, name, payload_json, runtime.settings.max_buffered_events
        )
    runtime.publish(wakeups)


def provide_input(
    execution_id: str, name: str, value: Any = None, *, runtime: Runtime | None = None
) -> None:
    """Answer the input `name` that an execution asks for (`ctx.wait_for_input`)."""
    execution_id = parse_execution_id(execution_id)
    check_name(name, "input name")
    runtime = runtime or current_runtime()
    value_json = runtime.codec.encode_incoming(value, f"the value of input {name!r}")
    with transaction(runtime.database) as conn:
        _lock_live(conn, execution_id, f"provide input {name!r} to")
        check_answer(name, signals.asked_fields(conn, execution_id, name), value)
        wakeups = signals.answer_input(conn, execution_id, name, value_json)
        if wakeups is None:
            open_names = signals.open_input_names(conn, execution_id)
            raise InputNotRequested(execution_id, name, open_names)
    runtime.publish(wakeups)


def list_pending_inputs(
    workflow: str | None = None,
    execution_id: str | None = None,
    *,
    runtime: Runtime | None = None,
) -> list[PendingInput]:
    """Inputs that live executions are waiting for, oldest first."""
    if execution_id is not None:
        execution_id = parse_execution_id(execution_id)
    if workflow is not None:
        check_text(workflow, "workflow")
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return queries.open_inputs(conn, workflow=workflow, execution_id=execution_id)


def _lock_live(conn: Connection, execution_id: str, action: str) -> None:
    row = control.lock_execution(conn, execution_id)
    if not row.status.live:
        raise ExecutionStateError(execution_id, row.status, action)
