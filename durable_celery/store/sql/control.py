"""Control: cancel, timeouts and retry, ending executions with their children."""

from __future__ import annotations

from sqlalchemy import text

from durable_celery.store.sql.fragments import resume, wake

# --- Control: cancel, timeouts, retry (not hot; one transaction per call) -------------

END_EXECUTIONS = text(
    """
    UPDATE workflow_executions
    SET status = :status,
        -- An execution that was asked to cancel keeps the reason it was given.
        error = CASE WHEN cancel_requested_at IS NOT NULL AND :status = 'cancelled' THEN error
                     ELSE CAST(:error AS jsonb) END,
        completed_at = now(),
        lock_token = NULL, locked_by = NULL, heartbeat_at = NULL, suspended_on = NULL,
        updated_at = now()
    WHERE id = ANY(CAST(:ids AS uuid[])) AND status IN ('pending', 'running', 'waiting')
      AND (CAST(:token AS uuid) IS NULL OR lock_token = CAST(:token AS uuid))
      AND (:include_running OR status <> 'running')
    RETURNING id
    """
)
"""End live executions as cancelled or timed_out, releasing any claim (fencing out its
worker). With include_running false, running ones are left to REQUEST_CANCEL. Each row
is locked by this statement for the rest of the caller's transaction; callers lock the
executions before their items (DROP_ITEMS_OF), never the other way round."""

REQUEST_CANCEL = text(
    """
    UPDATE workflow_executions
    SET cancel_requested_at = now(), error = CAST(:error AS jsonb), updated_at = now()
    WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'running'
      AND cancel_requested_at IS NULL
    RETURNING id
    """
)
"""Ask a running execution to stop at its next step boundary."""

DROP_INPUTS_OF = text(
    """
    UPDATE pending_inputs SET status = 'cancelled'
    WHERE execution_id = ANY(CAST(:ids AS uuid[])) AND status = 'pending'
    """
)
"""Close the open inputs of executions that ended. Runs after END_EXECUTIONS in the same
transaction, so the executions are locked first."""

DROP_ITEMS_OF = text(
    """
    UPDATE step_items SET status = 'cancelled', lock_token = NULL
    WHERE execution_id = ANY(CAST(:ids AS uuid[]))
      AND status IN ('queued', 'pending', 'running')
    """
)
"""Cancel the items of executions that ended, fencing out their workers (the token is
cleared). Runs after END_EXECUTIONS locked the executions: every writer locks an
execution before its items (ITEM_FINISH included), so this cannot deadlock with a fan-in."""

LIVE_CHILDREN_OF = text(
    """
    SELECT id FROM workflow_executions
    WHERE parent_id = ANY(CAST(:ids AS uuid[])) AND status IN ('pending', 'running', 'waiting')
    ORDER BY id
    FOR UPDATE
    """
)
"""Lock the live children of executions that ended or were asked to stop, in id order
(so two cascades lock them in the same order), to cancel them in the same transaction."""

WAKE_PARENTS_OF = text(
    """
    UPDATE workflow_executions AS p
    SET """
    + wake("p")
    + """
    FROM workflow_executions AS c
    WHERE c.id = ANY(CAST(:ids AS uuid[])) AND c.wake_parent AND p.id = c.parent_id
      AND p.status IN ('pending', 'running', 'waiting')
    RETURNING p.id, p.queue, p.status, p.workflow
    """
)
"""Children that ended (cancelled, timed out) wake the parents waiting on them."""

LOCK_EXECUTION = text(
    "SELECT status, queue, workflow, workflow_version FROM workflow_executions "
    "WHERE id = :id FOR UPDATE"
)
"""Lock one execution's row for the caller's transaction: every control call and signal
starts here, so they serialise with each other and with the fenced writes of its worker."""

RESUME_FAILED = text(
    """
    UPDATE workflow_executions
    SET"""
    + resume(":timeout_seconds")
    + """
    WHERE id = :id AND status IN ('failed', 'timed_out')
    RETURNING queue, workflow
    """
)
"""retry(): resume from the step it failed in; completed outputs stay as recorded."""
