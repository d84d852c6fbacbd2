"""Executions: start, claim, checkpoint, finish, retry timers, suspension."""

from __future__ import annotations

from sqlalchemy import text

from durable_celery.store.sql.fragments import (
    CLAIM_SET,
    CLAIMED_COLUMNS,
    HAND_OVER_SLOT,
    HAND_OVER_STEP_SLOT,
    NEXT_FOR_STEP_COLUMNS,
    NEXT_IN_KEY_COLUMNS,
    wake,
)

START = text(
    """
    INSERT INTO workflow_executions
        (id, workflow, workflow_version, status, queue, priority, input, current_step,
         run_at, dispatched_at, deadline_at, idempotency_key, parent_id, wake_parent,
         schedule_key, scheduled_at, concurrency_key, concurrency_limit, trace_context)
    VALUES
        (:id, :workflow, :workflow_version, 'pending', :queue, :priority,
         CAST(:input AS jsonb), :first_step,
         coalesce(:run_at, now() + make_interval(secs => :delay_seconds)),
         CASE WHEN :dispatch_now THEN now() END,
         coalesce(:run_at, now() + make_interval(secs => :delay_seconds))
             + make_interval(secs => :timeout_seconds),
         :idempotency_key, :parent_id, :wake_parent, :schedule_key, :scheduled_at,
         :concurrency_key, :concurrency_limit, :trace_context)
    ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
    """
)
"""Insert a pending execution. With a known idempotency key it inserts nothing."""

# The cap of a debounce window: `debounce_max` after its first start (NULL: no cap;
# least() ignores it).
_DEBOUNCE_CAP = "workflow_executions.created_at + make_interval(secs => :debounce_max_seconds)"

START_DEBOUNCED = text(
    """
    INSERT INTO workflow_executions
        (id, workflow, workflow_version, status, queue, priority, input, current_step,
         run_at, deadline_at, parent_id, wake_parent, debounce_key, concurrency_key,
         concurrency_limit, trace_context)
    VALUES
        (:id, :workflow, :workflow_version, 'pending', :queue, :priority,
         CAST(:input AS jsonb), :first_step,
         now() + make_interval(secs => :delay_seconds),
         now() + make_interval(secs => :delay_seconds)
             + make_interval(secs => :timeout_seconds),
         :parent_id, :wake_parent, :debounce_key, :concurrency_key, :concurrency_limit,
         :trace_context)
    ON CONFLICT (workflow, debounce_key)
        WHERE debounce_key IS NOT NULL AND status = 'pending' AND started_at IS NULL
    DO UPDATE SET
        input = EXCLUDED.input,
        -- No worker has run it yet: it runs on the version of the last start's class.
        workflow_version = EXCLUDED.workflow_version,
        current_step = EXCLUDED.current_step,
        -- Computed from the input at start: the last input's concurrency key wins too.
        concurrency_key = EXCLUDED.concurrency_key,
        concurrency_limit = EXCLUDED.concurrency_limit,
        run_at = least(EXCLUDED.run_at, """
    + _DEBOUNCE_CAP
    + """),
        deadline_at = least(EXCLUDED.run_at, """
    + _DEBOUNCE_CAP
    + """)
            + make_interval(secs => :timeout_seconds),
        -- A wake-up sent for the old due time finds it not yet due and does nothing: the
        -- poller wakes it at the new one.
        dispatched_at = NULL,
        resends = 0,
        updated_at = now()
    RETURNING id
    """
)
"""A debounced start (one statement): insert a pending execution due `:delay_seconds`
from now, or, when the workflow has a pending execution with this debounce key that no
worker has claimed yet, give that one this start's input (and its class's version) and
push its due time to `:delay_seconds` from now (at most `:debounce_max_seconds` after
its first start). Returns the execution's id: the new one's when it inserted.

Concurrent starts with one key serialise on the partial unique index
uq_workflow_executions_debounce (live, never claimed rows only): one inserts, the others
wait for it and update the row it inserted. A start racing a claim waits for the claim's
statement; the claimed row has left the index, so the start then inserts a new window's
execution. The poller's dispatch locks the row too; the start waits for it, then joins."""

