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
         dispatched_at, deadline_at, idempotency_key, parent_id, wake_parent)
    VALUES
        (:id, :workflow, 'pending', :queue, :priority, CAST(:input AS jsonb), :first_step,
         coalesce(:run_at, now() + make_interval(secs => :delay_seconds)),
         CASE WHEN :dispatch_now THEN now() END,
         coalesce(:run_at, now() + make_interval(secs => :delay_seconds))
             + make_interval(secs => :timeout_seconds),
         :idempotency_key, :parent_id, :wake_parent)
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
    UPDATE workflow_executions AS e
    SET status = 'running',
        lock_token = gen_random_uuid(),
        locked_by = :worker,
        locked_at = now(),
        heartbeat_at = now(),
        started_at = coalesce(e.started_at, now()),
        step_attempt = e.step_attempt + 1,
        step_started_at = now(),
        wake_requested = false,
        updated_at = now()
    WHERE e.id = :id AND e.status = 'pending' AND e.run_at <= now()
    RETURNING e.id, e.workflow, e.input, e.context, e.current_step, e.step_attempt,
              e.step_runs, e.lock_token, e.queue, e.deadline_at, e.suspended_on,
              e.fanout_seq, e.fanout_failed, e.compensations, e.error,
              e.cancel_requested_at, e.parent_id, e.wake_parent
    """
)
"""Take the claim of one due, pending execution (by id, from its wake-up) and start the
next attempt of its current step, with a fresh lock token. A row that is running,
finished or not yet due is not claimed, so duplicate and early wake-ups do nothing.

Unlike the sweeps, which skip locked rows (`FOR UPDATE SKIP LOCKED`) to share batches,
a claim by id waits for the row's lock and then re-checks the row: every lock on an
execution row is held for one short statement or transaction (another claim, a
checkpoint, send_event, cancel, a fan-in), and skipping it would drop the wake-up until
the poller's grace period re-sends it. Two concurrent claims serialise on the row and
the second finds it running."""

COMPLETED_OUTPUTS = text(
    """
    SELECT DISTINCT ON (step_name) step_name, output,
           count(*) OVER (PARTITION BY step_name) AS visits
    FROM step_executions
    WHERE execution_id = :id AND status = 'completed'
    ORDER BY step_name, sequence DESC
    """
)
"""The latest output of every completed step, and how many times each completed (loop
visits), for `ctx.results` and child-workflow identities after a claim."""

COMPLETED_SEQUENCE = text(
    """
    SELECT step_name FROM step_executions
    WHERE execution_id = :id AND status = 'completed'
    ORDER BY sequence
    """
)
"""Completed step runs in order: what a saga compensates, in reverse."""

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
            compensations = CAST(:compensations AS jsonb),
            error = coalesce(CAST(:execution_error AS jsonb), error),
            step_attempt = 1,
            step_runs = step_runs + 1,
            step_started_at = now(),
            suspended_on = NULL,
            updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id, cancel_requested_at
    )
    """
    + _RECORD_STEP
    + " RETURNING (SELECT fenced.cancel_requested_at FROM fenced) AS cancel_requested_at"
)
"""Checkpoint a completed step and move to the next one, keeping the claim: one
statement, one transaction. The next step starts inline, with no broker round trip.
It writes no indexed column, so Postgres can make it a HOT update (the table keeps
free space per page for that): the seven indexes of the table are not touched.
It returns a pending cancel request, so a cancelled execution stops at this boundary."""

_WAKE_PARENT = """
    woken AS (
        UPDATE workflow_executions AS p
        SET status = CASE WHEN p.status = 'waiting' THEN 'pending' ELSE p.status END,
            wake_requested = p.wake_requested OR p.status = 'running',
            run_at = CASE WHEN p.status = 'waiting' THEN now() ELSE p.run_at END,
            dispatched_at = CASE WHEN p.status = 'waiting' THEN now() ELSE p.dispatched_at END,
            updated_at = now()
        FROM fenced
        WHERE fenced.wake_parent AND p.id = fenced.parent_id
          AND p.status IN ('pending', 'running', 'waiting')
        RETURNING p.id, p.queue, p.status
    )
"""

