"""Read-only statements of the query API (the rest of it is composed in store/queries.py)."""

from __future__ import annotations

from sqlalchemy import text

WAITING_ON = text(
    """
    SELECT e.status, e.suspended_on, nullif(e.run_at, 'infinity') AS run_at,
           e.run_at > now() AS later, e.deadline_at,
           e.fanout_remaining, e.current_step,
           (SELECT jsonb_agg(DISTINCT n) FROM step_waits AS w,
                   jsonb_array_elements_text(w.names) AS n
            WHERE w.execution_id = e.id AND w.status = 'waiting' AND w.kind <> 'input')
               AS events,
           (SELECT jsonb_agg(i.name) FROM pending_inputs AS i
            WHERE i.execution_id = e.id AND i.status = 'pending') AS inputs,
           (SELECT jsonb_agg(c.id) FROM workflow_executions AS c
            WHERE c.parent_id = e.id AND c.status IN ('pending', 'running', 'waiting'))
               AS children
    FROM workflow_executions AS e
    WHERE e.id = :id AND e.status IN ('pending', 'waiting')
    """
)
"""What a pending or waiting execution waits for: its timer, its open waits, its open
inputs, its live children, its fan-out. Reads committed rows; no locks."""
