"""Signals from outside into executions: buffered events and answers to inputs."""

from __future__ import annotations

from sqlalchemy import text

from durable_celery.store.sql.fragments import wake
from durable_celery.store.sql.waits import TOPIC_LOCK_SPACE

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

# --- Published events: by name and key, to every execution waiting on them --------------

LOCK_TOPIC = text(
    "SELECT pg_advisory_xact_lock(" + str(TOPIC_LOCK_SPACE) + ", hashtext(CAST(:topic AS text)))"
)
"""Take the (name, key) lock exclusively until commit, in a statement of its own before
PUBLISH_EVENT: the statement that delivers must start after the lock is granted, so that
it sees every wait recorded under the shared lock (WAIT_OPEN) before. Publishers of one
name and key take turns; others never wait on each other."""

PUBLISH_EVENT = text(
    """
    WITH published AS (
        INSERT INTO published_events (id, name, event_key, payload, expires_at)
        VALUES (:event_id, :name, :event_key, CAST(:payload AS jsonb),
                now() + make_interval(secs => CAST(:retention_seconds AS double precision)))
        RETURNING id
    ),
    targets AS (
        SELECT e.id FROM workflow_executions AS e
        WHERE e.id IN (SELECT w.execution_id FROM step_waits AS w
                       WHERE w.status = 'waiting' AND w.event_key = :event_key
                         AND w.names = CAST(:names AS jsonb))
          AND e.status IN ('pending', 'running', 'waiting')
        ORDER BY e.id
        FOR UPDATE OF e
    ),
    delivered AS (
        INSERT INTO workflow_events (id, execution_id, name, payload, event_key, published_id)
        SELECT gen_random_uuid(), targets.id, CAST(:name AS text), CAST(:payload AS jsonb),
               CAST(:event_key AS text), published.id
        FROM targets, published
        RETURNING execution_id
    ),
    woken AS (
        UPDATE workflow_executions AS e
        SET """
    + wake("e")
    + """
        FROM targets
        WHERE e.id = targets.id AND e.status IN ('running', 'waiting')
        RETURNING e.id, e.status, e.queue, e.workflow
    )
    SELECT counted.delivered, woken.id, woken.status, woken.queue, woken.workflow
    FROM (SELECT count(*) AS delivered FROM delivered) AS counted
    LEFT JOIN woken ON true
    """
)
"""Publish an event by name and key ('' for none), in one statement: keep it in
published_events until `retention_seconds` pass (for executions that reach the wait
later) and deliver it now to every live execution with an open wait_for_event on that
name and key (ix_step_waits_topic): a row in its own buffer, marked with the published
event so that it is never taken twice, and a wake-up as for send_event (a waiting one
goes pending, a running one is flagged; a pending one is due already). The executions
are locked in id order, so two publishers never deadlock. Returns how many executions
received it, and one row per execution woken (none: a single row of NULLs). The caller
holds LOCK_TOPIC."""
