"""Signals from outside into executions: events (buffered; sent to one execution, or
published by name and key to every execution waiting on them) and human input, and what
executions wait for.

Each signal is one transaction: the signal is stored, the execution is woken if it waits
for it (or flagged if it is running right now), and the wake-up is published after
commit. The poller is only the safety net.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from durable_celery.checks import check_event_key, check_name, check_text
from durable_celery.dsl.inputs import Question, check_answer
from durable_celery.errors import ExecutionStateError, InputNotRequested, InvalidOption
from durable_celery.ids import parse_execution_id
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import InputStatus
from durable_celery.store import control, pending, signals
from durable_celery.store.connections import reading, transaction
from durable_celery.store.records import PendingEvent, PendingInput


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


def publish_event(
    name: str, payload: Any = None, key: str | None = None, *, runtime: Runtime | None = None
) -> int:
    """Publish event `name` by correlation key, without knowing execution ids: every live
    execution whose wait_for_event(name, key=key) is open receives it now and is woken;
    one that reaches such a wait later receives it too, if it was created at or before
    this call and reaches the wait within durable_event_retention. Each execution takes
    each published event once. Without a key it goes to wait_for_event(name) waits that
    have none. Returns how many executions received it now."""
    check_name(name, "event name")
    if key is not None:
        check_event_key(key, "event key")
    runtime = runtime or current_runtime()
    payload_json = runtime.codec.encode_incoming(payload, f"the payload of event {name!r}")
    with transaction(runtime.database) as conn:
        published = signals.publish_event(
            conn, name, key or "", payload_json, runtime.settings.event_retention
        )
    runtime.publish(published.wakeups)
    return published.delivered


def provide_input(
    execution_id: str, name: str, value: Any = None, *, runtime: Runtime | None = None
) -> None:
    """Answer the input `name` that an execution asks for (`ctx.wait_for_input` and its
    shorthands). The answer must fit the input's kind (InvalidPayload otherwise, and
    nothing is written); an approval is stored as {"approved": bool, "comment": str|None}."""
    execution_id = parse_execution_id(execution_id)
    check_name(name, "input name")
    runtime = runtime or current_runtime()
    what = f"the value of input {name!r}"
    value_json = runtime.codec.encode_incoming(value, what)
    with transaction(runtime.database) as conn:
        _lock_live(conn, execution_id, f"provide input {name!r} to")
        asked = signals.asked_input(conn, execution_id, name)
        wakeups = None
        if asked is not None:
            # Checked as it will be stored and read back: JSON (a tuple is a list).
            sent = json.loads(value_json)
            answer = check_answer(name, Question(asked.kind, asked.choices, asked.fields), sent)
            if answer is not sent:
                value_json = runtime.codec.encode_incoming(answer, what)
            wakeups = signals.answer_input(conn, execution_id, name, value_json)
        if wakeups is None:
            open_names = signals.open_input_names(conn, execution_id)
            raise InputNotRequested(execution_id, name, open_names)
    runtime.publish(wakeups)


_STATUSES = ", ".join(InputStatus)


def list_pending_inputs(
    workflow: str | None = None,
    execution_id: str | None = None,
    status: str | Iterable[str] | None = InputStatus.PENDING,
    *,
    runtime: Runtime | None = None,
) -> list[PendingInput]:
    """Inputs asked by executions, oldest first, with their kind, choices, status and answer.
    `status`: pending (default: the questions live executions wait on), answered,
    timed_out or cancelled, a list of them, or None for all."""
    if execution_id is not None:
        execution_id = parse_execution_id(execution_id)
    if workflow is not None:
        check_text(workflow, "workflow")
    statuses = _input_statuses(status)
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return pending.inputs(conn, workflow=workflow, execution_id=execution_id, statuses=statuses)


def list_pending_events(
    workflow: str | None = None,
    event: str | None = None,
    execution_id: str | None = None,
    *,
    runtime: Runtime | None = None,
) -> list[PendingEvent]:
    """The events live executions wait for (wait_for_event, wait_for_any, wait_for_all):
    one record per execution and event name still awaited, oldest wait first. An event
    already received by a wait_for_all, or sent and not yet taken, is not listed."""
    if execution_id is not None:
        execution_id = parse_execution_id(execution_id)
    if workflow is not None:
        check_text(workflow, "workflow")
    if event is not None:
        check_name(event, "event name")
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return pending.events(conn, workflow=workflow, event=event, execution_id=execution_id)


def _input_statuses(status: Any) -> list[InputStatus] | None:
    if status is None:
        return None
    given = [status] if isinstance(status, str) else status
    if not isinstance(given, (list, tuple, set, frozenset)) or not given:
        raise InvalidOption(
            f"status must be one of {_STATUSES}, a list of them, or None for all; got {status!r}"
        )
    unknown = [value for value in given if not isinstance(value, str) or value not in _VALID]
    if unknown:
        raise InvalidOption(
            f"unknown input status {unknown[0]!r}: use one of {_STATUSES}, a list of them, "
            f"or None for all"
        )
    return sorted({InputStatus(value) for value in given})


_VALID = frozenset(InputStatus)


def _lock_live(conn: Connection, execution_id: str, action: str) -> None:
    row = control.lock_execution(conn, execution_id)
    if not row.status.live:
        raise ExecutionStateError(execution_id, row.status, action)