FINISH = text(
    """
    WITH fenced AS (
        UPDATE workflow_executions
        -- A cancel requested during the last step wins: the step is recorded, the
        -- execution ends cancelled with the cancel's reason.
        SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
                          ELSE :status END,
            context = CAST(:context AS jsonb),
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
        RETURNING id, parent_id, wake_parent
    ),
    """
    + _WAKE_PARENT
    + _RECORD_STEP
    + """ RETURNING (SELECT woken.id::text || ' ' || woken.queue FROM woken
                     WHERE woken.status = 'pending') AS wake_parent"""
)
"""Record the last step run (completed or failed) and end the execution with `status`,
releasing the claim, in the same statement. A child started with `run_child` wakes its
parent in that same statement (or flags it, when the parent is running right now)."""

FAIL_WITHOUT_STEP = text(
    """
    UPDATE workflow_executions
    SET status = 'failed', error = CAST(:error AS jsonb), completed_at = now(),
        lock_token = NULL, locked_by = NULL, heartbeat_at = NULL, updated_at = now()
    WHERE id = :id AND lock_token = :token
    RETURNING id
    """
)
"""End a claimed execution that cannot run at all (unknown workflow, vanished step)."""

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
        RETURNING id, cancel_requested_at
    )
    """
    + _RECORD_STEP
    + " RETURNING (SELECT fenced.cancel_requested_at FROM fenced) AS cancel_requested_at"
)
"""Record a failed attempt and release the execution onto a durable timer: the poller
wakes it at run_at. The attempt counter stays, so the claim that retries increments it:
the attempt budget survives worker crashes and database restarts."""

SUSPEND = text(
    """
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
    RETURNING status, cancel_requested_at
    """
)
"""Release the claim while the current step waits (a child, and later sleeps and events).
If what it waits for already happened while it ran (wake_requested), it goes straight
back to pending instead, so a wake-up can never be lost between check and suspend."""

START_FANOUT = text(
    """
    WITH fenced AS (
        UPDATE workflow_executions
        SET status = 'waiting',
            run_at = 'infinity',
            dispatched_at = NULL,
            suspended_on = 'fanout',
            fanout_seq = :fanout_seq,
            fanout_remaining = :total,
            fanout_failed = false,
            step_attempt = step_attempt - 1,
            lock_token = NULL,
            locked_by = NULL,
            heartbeat_at = NULL,
            updated_at = now()
        WHERE id = :id AND lock_token = :token
        RETURNING id
    )
    INSERT INTO step_items
        (id, execution_id, step_name, fanout_seq, item_index, item, status, queue, run_at,
         dispatched_at)
    SELECT item.id, fenced.id, :step_name, :fanout_seq, item.ordinality - 1,
           CAST(item.value AS jsonb),
           CASE WHEN item.ordinality <= :concurrency THEN 'pending' ELSE 'queued' END,
           :queue, now(),
           CASE WHEN item.ordinality <= :concurrency THEN now() END
    FROM fenced,
         unnest(CAST(:item_ids AS uuid[]), CAST(:item_values AS text[]))
             WITH ORDINALITY AS item(id, value, ordinality)
    RETURNING id, status
    """
)
"""Fan out: write every item of an each/parallel step and suspend the execution on
them, in one statement. The first `concurrency` items are dispatched now, the rest
wait in 'queued' until a finishing item hands its slot on."""

FANOUT_RESULTS = text(
    """
    SELECT item_index, status, output, error FROM step_items
    WHERE execution_id = :id AND fanout_seq = :fanout_seq
    ORDER BY item_index
    """
)

ITEM_CLAIM = text(
    """
    UPDATE step_items AS i
    SET status = 'running', lock_token = gen_random_uuid(), locked_by = :worker,
        heartbeat_at = now(), attempt = i.attempt + 1, started_at = now()
    WHERE i.id = :id AND i.status = 'pending' AND i.run_at <= now()
    RETURNING i.id, i.execution_id, i.step_name, i.fanout_seq, i.item_index, i.item,
              i.attempt, i.lock_token, i.queue
    """
)
"""Claim one fan-out item by id, like CLAIM does for executions."""

ITEM_PARENT = text(
    """
    SELECT workflow, input, context, status, suspended_on, fanout_seq, deadline_at
    FROM workflow_executions WHERE id = :id
    """
)

ITEM_FINISH = text(
    """
    WITH done AS (
        UPDATE step_items
        SET status = :status, output = CAST(:output AS jsonb), error = CAST(:error AS jsonb),
            completed_at = now(), duration_ms = :duration_ms, lock_token = NULL,
            heartbeat_at = NULL
        WHERE id = :id AND lock_token = :token
        RETURNING execution_id, fanout_seq
    ),
    parent AS (
        UPDATE workflow_executions AS e
        SET fanout_remaining = e.fanout_remaining - 1,
            fanout_failed = e.fanout_failed OR :fail_fast,
            status = CASE WHEN e.fanout_remaining = 1 OR :fail_fast
                          THEN 'pending' ELSE e.status END,
            run_at = CASE WHEN e.fanout_remaining = 1 OR :fail_fast
                          THEN now() ELSE e.run_at END,
            dispatched_at = CASE WHEN e.fanout_remaining = 1 OR :fail_fast
                                 THEN now() ELSE e.dispatched_at END,
            updated_at = now()
        FROM done
        WHERE e.id = done.execution_id AND e.status = 'waiting'
          AND e.suspended_on = 'fanout' AND e.fanout_seq = done.fanout_seq
        RETURNING e.id, e.queue, e.status
    ),
    handed_on AS (
        UPDATE step_items AS n
        SET status = 'pending', run_at = now(), dispatched_at = now()
        WHERE NOT :fail_fast AND n.id = (
            SELECT q.id FROM step_items AS q, done
            WHERE q.execution_id = done.execution_id AND q.fanout_seq = done.fanout_seq
              AND q.status = 'queued'
            ORDER BY q.item_index
            LIMIT 1
            FOR UPDATE OF q SKIP LOCKED
        )
        RETURNING n.id, n.queue
    ),
    dropped AS (
        UPDATE step_items AS c
        SET status = 'cancelled', lock_token = NULL
        FROM done
        WHERE :fail_fast AND c.execution_id = done.execution_id
          AND c.fanout_seq = done.fanout_seq AND c.status IN ('queued', 'pending')
        RETURNING c.id
    )
    SELECT (SELECT count(*) FROM done) AS done,
           (SELECT parent.status FROM parent) AS parent_status,
           (SELECT parent.queue FROM parent) AS parent_queue,
           (SELECT handed_on.id FROM handed_on) AS next_id,
           (SELECT handed_on.queue FROM handed_on) AS next_queue,
           (SELECT count(*) FROM dropped) AS dropped
    """
)
"""Record an item's ending and do the fan-in in the same statement. The parent row's
lock serialises finishing items, so the counter reaches zero exactly once and only that
item flips the execution back to pending. A finishing item hands its concurrency slot to
the next queued item; a fail_fast failure cancels what has not started instead."""

ITEM_RETRY_LATER = text(
    """
    UPDATE step_items
    SET status = 'pending', run_at = now() + make_interval(secs => :delay_seconds),
        dispatched_at = NULL, error = CAST(:error AS jsonb), lock_token = NULL,
        heartbeat_at = NULL
    WHERE id = :id AND lock_token = :token
    """
)
"""A failed item attempt waits on a durable timer; it keeps its concurrency slot."""

ITEM_DROP = text(
    "UPDATE step_items SET status = 'cancelled', lock_token = NULL "
    "WHERE id = :id AND lock_token = :token"
)
"""An item whose execution stopped waiting for it (cancelled, failed fast) is dropped."""

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

# --- Control: cancel, timeouts, retry (not hot; one transaction per call) -------------

END_EXECUTIONS = text(
    """
    UPDATE workflow_executions
    SET status = :status, error = CAST(:error AS jsonb), completed_at = now(),
        lock_token = NULL, locked_by = NULL, heartbeat_at = NULL, suspended_on = NULL,
        updated_at = now()
    WHERE id = ANY(CAST(:ids AS uuid[])) AND status IN ('pending', 'running', 'waiting')
      AND (CAST(:token AS uuid) IS NULL OR lock_token = CAST(:token AS uuid))
      AND (:include_running OR status <> 'running')
    RETURNING id
    """
)
"""End live executions as cancelled or timed_out, releasing any claim (fencing out its
worker). With include_running false, running ones are left to REQUEST_CANCEL."""

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

DROP_ITEMS_OF = text(
    """
    UPDATE step_items SET status = 'cancelled', lock_token = NULL
    WHERE execution_id = ANY(CAST(:ids AS uuid[]))
      AND status IN ('queued', 'pending', 'running')
    """
)

LIVE_CHILDREN_OF = text(
    """
    SELECT id FROM workflow_executions
    WHERE parent_id = ANY(CAST(:ids AS uuid[])) AND status IN ('pending', 'running', 'waiting')
    ORDER BY id
    FOR UPDATE
    """
)

WAKE_PARENTS_OF = text(
    """
    UPDATE workflow_executions AS p
    SET status = CASE WHEN p.status = 'waiting' THEN 'pending' ELSE p.status END,
        wake_requested = p.wake_requested OR p.status = 'running',
        run_at = CASE WHEN p.status = 'waiting' THEN now() ELSE p.run_at END,
        dispatched_at = CASE WHEN p.status = 'waiting' THEN now() ELSE p.dispatched_at END,
        updated_at = now()
    FROM workflow_executions AS c
    WHERE c.id = ANY(CAST(:ids AS uuid[])) AND c.wake_parent AND p.id = c.parent_id
      AND p.status IN ('pending', 'running', 'waiting')
    RETURNING p.id, p.queue, p.status
    """
)
"""Children that ended (cancelled, timed out) wake the parents waiting on them."""

LOCK_EXECUTION = text(
    "SELECT status, queue, workflow FROM workflow_executions WHERE id = :id FOR UPDATE"
)

RESUME_FAILED = text(
    """
    UPDATE workflow_executions
    SET status = 'pending', error = NULL, result = NULL, completed_at = NULL,
        step_attempt = 0, run_at = now(), dispatched_at = now(), compensations = NULL,
        suspended_on = NULL, fanout_failed = false, cancel_requested_at = NULL,
        deadline_at = now() + make_interval(secs => :timeout_seconds),
        updated_at = now()
    WHERE id = :id AND status IN ('failed', 'timed_out')
    RETURNING queue
    """
)
"""retry(): resume from the step it failed in; completed outputs stay as recorded."""


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

INPUT_REQUEST = text(
    "WITH"
    + _FENCE
    + """
    INSERT INTO pending_inputs
        (id, execution_id, name, step_name, wait_id, prompt, fields, deadline_at)
    SELECT :input_id, fence.id, :name, :step_name, :wait_id, :prompt, CAST(:fields AS jsonb),
           CAST(:deadline_at AS timestamptz)
    FROM fence
    ON CONFLICT (wait_id) DO NOTHING
    """
)
"""Record what a human is asked (once per wait)."""

INPUT_EXPIRE = text(
    """
    UPDATE pending_inputs SET status = 'timed_out'
    WHERE wait_id = :wait_id AND status = 'pending'
    RETURNING id
    """
)
"""An input's deadline passed: close it, unless it was answered a moment ago."""

