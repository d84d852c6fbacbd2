"""Waits recorded by position, the events they consume, and the inputs they ask for."""

from __future__ import annotations

from sqlalchemy import text

# --- Waits: recorded by position, fenced by the claim ------------------------------------

_FENCE = """
    fence AS (
        SELECT id FROM workflow_executions WHERE id = :execution_id AND lock_token = :token
    )
"""

# publish_event holds this lock on its (name, key) exclusively while it finds the waits
# and delivers (LOCK_TOPIC in sql/signals.py); a wait_for_event is recorded under it
# shared. So either the publisher sees the committed wait and delivers to it, or the
# event is committed before the wait looks in the published buffer: never neither.
TOPIC_LOCK_SPACE = 1_685_217_645
_TOPIC_LOCK = f"""
    topic AS (
        SELECT pg_advisory_xact_lock_shared({TOPIC_LOCK_SPACE}, hashtext(CAST(:topic AS text)))
    ),
    fence AS (
        SELECT id FROM workflow_executions, topic
        WHERE id = :execution_id AND lock_token = :token
    )
"""

WAIT_OPEN = text(
    "WITH"
    + _TOPIC_LOCK
    + """,
    created AS (
        INSERT INTO step_waits
            (id, execution_id, step_name, visit, position, kind, names, event_key, wake_at,
             deadline_at)
        SELECT :wait_id, fence.id, :step_name, :visit, :position, :kind,
               CAST(:names AS jsonb), CAST(:event_key AS text),
               coalesce(CAST(:wake_at AS timestamptz),
                        now() + make_interval(secs => CAST(:sleep_seconds AS double precision))),
               now() + make_interval(secs => CAST(:timeout_seconds AS double precision))
        FROM fence
        ON CONFLICT (execution_id, step_name, visit, position) DO NOTHING
        RETURNING id, kind, names, event_key, status, value, wake_at, deadline_at
    )
    SELECT id, kind, names, event_key, status, value, wake_at, deadline_at, now() AS now,
           (SELECT count(*) FROM fence) AS fenced
    FROM created
    UNION ALL
    SELECT id, kind, names, event_key, status, value, wake_at, deadline_at, now() AS now,
           (SELECT count(*) FROM fence) AS fenced
    FROM step_waits
    WHERE execution_id = :execution_id AND step_name = :step_name AND visit = :visit
      AND position = :position
    """
)
"""Find the wait at this position of this run of the step, or record it: the first time a
wait is reached fixes its timer and deadline, so re-running the step never moves them.
A wait_for_event takes the shared lock of its (name, key) (`topic`; NULL for other waits:
no lock) until it commits."""

WAIT_CONSUME_EVENT = text(
    """
    WITH fence AS (
        SELECT id, created_at FROM workflow_executions
        WHERE id = :execution_id AND lock_token = :token
    ),
    buffered AS (
        SELECT ev.id, ev.name, ev.payload, ev.created_at FROM workflow_events AS ev, fence
        WHERE ev.execution_id = :execution_id AND ev.name = ANY(CAST(:names AS text[]))
          AND ev.consumed_by IS NULL
          AND (ev.published_id IS NULL OR ev.event_key = CAST(:event_key AS text))
        ORDER BY ev.seq
        LIMIT 1
        FOR UPDATE OF ev SKIP LOCKED
    ),
    published AS (
        SELECT p.id, p.name, p.payload, p.created_at FROM published_events AS p, fence
        WHERE CAST(:event_key AS text) IS NOT NULL
          AND p.name = ANY(CAST(:names AS text[])) AND p.event_key = CAST(:event_key AS text)
          AND p.created_at >= fence.created_at AND p.expires_at > now()
          AND NOT EXISTS (SELECT 1 FROM workflow_events AS d
                          WHERE d.execution_id = fence.id AND d.published_id = p.id)
        ORDER BY p.seq
        LIMIT 1
    ),
    picked AS (
        SELECT id, name, payload, from_buffer FROM (
            SELECT id, name, payload, created_at, true AS from_buffer FROM buffered
            UNION ALL
            SELECT id, name, payload, created_at, false AS from_buffer FROM published
        ) AS candidates
        ORDER BY created_at, from_buffer DESC
        LIMIT 1
    ),
    used AS (
        UPDATE workflow_events AS e SET consumed_by = :wait_id, consumed_at = now()
        FROM picked WHERE picked.from_buffer AND e.id = picked.id
        RETURNING picked.name, picked.payload
    ),
    taken AS (
        INSERT INTO workflow_events
            (id, execution_id, name, payload, event_key, published_id, consumed_by, consumed_at)
        SELECT :event_id, :execution_id, picked.name, picked.payload,
               CAST(:event_key AS text), picked.id, :wait_id, now()
        FROM picked WHERE NOT picked.from_buffer
        ON CONFLICT (execution_id, published_id) WHERE published_id IS NOT NULL DO NOTHING
        RETURNING name, payload
    ),
    got AS (
        SELECT name, payload FROM used UNION ALL SELECT name, payload FROM taken
    )
    UPDATE step_waits AS w
    SET value = coalesce(w.value, '{}'::jsonb) || jsonb_build_object(got.name, got.payload)
    FROM got
    WHERE w.id = :wait_id
    RETURNING w.value
    """
)
"""Deliver the oldest event among `names` to a wait, in one statement, from two places:
the execution's own buffer (send_event, and what publish_event delivered to it; a
published event only to a wait on its key) and, for a wait_for_event (`event_key` not
NULL), the published buffer: events of that name and key published at or after the
execution was created, not expired, and never taken by this execution (the anti-join on
uq_workflow_events_published). The older of the two candidates wins. Taking from the
buffer marks the row consumed by the wait; taking a published event records it as a
consumed row of the execution, so it is taken once. The wait's value gets the payload."""

