"""Read-only statements of the query API (the rest of it is composed in store/queries.py).
None of them takes a lock."""

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

QUEUE_LOAD = text(
    """
    SELECT queue, count(*) AS live,
           count(*) FILTER (WHERE status IN ('pending', 'waiting') AND run_at <= now()) AS due,
           now() - min(run_at) FILTER (WHERE status IN ('pending', 'waiting')
                                         AND run_at <= now()) AS oldest_wait
    FROM workflow_executions
    WHERE status IN ('pending', 'running', 'waiting')
    GROUP BY queue
    ORDER BY queue
    """
)
"""Live executions per queue, how many are due and wait for a worker (a pending row, or a
waiting one whose timer passed and that the poller has yet to dispatch), and how long the
oldest of those has waited. Reads committed rows of the live statuses only; no locks."""

WORKFLOW_LOAD = text(
    """
    SELECT workflow,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'running') AS running,
           count(*) FILTER (WHERE status = 'waiting') AS waiting
    FROM workflow_executions
    WHERE status IN ('pending', 'running', 'waiting')
    GROUP BY workflow
    ORDER BY workflow
    """
)
"""Live executions per workflow by stored status (a saga's compensations count under the
status they run in). Reads committed rows; no locks."""

VERSION_LOAD = text(
    """
    SELECT workflow, workflow_version,
           count(*) FILTER (WHERE status = 'pending') AS pending,
           count(*) FILTER (WHERE status = 'running') AS running,
           count(*) FILTER (WHERE status = 'waiting') AS waiting
    FROM workflow_executions
    WHERE status IN ('pending', 'running', 'waiting')
      AND (CAST(:workflow AS text) IS NULL OR workflow = :workflow)
    GROUP BY workflow, workflow_version
    ORDER BY workflow, workflow_version
    """
)
"""WORKFLOW_LOAD per version too (of one workflow, or of all with :workflow NULL): what
tells whether an old version still has executions to run. Reads committed rows; no
locks."""

THROUGHPUT = text(
    """
    SELECT workflow,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status IN ('failed', 'timed_out', 'compensated',
                                             'compensation_failed')) AS failed,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled
    FROM workflow_executions
    WHERE completed_at >= :since
    GROUP BY workflow
    ORDER BY workflow
    """
)
"""Finished executions per workflow since :since, by ending (the partial index on
completed_at bounds it to the window). Reads committed rows; no locks."""
