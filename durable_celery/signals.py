"""Signals from outside into executions: events (buffered) and human input.

Each call is one transaction: the signal is stored, the execution is woken if it waits
for it (or flagged if it is running right now), and the wake-up is published after
commit. The poller is only the safety net.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, select

from durable_celery import sql
from durable_celery.context import check_name
from durable_celery.control import lock_execution
from durable_celery.db import encode_json
from durable_celery.errors import (
    ExecutionStateError,
    InputNotRequested,
)
from durable_celery.models import LIVE_STATUSES, pending_inputs, workflow_executions
from durable_celery.query import parse_execution_id
from durable_celery.records import PendingInput
from durable_celery.runtime import Runtime, current_runtime


def send_event(
    execution_id: str, name: str, payload: Any = None, *, runtime: Runtime | None = None
) -> None:
    """Deliver event `name` to an execution. It is kept until a wait for that name takes
    it, so an event sent before the execution reaches its wait is never lost; two events
    of one name go to two waits in the order sent."""
    execution_id = parse_execution_id(execution_id)
    check_name(name, "event name")
    runtime = runtime or current_runtime()
    payload_json = encode_json(
        payload, f"the payload of event {name!r}", runtime.settings.max_payload_bytes
    )
    with runtime.engine.begin() as conn:
        _lock_live(conn, execution_id, f"send event {name!r} to")
        conn.execute(
            sql.INSERT_EVENT,
            {
                "event_id": str(uuid.uuid4()),
                "id": execution_id,
                "name": name,
                "payload": payload_json,
            },
        )
        woken = conn.execute(
            sql.WAKE_FOR_SIGNAL, {"id": execution_id, "name": name, "answered_input": False}
        ).first()
    if woken is not None and woken.status == "pending":
        runtime.send_wakeups([(execution_id, woken.queue)])


def provide_input(
    execution_id: str, name: str, value: Any = None, *, runtime: Runtime | None = None
) -> None:
    """Answer the input `name` that an execution asks for (`ctx.wait_for_input`)."""
    execution_id = parse_execution_id(execution_id)
    check_name(name, "input name")
    runtime = runtime or current_runtime()
    value_json = encode_json(
        value, f"the value of input {name!r}", runtime.settings.max_payload_bytes
    )
    with runtime.engine.begin() as conn:
        _lock_live(conn, execution_id, f"provide input {name!r} to")
        answered = conn.execute(
            sql.ANSWER_INPUT, {"id": execution_id, "name": name, "value": value_json}
        ).first()
        if answered is None:
            open_names = [
                row.name for row in conn.execute(sql.OPEN_INPUT_NAMES, {"id": execution_id})
            ]
            raise InputNotRequested(execution_id, name, open_names)
        woken = conn.execute(
            sql.WAKE_FOR_SIGNAL, {"id": execution_id, "name": name, "answered_input": True}
        ).first()
    if woken is not None and woken.status == "pending":
        runtime.send_wakeups([(execution_id, woken.queue)])


def list_pending_inputs(
    workflow: str | None = None,
    execution_id: str | None = None,
    *,
    runtime: Runtime | None = None,
) -> list[PendingInput]:
    """Inputs that live executions are waiting for, oldest first."""
    inputs, executions = pending_inputs, workflow_executions
    query = (
        select(inputs, executions.c.workflow)
        .join(executions, executions.c.id == inputs.c.execution_id)
        .where(inputs.c.status == "pending", executions.c.status.in_(LIVE_STATUSES))
        .order_by(inputs.c.created_at)
    )
    if workflow is not None:
        query = query.where(executions.c.workflow == workflow)
    if execution_id is not None:
        query = query.where(inputs.c.execution_id == parse_execution_id(execution_id))
    runtime = runtime or current_runtime()
    with runtime.engine.connect() as conn:
        return [
            PendingInput(
                id=str(row.id),
                execution_id=str(row.execution_id),
                workflow=row.workflow,
                name=row.name,
                step=row.step_name,
                prompt=row.prompt,
                fields=row.fields,
                deadline_at=row.deadline_at,
                created_at=row.created_at,
            )
            for row in conn.execute(query)
        ]


def _lock_live(conn: Connection, execution_id: str, action: str) -> None:
    row = lock_execution(conn, execution_id)
    if row.status not in LIVE_STATUSES:
        raise ExecutionStateError(execution_id, row.status, action)
