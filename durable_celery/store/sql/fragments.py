"""SQL fragments shared by several statements."""

from __future__ import annotations


def wake(alias: str) -> str:
    """The SET list that wakes execution `alias`: a waiting one becomes pending and due
    now (its wake-up is sent after commit); a running one is flagged (wake_requested), so
    that it goes straight back to pending if it is about to suspend."""
    return f"""
        status = CASE WHEN {alias}.status = 'waiting' THEN 'pending' ELSE {alias}.status END,
        wake_requested = {alias}.wake_requested OR {alias}.status = 'running',
        run_at = CASE WHEN {alias}.status = 'waiting' THEN now() ELSE {alias}.run_at END,
        dispatched_at = CASE WHEN {alias}.status = 'waiting' THEN now()
                             ELSE {alias}.dispatched_at END,
        updated_at = now()
    """


def resume(timeout_seconds: str) -> str:
    """The SET list that resumes a failed (or timed-out) execution at the step it failed
    in: pending and due now, its error cleared, a fresh attempt budget and a deadline
    `timeout_seconds` (an SQL expression; NULL: none) from now. Shared by retry() and
    retry_many(), so that both resume the same way."""
    return f"""
        status = 'pending', error = NULL, result = NULL, completed_at = NULL,
        step_attempt = 0, run_at = now(), dispatched_at = now(), compensations = NULL,
        suspended_on = NULL, fanout_failed = false, cancel_requested_at = NULL,
        deadline_at = now() + make_interval(secs => {timeout_seconds}),
        -- One that timed out before its first claim would reopen its debounce window
        -- (and collide with the window open now): a retried execution is not debounced.
        debounce_key = NULL,
        updated_at = now()
    """
