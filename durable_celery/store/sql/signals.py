"""Signals from outside into executions: buffered events and answers to inputs."""

from __future__ import annotations

from sqlalchemy import text

from durable_celery.store.sql.fragments import wake

INSERT_EVENT = text(
    """
    INSERT INTO workflow_events (id, execution_id, name, payload)
    SELECT :event_id, :id, :name, CAST(:payload AS jsonb)
    WHERE (SELECT count(*) FROM workflow_events
           WHERE execution_id = :id AND consumed_by IS NULL) < :max_buffered
    RETURNING id
    """
)
"""Buffer an event for an execution, in arrival order (`seq`), unless `max_buffered` of
its events already wait unconsumed (no row returned). The caller holds the execution's
row lock (LOCK_EXECUTION), so it cannot end meanwhile and two senders cannot both pass
the count."""

WAKE_FOR_SIGNAL = text(
    """
    UPDATE workflow_executions AS e
    SET """
    + wake("e")
    + """
    WHERE e.id = :id
      AND (e.status = 'running'
           OR (e.status = 'waiting' AND :answered_input)
           OR (e.status = 'waiting' AND EXISTS (
                SELECT 1 FROM step_waits AS w
                WHERE w.execution_id = e.id AND w.status = 'waiting'
                  AND jsonb_exists(w.names, :name))))
    RETURNING e.status, e.queue, e.workflow
    """
)
"""Wake an execution for an event or input named `name`: a waiting one whose open wait
listens for that name (or whose input was just answered) goes pending at once; a running
one is flagged, so that if it is about to suspend it goes straight back to pending.
Anyone else keeps the event buffered."""

ANSWER_INPUT = text(
    """
    WITH asked AS (
        SELECT id, wait_id FROM pending_inputs
        WHERE execution_id = :id AND name = :name AND status = 'pending'
        ORDER BY created_at
        LIMIT 1
        FOR UPDATE
    ),
    answered AS (
        UPDATE pending_inputs AS p
        SET status = 'answered', value = CAST(:value AS jsonb), answered_at = now()
        FROM asked WHERE p.id = asked.id
        RETURNING p.wait_id
    )
    UPDATE step_waits AS w
    SET status = 'resolved', resolved_at = now(),
        value = jsonb_build_object(CAST(:name AS text), CAST(:value AS jsonb))
    FROM answered
    WHERE w.id = answered.wait_id
    RETURNING w.id
    """
)
"""Answer the open input of that name and resolve the wait that asked, together."""

ASKED_INPUT = text(
    """
    SELECT kind, choices, fields FROM pending_inputs
    WHERE execution_id = :id AND name = :name AND status = 'pending'
    ORDER BY created_at
    LIMIT 1
    """
)
"""What the open input of that name asks for (its kind, and its choices or fields), to check
an answer before ANSWER_INPUT. The caller holds the execution's row lock, so the input
cannot change meanwhile."""

OPEN_INPUT_NAMES = text(
    "SELECT name FROM pending_inputs WHERE execution_id = :id AND status = 'pending' "
    "ORDER BY created_at"
)
"""The inputs an execution asks for, to name them when another one is answered."""
