"""What executions wait for from outside, read side: the human inputs they asked (open,
answered or timed out) and the events their open waits still listen for. Read-only:
committed rows, no locks, so an answer or an event that commits meanwhile shows on the
next read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select, text

from durable_celery.states import LIVE_STATUSES, InputStatus
from durable_celery.store.schema import pending_inputs, workflow_executions

_i = pending_inputs.c
_e = workflow_executions.c


def select_inputs(
    *, workflow: str | None, execution_id: str | None, statuses: list[InputStatus] | None
) -> Select[Any]:
    """Inputs of those statuses (None: all), oldest first. A pending input is listed only
    while its execution is live. Composed per call, so the default (pending only) scans
    the partial index of open inputs and never the answered history."""
    query = (
        select(pending_inputs, _e.workflow)
        .join(workflow_executions, _e.id == _i.execution_id)
        .order_by(_i.created_at, _i.id)
    )
    if statuses == [InputStatus.PENDING]:
        query = query.where(_i.status == InputStatus.PENDING, _e.status.in_(LIVE_STATUSES))
    else:
        if statuses is not None:
            query = query.where(_i.status.in_(statuses))
        query = query.where(or_(_i.status != InputStatus.PENDING, _e.status.in_(LIVE_STATUSES)))
    if workflow is not None:
        query = query.where(_e.workflow == workflow)
    if execution_id is not None:
        query = query.where(_i.execution_id == execution_id)
    return query


AWAITED_EVENTS = text(
    """
    SELECT w.execution_id, e.workflow, n.name AS event, w.kind, w.step_name,
           w.created_at AS since, w.deadline_at AS until, w.event_key
    FROM step_waits AS w
    JOIN workflow_executions AS e ON e.id = w.execution_id
    CROSS JOIN LATERAL jsonb_array_elements_text(w.names) WITH ORDINALITY AS n(name, ord)
    WHERE w.status = 'waiting' AND w.kind IN ('event', 'any', 'all')
      AND e.status IN ('pending', 'running', 'waiting')
      AND (CAST(:workflow AS text) IS NULL OR e.workflow = CAST(:workflow AS text))
      AND (CAST(:execution_id AS uuid) IS NULL OR w.execution_id = CAST(:execution_id AS uuid))
      AND (CAST(:event AS text) IS NULL OR n.name = CAST(:event AS text))
      -- wait_for_all records each event as it takes it: that name is awaited no more.
      AND NOT jsonb_exists(coalesce(w.value, '{}'::jsonb), n.name)
      -- Sent but not yet taken (the execution is about to run): no longer awaited either;
      -- for event and any, one such event ends the whole wait.
      AND NOT EXISTS (
          SELECT 1 FROM workflow_events AS ev
          WHERE ev.execution_id = w.execution_id AND ev.consumed_by IS NULL
            AND (ev.name = n.name OR (w.kind <> 'all' AND jsonb_exists(w.names, ev.name))))
    ORDER BY w.created_at, w.execution_id, n.ord
    """
)
"""One row per (open wait, event name) that live executions still wait for, oldest wait
first: the open waits of kind event, any or all (the partial index of open waits), less
the names already received or buffered. Filters are optional (NULL: any)."""
