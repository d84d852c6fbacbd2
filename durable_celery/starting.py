"""Starting executions: validated, idempotent, and transactional with the caller's session.

The wake-up is published only after the execution row is committed. If publishing fails,
the start still succeeds: the row is the truth and the poller re-sends the wake-up.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from durable_celery import sql
from durable_celery.db import encode_json
from durable_celery.definition import Workflow, get_workflow
from durable_celery.errors import InvalidOption, InvalidPayload
from durable_celery.handle import ExecutionHandle
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.time import Duration, require_aware, to_timedelta

_PENDING_KEY = "durable_celery_wakeups"
_HOOKED_KEY = "durable_celery_hooked"
_MAX_KEY_LENGTH = 255
_PRIORITY_RANGE = (-1_000_000, 1_000_000)


def start(
    workflow: str,
    input: dict[str, Any] | None = None,
    *,
    queue: str | None = None,
    priority: int = 0,
    delay: Duration | None = None,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    session: Session | Connection | None = None,
) -> ExecutionHandle:
    """Start the workflow registered as `workflow`. See `Workflow.start_durable`."""
    if not isinstance(workflow, str):
        raise InvalidOption(f"workflow must be a registered name (str), got {workflow!r}")
    runtime = current_runtime()
    runtime.import_workflows()
    return start_execution(
        get_workflow(workflow),
        input,
        queue=queue,
        priority=priority,
        delay=delay,
        run_at=run_at,
        idempotency_key=idempotency_key,
        session=session,
    )


def start_execution(
    workflow: type[Workflow],
    input: dict[str, Any] | None,
    *,
    queue: str | None = None,
    priority: int = 0,
    delay: Duration | None = None,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    session: Session | Connection | None = None,
    parent_id: str | None = None,
    wake_parent: bool = False,
    runtime: Runtime | None = None,
) -> ExecutionHandle:
    runtime = runtime or current_runtime()
    params = _start_params(
        runtime, workflow, input, queue, priority, delay, run_at, idempotency_key, parent_id
    )
    params["wake_parent"] = wake_parent
    wakeup = (params["id"], params["queue"])
    if session is None:
        # One statement, so autocommit: one round trip instead of BEGIN, INSERT, COMMIT.
        # A conflicting idempotent start is awaited by ON CONFLICT, then found committed.
        with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            execution_id, created = _insert(conn, params)
        if created and params["dispatch_now"]:
            runtime.send_wakeups([wakeup])
        return ExecutionHandle(execution_id, runtime)
    if not isinstance(session, (Session, Connection)):
        raise InvalidOption(
            f"session must be a SQLAlchemy Session or Connection, got {type(session).__name__}"
        )
    execution_id, created = _insert(session, params)
    if created and params["dispatch_now"]:
        _publish_after_commit(session, runtime, wakeup)
    return ExecutionHandle(execution_id, runtime)


def _start_params(
    runtime: Runtime,
    workflow: type[Workflow],
    input: dict[str, Any] | None,
    queue: str | None,
    priority: int,
    delay: Duration | None,
    run_at: datetime | None,
    idempotency_key: str | None,
    parent_id: str | None,
) -> dict[str, Any]:
    if input is None:
        input = {}
    if not isinstance(input, dict):
        raise InvalidPayload(
            f"the input of workflow {workflow.name!r} must be a dict, got {type(input).__name__}"
        )
    input_json = encode_json(
        input, f"the input of workflow {workflow.name!r}", runtime.settings.max_payload_bytes
    )
    queue = workflow.queue if queue is None else queue
    if not isinstance(queue, str) or not queue:
        raise InvalidOption(f"queue must be a non-empty string, got {queue!r}")
    low, high = _PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not low <= priority <= high:
        raise InvalidOption(f"priority must be an int between {low} and {high}, got {priority!r}")
    if delay is not None and run_at is not None:
        raise InvalidOption("give either delay or run_at, not both")
    delay_seconds = to_timedelta(delay, "delay").total_seconds() if delay is not None else 0.0
    dispatch_now = delay_seconds == 0
    if run_at is not None:
        run_at = require_aware(run_at, "run_at")
        dispatch_now = run_at <= datetime.now(UTC)
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str)
        or not idempotency_key
        or len(idempotency_key) > _MAX_KEY_LENGTH
    ):
        raise InvalidOption(
            f"idempotency_key must be a non-empty string of at most {_MAX_KEY_LENGTH} "
            f"characters, got {idempotency_key!r}"
        )
    timeout = workflow.__timeout__
    return {
        "id": str(uuid.uuid4()),
        "workflow": workflow.name,
        "queue": queue,
        "priority": priority,
        "input": input_json,
        "first_step": workflow.__steps__[0].name,
        "run_at": run_at,
        "delay_seconds": delay_seconds,
        "dispatch_now": dispatch_now,
        "timeout_seconds": timeout.total_seconds() if timeout is not None else None,
        "idempotency_key": idempotency_key,
        "parent_id": parent_id,
    }


def _insert(executor: Session | Connection, params: dict[str, Any]) -> tuple[str, bool]:
    row = executor.execute(sql.START, params).first()
    if row is not None:
        return str(row.id), True
    existing = executor.execute(sql.FIND_BY_IDEMPOTENCY_KEY, params).one()
    return str(existing.id), False


def _publish_after_commit(
    session: Session | Connection, runtime: Runtime, wakeup: tuple[str, str]
) -> None:
    pending: list[tuple[str, str]] = session.info.setdefault(_PENDING_KEY, [])
    pending.append(wakeup)
    if session.info.get(_HOOKED_KEY):
        return
    session.info[_HOOKED_KEY] = True

    def discard(*_: Any) -> None:
        session.info.get(_PENDING_KEY, []).clear()

    def publish() -> None:
        wakeups = list(session.info.get(_PENDING_KEY, []))
        session.info.get(_PENDING_KEY, []).clear()
        if wakeups:
            runtime.send_wakeups(wakeups)

    if isinstance(session, Session):
        event.listen(session, "after_commit", lambda _session: publish())
        event.listen(session, "after_rollback", discard)
        return

    def commit_then_publish(conn: Connection) -> None:
        if not session.info.get(_PENDING_KEY):
            return
        # Connections have no after-commit hook: commit the DBAPI transaction here, so the
        # wake-up can never reach a worker before the row is visible. SQLAlchemy's own
        # commit that follows finds nothing left to commit.
        conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]
        publish()

    event.listen(session, "commit", commit_then_publish)
    event.listen(session, "rollback", discard)