WAIT_RESOLVE = text(
    """
    UPDATE step_waits SET status = :status, resolved_at = now()
    WHERE id = :wait_id AND status = 'waiting'
      AND EXISTS (SELECT 1 FROM workflow_executions
                  WHERE id = :execution_id AND lock_token = :token)
    """
)
"""Mark a wait resolved or timed out, only while the claim holds and the wait is open."""

INPUT_REQUEST = text(
    "WITH"
    + _FENCE
    + """
    INSERT INTO pending_inputs
        (id, execution_id, name, step_name, wait_id, prompt, kind, choices, fields, deadline_at)
    SELECT :input_id, fence.id, :name, :step_name, :wait_id, :prompt, :kind,
           CAST(:choices AS jsonb), CAST(:fields AS jsonb), CAST(:deadline_at AS timestamptz)
    FROM fence
    ON CONFLICT (wait_id) DO NOTHING
    """
)
"""Record what a human is asked (once per wait): the prompt, the kind of answer it takes and
its choices or fields. Fenced by the claim; a second request for the same wait (the step
ran again) keeps the first."""

INPUT_EXPIRE = text(
    """
    UPDATE pending_inputs SET status = 'timed_out'
    WHERE wait_id = :wait_id AND status = 'pending'
    RETURNING id
    """
)
"""An input's deadline passed: close it, unless it was answered a moment ago."""

# --- The timer of run_child(timeout=) ----------------------------------------------------

CHILD_TIMED_OUT = text(
    """
    WITH fence AS (
        SELECT id FROM workflow_executions
        WHERE id = :execution_id AND lock_token = :token
        FOR UPDATE
    ),
    child AS (
        SELECT c.id FROM workflow_executions AS c, fence
        WHERE c.id = :child_id AND c.parent_id = fence.id
          AND c.status IN ('pending', 'running', 'waiting')
        FOR UPDATE OF c SKIP LOCKED
    ),
    detached AS (
        UPDATE workflow_executions AS c SET wake_parent = false, updated_at = now()
        FROM child WHERE c.id = child.id
        RETURNING c.id
    ),
    timed_out AS (
        UPDATE step_waits SET status = 'timed_out', resolved_at = now()
        WHERE id = :wait_id AND status = 'waiting' AND EXISTS (SELECT 1 FROM detached)
        RETURNING id
    )
    SELECT (SELECT count(*) FROM fence) AS fenced, (SELECT count(*) FROM detached) AS detached,
           (SELECT count(*) FROM timed_out) AS timed_out
    """
)
"""A child call's timer passed while the child is live: in one statement, under the parent's
claim, the timer is marked timed out and the child stops waking its parent (the parent
moves on now; the child is cancelled next, in the same transaction). Locks the parent's
row, then the child's with SKIP LOCKED: a child finishing right now holds its row and then
wants its parent's (to wake it), so waiting for it could deadlock; a busy child is left
alone (detached = 0) and the parent, suspended with its timer already due, tries again at
its next wake-up. Touches nothing when the claim was lost (fenced = 0) or the child
already ended."""
