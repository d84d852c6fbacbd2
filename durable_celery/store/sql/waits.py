"""Waits recorded by position, the events they consume, and the inputs they ask for."""

from __future__ import annotations

from sqlalchemy import text

# --- Waits: recorded by position, fenced by the claim ------------------------------------

_FENCE = """
    fence AS (
        SELECT id FROM workflow_executions WHERE id = :execution_id AND lock_token = :token
    )
"""

WAIT_OPEN = text(
    "WITH"
    + _FENCE
    + """,
    created AS (
        INSERT INTO step_waits
            (id, execution_id, step_name, visit, position, kind, names, wake_at, deadline_at)
        SELECT :wait_id, fence.id, :step_name, :visit, :position, :kind,
               CAST(:names AS jsonb),
               coalesce(CAST(:wake_at AS timestamptz),
                        now() + make_interval(secs => CAST(:sleep_seconds AS double precision))),
               now() + make_interval(secs => CAST(:timeout_seconds AS double precision))
        FROM fence
        ON CONFLICT (execution_id, step_name, visit, position) DO NOTHING
        RETURNING id, kind, names, status, value, wake_at, deadline_at
    )
    SELECT id, kind, names, status, value, wake_at, deadline_at, now() AS now,
           (SELECT count(*) FROM fence) AS fenced
    FROM created
    UNION ALL
    SELECT id, kind, names, status, value, wake_at, deadline_at, now() AS now,
           (SELECT count(*) FROM fence) AS fenced
    FROM step_waits
    WHERE execution_id = :execution_id AND step_name = :step_name AND visit = :visit
      AND position = :position
    """
)
"""Find the wait at this position of this run of the step, or record it: the first time a
wait is reached fixes its timer and deadline, so re-running the step never moves them."""

WAIT_CONSUME_EVENT = text(
    "WITH"
    + _FENCE
    + """,
    picked AS (
        SELECT ev.id, ev.name, ev.payload FROM workflow_events AS ev, fence
        WHERE ev.execution_id = :execution_id AND ev.name = ANY(CAST(:names AS text[]))
          AND ev.consumed_by IS NULL
        ORDER BY ev.seq
        LIMIT 1
        FOR UPDATE OF ev SKIP LOCKED
    ),
    used AS (
        UPDATE workflow_events AS e SET consumed_by = :wait_id, consumed_at = now()
        FROM picked WHERE e.id = picked.id
        RETURNING picked.name, picked.payload
    )
    UPDATE step_waits AS w
    SET value = coalesce(w.value, '{}'::jsonb) || jsonb_build_object(used.name, used.payload)
    FROM used
    WHERE w.id = :wait_id
    RETURNING w.value
    """
)
"""Deliver the oldest buffered event among `names` to a wait, in one statement: the event
is marked consumed by that wait and its payload recorded in the wait's value."""

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