# --- Signals from outside: events and inputs ----------------------------------------------

INSERT_EVENT = text(
    """
    INSERT INTO workflow_events (id, execution_id, name, payload)
    VALUES (:event_id, :id, :name, CAST(:payload AS jsonb))
    """
)

WAKE_FOR_SIGNAL = text(
    """
    UPDATE workflow_executions AS e
    SET status = CASE WHEN e.status = 'waiting' THEN 'pending' ELSE e.status END,
        wake_requested = e.wake_requested OR e.status = 'running',
        run_at = CASE WHEN e.status = 'waiting' THEN now() ELSE e.run_at END,
        dispatched_at = CASE WHEN e.status = 'waiting' THEN now() ELSE e.dispatched_at END,
        updated_at = now()
    WHERE e.id = :id
      AND (e.status = 'running'
           OR (e.status = 'waiting' AND :answered_input)
           OR (e.status = 'waiting' AND EXISTS (
                SELECT 1 FROM step_waits AS w
                WHERE w.execution_id = e.id AND w.status = 'waiting'
                  AND jsonb_exists(w.names, :name))))
    RETURNING e.status, e.queue
    """
)
"""Wake an execution for an event or input named `name`: a waiting one whose open wait
listens for that name (or whose input was just answered) goes pending at once; a running
one is flagged, so that if it is about to suspend it goes straight back to pending.
Anyone else keeps the event buffered."""

ANSWER_INPUT = text(
    """
    WITH asked AS (
        SELECT id, wait_id FROM pending_inputs
        WHERE execution_id = :id AND name = :name AND status = 'pending'
        ORDER BY created_at
        LIMIT 1
        FOR UPDATE
    ),
    answered AS (
        UPDATE pending_inputs AS p
        SET status = 'answered', value = CAST(:value AS jsonb), answered_at = now()
        FROM asked WHERE p.id = asked.id
        RETURNING p.wait_id
    )
    UPDATE step_waits AS w
    SET status = 'resolved', resolved_at = now(),
        value = jsonb_build_object(CAST(:name AS text), CAST(:value AS jsonb))
    FROM answered
    WHERE w.id = answered.wait_id
    RETURNING w.id
    """
)
"""Answer the open input of that name and resolve the wait that asked, together."""

OPEN_INPUT_NAMES = text(
    "SELECT name FROM pending_inputs WHERE execution_id = :id AND status = 'pending' "
    "ORDER BY created_at"
)
