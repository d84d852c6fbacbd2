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
