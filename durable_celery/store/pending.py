"""Read side of what executions wait for from outside: human inputs and events."""

from __future__ import annotations

from sqlalchemy import Connection

from durable_celery.states import InputKind, InputStatus, WaitKind
from durable_celery.store.records import PendingEvent, PendingInput
from durable_celery.store.sql import pending as sql


def inputs(
    conn: Connection,
    *,
    workflow: str | None,
    execution_id: str | None,
    statuses: list[InputStatus] | None,
) -> list[PendingInput]:
    """Inputs of those statuses (None: all), with their answers, oldest first; a pending one
    only while its execution is live."""
    query = sql.select_inputs(workflow=workflow, execution_id=execution_id, statuses=statuses)
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
            kind=InputKind(row.kind),
            choices=row.choices,
            status=InputStatus(row.status),
            value=row.value,
            answered_at=row.answered_at,
        )
        for row in conn.execute(query)
    ]


def events(
    conn: Connection, *, workflow: str | None, event: str | None, execution_id: str | None
) -> list[PendingEvent]:
    """The events live executions still wait for, one per (wait, name), oldest wait first."""
    rows = conn.execute(
        sql.AWAITED_EVENTS,
        {"workflow": workflow, "event": event, "execution_id": execution_id},
    )
    return [
        PendingEvent(
            execution_id=str(row.execution_id),
            workflow=row.workflow,
            event=row.event,
            kind=WaitKind(row.kind),
            step=row.step_name,
            since=row.since,
            until=row.until,
            key=row.event_key or None,
        )
        for row in rows
    ]