START_MANY = text(
    """
    INSERT INTO workflow_executions
        (id, workflow, workflow_version, status, queue, priority, input, current_step,
         run_at, dispatched_at, deadline_at, idempotency_key, concurrency_key,
         concurrency_limit, trace_context)
    SELECT new.id, :workflow, :workflow_version, 'pending', :queue, :priority,
           CAST(new.input AS jsonb), :first_step,
           coalesce(:run_at, now() + make_interval(secs => :delay_seconds)),
           CASE WHEN :dispatch_now THEN now() END,
           coalesce(:run_at, now() + make_interval(secs => :delay_seconds))
               + make_interval(secs => :timeout_seconds),
           new.key, new.concurrency_key, :concurrency_limit, :trace_context
    FROM unnest(CAST(:ids AS uuid[]), CAST(:inputs AS text[]), CAST(:keys AS text[]),
                CAST(:concurrency_keys AS text[]))
        WITH ORDINALITY AS new(id, input, key, concurrency_key, position)
    ORDER BY new.position
    ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
    """
)
"""Insert many pending executions of one workflow in one statement (start_many). A row
whose idempotency key is already known, in the table or earlier in the same batch, is
not inserted; concurrent batches with a shared key serialise on the unique index like
single starts do."""

FIND_BY_IDEMPOTENCY_KEYS = text(
    "SELECT id, idempotency_key FROM workflow_executions WHERE workflow = :workflow "
    "AND idempotency_key = ANY(CAST(:keys AS text[]))"
)
"""The executions some idempotency keys already name (after START_MANY skipped them)."""

FIND_BY_IDEMPOTENCY_KEY = text(
    "SELECT id FROM workflow_executions WHERE workflow = :workflow "
    "AND idempotency_key = :idempotency_key"
)
"""The execution an idempotency key already names (after START inserted nothing): the
partial unique index makes a concurrent START wait, so this finds it committed."""

WHERE_AM_I = text("SELECT current_database(), inet_server_port(), pg_postmaster_start_time()")
"""Which database of which server a connection is on: two connections that answer alike
share the tables (Django's connection and the durable-celery engine, say)."""

CLAIM = text(
    """
    UPDATE workflow_executions AS e
    SET """
    + CLAIM_SET
    + """
    -- `IS TRUE` keeps the planner on the primary key: with stale statistics that count
    -- almost no pending rows (100,000 timers just came due), a bare `status = 'pending'`
    -- made it scan every pending row through ix_workflow_executions_status_created.
    WHERE e.id = :id AND (e.status = 'pending') IS TRUE AND e.run_at <= now()
      AND e.concurrency_key IS NULL
    RETURNING """
    + CLAIMED_COLUMNS
)
"""Take the claim of one due, pending execution (by id, from its wake-up) and start the
next attempt of its current step, with a fresh lock token. A row that is running,
finished or not yet due is not claimed, so duplicate and early wake-ups do nothing.

Unlike the sweeps, which skip locked rows (`FOR UPDATE SKIP LOCKED`) to share batches,
a claim by id waits for the row's lock and then re-checks the row: every lock on an
execution row is held for one short statement or transaction (another claim, a
checkpoint, send_event, cancel, a fan-in), and skipping it would drop the wake-up until
the poller's grace period re-sends it. Two concurrent claims serialise on the row and
the second finds it running. An execution with a concurrency key is not claimed here
but by CLAIM_LIMITED (sql/concurrency.py), which also takes a slot of its key."""

COMPLETED_STEPS = text(
    """
    SELECT step_name, latest, CASE WHEN latest THEN output END AS output
    FROM (
        SELECT step_name, sequence, output,
               row_number() OVER (PARTITION BY step_name ORDER BY sequence DESC) = 1 AS latest
        FROM step_executions
        WHERE execution_id = :id AND status = 'completed'
    ) AS runs
    ORDER BY sequence
    """
)
"""The completed step runs of an execution, in order, each flagged when it is the latest
run of its step, with the output of the latest runs only (a loop's earlier outputs stay
in the database): `ctx.results`, loop visits (child and wait identities) and the saga's
compensation plan, read once per claim. Reads committed rows only; no locks."""

_RECORD_STEP = """
    INSERT INTO step_executions
        (id, execution_id, step_name, sequence, attempt, status, output, error, logs,
         started_at, completed_at, duration_ms, worker)
    SELECT gen_random_uuid(), fenced.id, :step_name, :sequence, :attempt, :step_status,
           CAST(:output AS jsonb), CAST(:error AS jsonb), CAST(:logs AS jsonb),
           :started_at, now(), :duration_ms, :worker
    FROM fenced
"""

_ADVANCE_SET = """
        UPDATE workflow_executions
        SET context = coalesce(CAST(:context AS jsonb), context),
            current_step = :next_step,
            compensations = CAST(:compensations AS jsonb),
            -- The saga's failure is recorded when it starts, unless a cancel came first.
            error = CASE WHEN cancel_requested_at IS NOT NULL THEN error
                         ELSE coalesce(CAST(:execution_error AS jsonb), error) END,
            step_attempt = 1,
            step_runs = step_runs + 1,
            step_started_at = now(),
            suspended_on = NULL,
"""
_ADVANCE_FENCE = """
            updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id, cancel_requested_at
    )
"""

