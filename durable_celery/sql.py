"""Every statement of the hot path, named and documented, in one place.

Each write made on behalf of a claim is fenced by `lock_token`: when another worker,
stale recovery or a control call has taken the execution back, the token no longer
matches, the statement touches no row, and the caller treats that as LockLost.
Payloads travel as JSON text and are cast in SQL, so no per-row Python JSON processing
happens inside SQLAlchemy.
"""

from __future__ import annotations

from sqlalchemy import text

START = text(
    """
    INSERT INTO workflow_executions
        (id, workflow, status, queue, priority, input, current_step, run_at,
         dispatched_at, deadline_at, idempotency_key, parent_id)
    VALUES
        (:id, :workflow, 'pending', :queue, :priority, CAST(:input AS jsonb), :first_step,
         coalesce(:run_at, now() + make_interval(secs => :delay_seconds)),
         CASE WHEN :dispatch_now THEN now() END,
         coalesce(:run_at, now() + make_interval(secs => :delay_seconds))
             + make_interval(secs => :timeout_seconds),
         :idempotency_key, :parent_id)
    ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
    """
)
"""Insert a pending execution. With a known idempotency key it inserts nothing."""

FIND_BY_IDEMPOTENCY_KEY = text(
    "SELECT id, queue FROM workflow_executions WHERE workflow = :workflow "
    "AND idempotency_key = :idempotency_key"
)

CLAIM = text(
    """
    WITH candidate AS MATERIALIZED (
        SELECT id FROM workflow_executions
        WHERE id = :id AND status = 'pending' AND run_at <= now()
        FOR UPDATE SKIP LOCKED
    )
    UPDATE workflow_executions AS e
    SET status = 'running',
        lock_token = gen_random_uuid(),
        locked_by = :worker,
        locked_at = now(),
        heartbeat_at = now(),
        started_at = coalesce(e.started_at, now()),
        step_attempt = e.step_attempt + 1,
        step_started_at = now(),
        updated_at = now()
    FROM candidate
    WHERE e.id = candidate.id
    RETURNING e.id, e.workflow, e.input, e.context, e.current_step, e.step_attempt,
              e.step_runs, e.lock_token
    """
)
"""Take the claim of one due, pending execution and start the next attempt of its
current step. A row that is running, finished, not yet due, or locked by a concurrent
claim is skipped, so duplicate and early wake-ups do nothing. The CTE is MATERIALIZED
so the planner cannot turn it into a nested loop that updates more rows than chosen."""

COMPLETED_OUTPUTS = text(
    """
    SELECT DISTINCT ON (step_name) step_name, output
    FROM step_executions
    WHERE execution_id = :id AND status = 'completed'
    ORDER BY step_name, sequence DESC
    """
)
"""The latest recorded output of every completed step, for `ctx.results` after a claim."""

_RECORD_STEP = """
    INSERT INTO step_executions
        (id, execution_id, step_name, sequence, attempt, status, output, error, logs,
         started_at, completed_at, duration_ms, worker)
    SELECT :step_id, fenced.id, :step_name, :sequence, :attempt, :step_status,
           CAST(:output AS jsonb), CAST(:error AS jsonb), CAST(:logs AS jsonb),
           :started_at, now(), :duration_ms, :worker
    FROM fenced
"""

ADVANCE = text(
    """
    WITH fenced AS (
        UPDATE workflow_executions
        SET context = CAST(:context AS jsonb),
            current_step = :next_step,
            step_attempt = 1,
            step_runs = step_runs + 1,
            step_started_at = now(),
            updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id
    )
    """
    + _RECORD_STEP
)
"""Checkpoint a completed step and move to the next one, keeping the claim: one
statement, one transaction. The next step starts inline, with no broker round trip.
It writes no indexed column, so Postgres can make it a HOT update (the table keeps
free space per page for that): the seven indexes of the table are not touched."""

FINISH = text(
    """
    WITH fenced AS (
        UPDATE workflow_executions
        SET status = :status,
            context = CAST(:context AS jsonb),
            result = CAST(:result AS jsonb),
            error = CAST(:execution_error AS jsonb),
            -- A failed execution keeps the step it failed in, so retry() can resume there.
            current_step = CASE WHEN :status = 'completed' THEN NULL ELSE current_step END,
            step_runs = step_runs + 1,
            completed_at = now(),
            lock_token = NULL,
            locked_by = NULL,
            heartbeat_at = NULL,
            updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id
    )
    """
    + _RECORD_STEP
)
"""Record the last step run (completed or failed) and end the execution with `status`,
releasing the claim, in the same statement."""

FAIL_WITHOUT_STEP = text(
    """
    UPDATE workflow_executions
    SET status = 'failed', error = CAST(:error AS jsonb), completed_at = now(),
        lock_token = NULL, locked_by = NULL, heartbeat_at = NULL, updated_at = now()
    WHERE id = :id AND lock_token = :token
    """
)
"""End a claimed execution that cannot run at all (unknown workflow, vanished step)."""

DISPATCH_DUE = text(
    """
    WITH due AS MATERIALIZED (
        SELECT id FROM workflow_executions
        WHERE status IN ('pending', 'waiting') AND run_at <= now()
          AND (dispatched_at IS NULL
               OR dispatched_at < now() - make_interval(secs => :grace_seconds))
        ORDER BY run_at
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
