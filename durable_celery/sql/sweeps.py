"""The poller's sweeps: due timers, lost wake-ups, due items, expired deadlines."""

from __future__ import annotations

from sqlalchemy import text

DISPATCH_DUE = text(
    """
    WITH due AS MATERIALIZED (
        SELECT id FROM workflow_executions
        WHERE status IN ('pending', 'waiting') AND run_at <= now()
          AND (dispatched_at IS NULL
               OR dispatched_at < now() - make_interval(secs => :grace_seconds))
        ORDER BY priority DESC, run_at
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    )
    UPDATE workflow_executions AS e
    SET status = 'pending', dispatched_at = now(), updated_at = now()
    FROM due
    WHERE e.id = due.id
    RETURNING e.id, e.queue, e.priority
    """
)
"""The poller: make due timers runnable and mark the wake-ups it is about to send.
Only live rows are in the partial index it scans (ix_workflow_executions_due), so
finished history costs nothing. A pending row dispatched less than `grace` ago is left
alone: its wake-up is probably still in flight. Safe on several beats at once."""

DISPATCH_DUE_ITEMS = text(
    """
    WITH due AS MATERIALIZED (
        SELECT id FROM step_items
        WHERE status = 'pending' AND run_at <= now()
          AND (dispatched_at IS NULL
               OR dispatched_at < now() - make_interval(secs => :grace_seconds))
        ORDER BY run_at
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    )
    UPDATE step_items AS i SET dispatched_at = now()
    FROM due WHERE i.id = due.id
    RETURNING i.id, i.queue
    """
)
"""The poller's sweep of fan-out items: retry timers that are due, lost wake-ups."""

EXPIRED_DEADLINES = text(
    """
    SELECT id FROM workflow_executions
    WHERE deadline_at IS NOT NULL AND deadline_at <= now()
      AND status IN ('pending', 'running', 'waiting')
      AND (status <> 'running' OR deadline_at < now() - make_interval(secs => :grace_seconds))
    ORDER BY deadline_at
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
    """
)
"""Live executions past their workflow deadline. A running one is left to its worker
(which interrupts the step at the deadline) unless it is still running `grace` later."""
