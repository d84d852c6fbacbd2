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


# What a claim sets and returns (CLAIM, and CLAIM_LIMITED for executions with a
# concurrency key).
CLAIM_SET = """status = 'running',
        lock_token = gen_random_uuid(),
        locked_by = :worker,
        locked_at = now(),
        heartbeat_at = now(),
        started_at = coalesce(e.started_at, now()),
        step_attempt = e.step_attempt + 1,
        step_started_at = now(),
        wake_requested = false,
        resends = 0,
        updated_at = now()"""

CLAIMED_COLUMNS = """e.id, e.workflow, e.workflow_version, e.input, e.context, e.current_step,
              e.step_attempt, e.step_runs, e.lock_token, e.queue, e.deadline_at, e.suspended_on,
              e.fanout_seq, e.fanout_failed, e.compensations, e.error,
              e.cancel_requested_at, e.schedule_key, e.scheduled_at, e.trace_context,
              -- The claim that set started_at: the first ever (now() is this statement's).
              e.started_at = now() AS first_claim,
              -- How long it waited from due to claimed (run_at is left as it was).
              extract(epoch FROM now() - e.run_at)::float8 AS wake_lag"""

# The CTE that hands the slot a limited execution (`fenced`, which must return
# `concurrency_key`) gives back to the next execution queued for its key, in order
# (priority, run_at, FIFO): unqueued and marked dispatched here, woken after commit.
# `fenced.concurrency_key IS NOT NULL` makes it free for unlimited executions. SKIP
# LOCKED: two holders finishing at once hand their slots to two different executions.
HAND_OVER_SLOT = """
    next_in_key AS (
        UPDATE workflow_executions AS n
        SET slot_queued = false, dispatched_at = now(), updated_at = now()
        WHERE n.id = (
            SELECT q.id FROM fenced, workflow_executions AS q
            WHERE fenced.concurrency_key IS NOT NULL
              AND q.concurrency_key = fenced.concurrency_key
              AND q.status = 'pending' AND q.slot_queued AND q.run_at <= now()
            ORDER BY q.priority DESC, q.run_at, q.created_at
            LIMIT 1
            FOR UPDATE OF q SKIP LOCKED
        )
        RETURNING n.id, n.queue, n.workflow
    )
"""

NEXT_IN_KEY_COLUMNS = """
    (SELECT next_in_key.id FROM next_in_key) AS next_id,
    (SELECT next_in_key.queue FROM next_in_key) AS next_queue,
    (SELECT next_in_key.workflow FROM next_in_key) AS next_workflow"""

# The CTE that hands the step slot the attempt just gave back (`:step_slot_key`, passed
# by the engine, which knows the slot it took; NULL: the step has no limit, and the
# lookup finds nothing) to the next execution queued for that key, in order (priority,
# run_at, FIFO): unqueued and marked dispatched here, woken after commit. Only when
# `fenced` wrote: a lost claim hands nothing over. The slot itself is given back by the
# trigger (durable_release_step_slot) in the same statement.
HAND_OVER_STEP_SLOT = """
    next_for_step AS (
        UPDATE workflow_executions AS n
        SET step_queue_key = NULL, dispatched_at = now(), updated_at = now()
        WHERE n.id = (
            SELECT q.id FROM fenced, workflow_executions AS q
            WHERE q.step_queue_key = CAST(:step_slot_key AS text)
              AND q.status = 'pending' AND q.run_at <= now()
            ORDER BY q.priority DESC, q.run_at, q.created_at
            LIMIT 1
            FOR UPDATE OF q SKIP LOCKED
        )
        RETURNING n.id, n.queue, n.workflow
    )
"""

NEXT_FOR_STEP_COLUMNS = """
    (SELECT next_for_step.id FROM next_for_step) AS step_next_id,
    (SELECT next_for_step.queue FROM next_for_step) AS step_next_queue,
    (SELECT next_for_step.workflow FROM next_for_step) AS step_next_workflow"""