ADVANCE = text(
    "WITH fenced AS ("
    + _ADVANCE_SET
    + _ADVANCE_FENCE
    + _RECORD_STEP
    + " RETURNING (SELECT fenced.cancel_requested_at FROM fenced) AS cancel_requested_at"
)
"""Checkpoint a completed step and move to the next one, keeping the claim: one
statement, one transaction. The next step starts inline, with no broker round trip.
It writes no indexed column, so Postgres can make it a HOT update (the table keeps
free space per page for that): the seven indexes of the table are not touched.
It returns a pending cancel request, so a cancelled execution stops at this boundary.
A NULL :context leaves the context as it is (the step changed nothing in it): the
client neither encodes nor sends it, the server does not parse it."""

ADVANCE_FROM_SLOT = text(
    "WITH fenced AS ("
    + _ADVANCE_SET
    + """
            -- The attempt is over: clearing the key fires the trigger that gives its
            -- step slot back.
            step_slot_key = NULL,"""
    + _ADVANCE_FENCE
    + ","
    + HAND_OVER_STEP_SLOT
    + _RECORD_STEP
    + " RETURNING (SELECT fenced.cancel_requested_at FROM fenced) AS cancel_requested_at,"
    + NEXT_FOR_STEP_COLUMNS
)
"""ADVANCE for an attempt that holds a step slot (`:step_slot_key`, a step with a
concurrency limit): the same checkpoint, which also gives the slot back (by trigger,
clearing step_slot_key, still a HOT update) and hands it to the next execution queued
for the key (HAND_OVER_STEP_SLOT). Steps without a limit use ADVANCE, which pays
nothing for it."""

_WAKE_PARENT = (
    """
    woken AS (
        UPDATE workflow_executions AS p
        SET """
    + wake("p")
    + """
        FROM fenced
        WHERE fenced.wake_parent AND p.id = fenced.parent_id
          AND p.status IN ('pending', 'running', 'waiting')
        RETURNING p.id, p.queue, p.status, p.workflow
    )
"""
)

FINISH = text(
    """
    WITH fenced AS (
        UPDATE workflow_executions
        -- A cancel requested during the last step wins: the step is recorded, the
        -- execution ends cancelled with the cancel's reason.
        SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
                          ELSE :status END,
            context = coalesce(CAST(:context AS jsonb), context),
            result = CASE WHEN cancel_requested_at IS NOT NULL THEN NULL
                          ELSE CAST(:result AS jsonb) END,
            error = CASE WHEN cancel_requested_at IS NOT NULL THEN error
                         ELSE CAST(:execution_error AS jsonb) END,
            -- A failed execution keeps the step it failed in, so retry() can resume there.
            current_step = CASE WHEN :status = 'completed' THEN NULL ELSE current_step END,
            compensations = NULL,
            suspended_on = NULL,
            step_runs = step_runs + 1,
            completed_at = now(),
            lock_token = NULL,
            locked_by = NULL,
            heartbeat_at = NULL,
            updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id, parent_id, wake_parent, status, concurrency_key
    ),
    """
    + _WAKE_PARENT
    + ","
    + HAND_OVER_SLOT
    + ","
    + HAND_OVER_STEP_SLOT
    + _RECORD_STEP
    + """ RETURNING (SELECT woken.id FROM woken WHERE woken.status = 'pending') AS parent_id,
                    (SELECT woken.queue FROM woken WHERE woken.status = 'pending') AS parent_queue,
                    (SELECT woken.workflow FROM woken) AS parent_workflow,
                    (SELECT fenced.status FROM fenced) AS status,"""
    + NEXT_IN_KEY_COLUMNS
    + ","
    + NEXT_FOR_STEP_COLUMNS
)
"""Record the last step run (completed or failed) and end the execution with `status`,
releasing the claim, in the same statement. A child started with `run_child` wakes its
parent in that same statement (or flags it, when the parent is running right now); a
limited execution hands its slot to the next one queued for its key (HAND_OVER_SLOT)."""

FAIL_WITHOUT_STEP = text(
    """
    WITH fenced AS (
        UPDATE workflow_executions
        SET status = 'failed', error = CAST(:error AS jsonb), completed_at = now(),
            lock_token = NULL, locked_by = NULL, heartbeat_at = NULL, updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id, parent_id, wake_parent
    ),
    """
    + _WAKE_PARENT
    + """
    SELECT (SELECT count(*) FROM fenced) AS fenced,
           (SELECT woken.id FROM woken WHERE woken.status = 'pending') AS parent_id,
           (SELECT woken.queue FROM woken WHERE woken.status = 'pending') AS parent_queue,
           (SELECT woken.workflow FROM woken) AS parent_workflow
    """
)
"""End a claimed execution that cannot run at all (unknown workflow, vanished step). A
parent waiting on it (run_child) is woken in the same statement, as FINISH does."""

