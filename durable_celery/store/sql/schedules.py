"""Schedules: the sweep that fires them, their declaration and their control."""

from __future__ import annotations

from sqlalchemy import text

_COLUMNS = """
    key, workflow, trigger_kind, expression, timezone, input, queue, overlap, misfire,
    misfire_grace, catch_up_limit, status, origin, next_fire_at, last_fire_at,
    last_execution_id, last_error, created_at, updated_at
"""

TAKE_DUE = text(
    """
    SELECT """
    + _COLUMNS
    + """, statement_timestamp() AS now
    FROM scheduled_workflows
    WHERE status = 'active' AND next_fire_at <= statement_timestamp()
    ORDER BY next_fire_at, key
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
    """
)
"""The active schedules due now, locked for this transaction. SKIP LOCKED: a schedule
another sweep (another beat's poll) is firing is left to it, and once that one commits
its next_fire_at has moved on, so a fire time is taken by one transaction only (the
idempotency key `schedule:<key>:<fire time>` of the executions backs this up). The
partial index ix_scheduled_workflows_due holds active schedules only."""

LOCK = text(
    "SELECT " + _COLUMNS + ", statement_timestamp() AS now "
    "FROM scheduled_workflows WHERE key = :key FOR UPDATE"
)
"""One schedule, locked for this transaction (trigger, pause, resume, delete), waiting for
a sweep that is firing it: control calls and fires of one schedule never interleave."""

GET = text("SELECT " + _COLUMNS + " FROM scheduled_workflows WHERE key = :key")
"""One schedule as committed. No lock."""

LIST = text(
    "SELECT " + _COLUMNS + " FROM scheduled_workflows "
    "WHERE (CAST(:workflow AS text) IS NULL OR workflow = :workflow) "
    "AND (CAST(:status AS text) IS NULL OR status = :status) "
    "ORDER BY key"
)
"""Schedules as committed, by key. No locks."""

LIVE_RUNS = text(
    """
    SELECT id FROM workflow_executions
    WHERE schedule_key = :key AND status IN ('pending', 'running', 'waiting')
    ORDER BY created_at
    """
)
"""The live executions a schedule started (index ix_workflow_executions_schedule_live).
Read under the schedule's row lock, so no fire of the same schedule can start one
meanwhile; an execution that ends concurrently is at worst counted as live once."""

RECORD_FIRE = text(
    """
    UPDATE scheduled_workflows
    SET next_fire_at = :next_fire_at,
        last_fire_at = coalesce(:last_fire_at, last_fire_at),
        last_execution_id = coalesce(:last_execution_id, last_execution_id),
        last_error = :last_error,
        updated_at = now()
    WHERE key = :key
    """
)
"""Move a schedule on after a sweep fired it, in the transaction that holds its lock and
started its executions: the starts and the new next_fire_at commit together or not at
all."""

DECLARE = text(
    """
    INSERT INTO scheduled_workflows AS s
        (key, workflow, trigger_kind, expression, timezone, input, queue, overlap, misfire,
         misfire_grace, catch_up_limit, status, origin, next_fire_at)
    VALUES
        (:key, :workflow, :trigger_kind, :expression, :timezone, CAST(:input AS jsonb), :queue,
         :overlap, :misfire, :misfire_grace, :catch_up_limit, 'active', 'code', :next_fire_at)
    ON CONFLICT (key) DO UPDATE
    SET workflow = excluded.workflow,
        trigger_kind = excluded.trigger_kind,
        expression = excluded.expression,
        timezone = excluded.timezone,
        input = excluded.input,
        queue = excluded.queue,
        overlap = excluded.overlap,
        misfire = excluded.misfire,
        misfire_grace = excluded.misfire_grace,
        catch_up_limit = excluded.catch_up_limit,
        origin = 'code',
        status = CASE WHEN s.status = 'paused' THEN 'paused' ELSE 'active' END,
        -- Same fire times as before: keep the next one, so restarting beat neither skips
        -- nor repeats a fire. New fire times (or back from disabled): from now on.
        next_fire_at = CASE
            WHEN s.status = 'disabled'
                 OR (s.trigger_kind, s.expression, s.timezone)
                    IS DISTINCT FROM (excluded.trigger_kind, excluded.expression,
                                      excluded.timezone)
            THEN excluded.next_fire_at ELSE s.next_fire_at END,
        updated_at = now()
    RETURNING key, next_fire_at, status, (xmax = 0) AS inserted
    """
)
"""Upsert one schedule declared in code (beat start-up). An operator's pause survives it.
Concurrent beats upsert the same keys in the same (sorted) order, so they serialise on
each row without deadlocking."""

DISABLE_UNDECLARED = text(
    """
    WITH gone AS MATERIALIZED (
        SELECT key FROM scheduled_workflows
        WHERE origin = 'code' AND status <> 'disabled' AND workflow = ANY(:workflows)
          AND NOT (key = ANY(:declared))
        ORDER BY key
        FOR UPDATE
    )
    UPDATE scheduled_workflows AS s SET status = 'disabled', updated_at = now()
    FROM gone WHERE s.key = gone.key
    RETURNING s.key
    """
)
"""Disable the schedules that workflows registered here declared and declare no more: kept
for their history, never fired. A schedule of a workflow this process does not know is
left alone (another app's beat, a command run without its app); its fires record the
unknown workflow as their error. Locks them in key order, like DECLARE."""

PUT = text(
    """
    INSERT INTO scheduled_workflows AS s
        (key, workflow, trigger_kind, expression, timezone, input, queue, overlap, misfire,
         misfire_grace, catch_up_limit, status, origin, next_fire_at)
    VALUES
        (:key, :workflow, :trigger_kind, :expression, :timezone, CAST(:input AS jsonb), :queue,
         :overlap, :misfire, :misfire_grace, :catch_up_limit, 'active', 'api', :next_fire_at)
    ON CONFLICT (key) DO UPDATE
    SET workflow = excluded.workflow,
        trigger_kind = excluded.trigger_kind,
        expression = excluded.expression,
        timezone = excluded.timezone,
        input = excluded.input,
        queue = excluded.queue,
        overlap = excluded.overlap,
        misfire = excluded.misfire,
        misfire_grace = excluded.misfire_grace,
        catch_up_limit = excluded.catch_up_limit,
        origin = 'api',
        status = CASE WHEN s.status = 'paused' THEN 'paused' ELSE 'active' END,
        next_fire_at = CASE
            WHEN s.status = 'disabled'
                 OR (s.trigger_kind, s.expression, s.timezone)
                    IS DISTINCT FROM (excluded.trigger_kind, excluded.expression,
                                      excluded.timezone)
            THEN excluded.next_fire_at ELSE s.next_fire_at END,
        updated_at = now()
    WHERE s.origin = 'api' OR s.status = 'disabled'
    RETURNING """
    + _COLUMNS
)
"""Create or change a schedule at run time (dc.schedule). A schedule the code declares
(and still declares) is not overwritten: the WHERE leaves it, and RETURNING gives
nothing. One statement: concurrent calls for one key serialise on the row."""

SET_STATUS = text(
    """
    UPDATE scheduled_workflows
    SET status = :status, next_fire_at = coalesce(:next_fire_at, next_fire_at),
        updated_at = now()
    WHERE key = :key
    RETURNING """
    + _COLUMNS
)
"""Pause or resume a schedule the caller locked (LOCK)."""

DELETE = text("DELETE FROM scheduled_workflows WHERE key = :key")
"""Delete a schedule the caller locked (LOCK). Its executions keep their schedule_key."""