RETRY_LATER = text(
    """
    WITH fenced AS (
        UPDATE workflow_executions
        SET status = 'pending',
            run_at = now() + make_interval(secs => :delay_seconds),
            dispatched_at = NULL,
            context = CAST(:context AS jsonb),
            compensations = CAST(:compensations AS jsonb),
            step_runs = step_runs + 1,
            lock_token = NULL,
            locked_by = NULL,
            heartbeat_at = NULL,
            updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id, cancel_requested_at, concurrency_key
    ),
    """
    + HAND_OVER_SLOT
    + ","
    + HAND_OVER_STEP_SLOT
    + _RECORD_STEP
    + " RETURNING (SELECT fenced.cancel_requested_at FROM fenced) AS cancel_requested_at,"
    + NEXT_IN_KEY_COLUMNS
    + ","
    + NEXT_FOR_STEP_COLUMNS
)
"""Record a failed attempt and release the execution onto a durable timer: the poller
wakes it at run_at. The attempt counter stays, so the claim that retries increments it:
the attempt budget survives worker crashes and database restarts. A limited execution
hands its slot over while it waits (HAND_OVER_SLOT), and a step with a concurrency limit
its step slot (HAND_OVER_STEP_SLOT)."""

RELEASE = text(
    """
    UPDATE workflow_executions
    SET status = 'pending', run_at = now(), dispatched_at = now(),
        -- The next claim adds the attempt taken back here, as after SUSPEND.
        step_attempt = step_attempt - 1,
        lock_token = NULL, locked_by = NULL, heartbeat_at = NULL, updated_at = now()
    WHERE id = :id AND lock_token = :token
    RETURNING id
    """
)
"""Hand the execution over at a step boundary: pending and due now, for the wake-up sent
right after; its current step has not started. Fenced like every write of a claim."""

DEFER = text(
    """
    WITH fenced AS (
        UPDATE workflow_executions
        SET status = 'pending',
            run_at = now() + make_interval(secs => :delay_seconds),
            dispatched_at = NULL,
            -- The step has not started: the next claim adds the attempt taken back here.
            step_attempt = step_attempt - 1,
            lock_token = NULL,
            locked_by = NULL,
            heartbeat_at = NULL,
            updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id, concurrency_key
    ),
    """
    + HAND_OVER_SLOT
    + ","
    + HAND_OVER_STEP_SLOT
    + """
    SELECT fenced.id,"""
    + NEXT_IN_KEY_COLUMNS
    + ","
    + NEXT_FOR_STEP_COLUMNS
    + """
    FROM fenced
    """
)
"""Release the claim before the current step starts, onto a durable timer (a step over
its rate limit waits for the next free start): pending and due after `delay_seconds`,
woken by the poller; no worker is held meanwhile. A limited execution hands its
concurrency slot over while it waits (HAND_OVER_SLOT). Fenced like every write of a
claim."""

SUSPEND = text(
    """
    WITH fenced AS (
    UPDATE workflow_executions
    SET status = CASE WHEN wake_requested THEN 'pending' ELSE 'waiting' END,
        run_at = CASE WHEN wake_requested THEN now()
                      ELSE coalesce(CAST(:wake_at AS timestamptz), 'infinity') END,
        dispatched_at = CASE WHEN wake_requested THEN now() END,
        wake_requested = false,
        suspended_on = :suspended_on,
        -- Resuming runs the same attempt again; the claim adds the one taken back here.
        step_attempt = step_attempt - 1,
        lock_token = NULL,
        locked_by = NULL,
        heartbeat_at = NULL,
        updated_at = now()
    WHERE id = :id AND lock_token = :token
    RETURNING status, cancel_requested_at, concurrency_key
    ),
    """
    + HAND_OVER_SLOT
    + ","
    + HAND_OVER_STEP_SLOT
    + """
    SELECT fenced.status, fenced.cancel_requested_at,"""
    + NEXT_IN_KEY_COLUMNS
    + ","
    + NEXT_FOR_STEP_COLUMNS
    + """
    FROM fenced
    """
)
"""Release the claim while the current step waits (a child, and later sleeps and events).
If what it waits for already happened while it ran (wake_requested), it goes straight
back to pending instead, so a wake-up can never be lost between check and suspend. A
limited execution hands its slot over while it waits (HAND_OVER_SLOT)."""
