"""The poller's sweeps: due timers, lost wake-ups, due items, expired deadlines, expired
published events."""

from __future__ import annotations

from sqlalchemy import text

# A wake-up nobody claimed is sent again after `grace`, then after twice as long each
# time, up to `backoff_max`: a queue that no worker consumes costs a message every few
# minutes, not one every `grace` seconds.
_UNCLAIMED_FOR_LONG = """
          AND (dispatched_at IS NULL
               OR dispatched_at < now() - make_interval(secs => greatest(:grace_seconds,
                      least(:grace_seconds * power(2, least(resends, 30)), :backoff_max))))
"""

# Per queue, the oldest of the wake-ups that workers claimed within the grace (running
# now or since finished): a wake-up sent more than `grace` before it, and still
# unclaimed, was skipped. The oldest, not the newest: the newest may be an execution
# re-sent a moment ago and claimed through its first wake-up.
_QUEUE_PROGRESS = """
    progress AS MATERIALIZED (
        SELECT queue, min(dispatched_at) AS oldest_taken
        FROM (
            SELECT queue, dispatched_at, locked_at FROM workflow_executions
            WHERE status = 'running'
            UNION ALL
            SELECT queue, dispatched_at, locked_at FROM workflow_executions
            WHERE completed_at > now() - make_interval(secs => :grace_seconds)
        ) AS taken
        WHERE locked_at > now() - make_interval(secs => :grace_seconds)
          AND dispatched_at IS NOT NULL
        GROUP BY queue
    )
"""

DISPATCH_DUE = text(
    "WITH"
    + _QUEUE_PROGRESS
    + """,
    due AS MATERIALIZED (
        SELECT id FROM workflow_executions AS e
        WHERE status IN ('pending', 'waiting') AND run_at <= now()
          -- Queued for a concurrency slot: woken by a holder's hand-over, not re-sent.
          AND NOT slot_queued AND step_queue_key IS NULL
    """
    + _UNCLAIMED_FOR_LONG
    + """
          AND (dispatched_at IS NULL
               OR dispatched_at < now() - make_interval(secs => :backoff_max)
               OR NOT EXISTS (SELECT FROM progress AS p WHERE p.queue = e.queue)
               OR dispatched_at < (SELECT p.oldest_taken FROM progress AS p
                                   WHERE p.queue = e.queue)
                                  - make_interval(secs => :grace_seconds))
        ORDER BY priority DESC, run_at
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    )
    UPDATE workflow_executions AS e
    SET status = 'pending', dispatched_at = now(), updated_at = now(),
        resends = CASE WHEN e.dispatched_at IS NULL THEN 0 ELSE e.resends + 1 END
    FROM due
    WHERE e.id = due.id
    RETURNING e.id, e.queue, e.priority, e.workflow, e.resends
    """
)
"""The poller: make due timers runnable and mark the wake-ups it is about to send.
Only live rows are in the partial index it scans (ix_workflow_executions_due), so
finished history costs nothing. A pending row dispatched recently is left alone: its
wake-up is probably still in flight (see the backoff above; CLAIM resets `resends`).

Past its backoff, a wake-up is sent again only if it looks lost: no worker claimed
anything from its queue within the grace (a flushed broker, nobody consuming, workers
stuck), or every wake-up the workers claimed within the grace was sent more than `grace`
after it (it was skipped), or it has waited `backoff_max`. One that waits its turn
behind a backlog (100,000 timers due at once, taken in order) is not sent again.
Higher-priority wake-ups overtake on purpose and may cause a re-send early; the backoff
still applies.

Several pollers at once: each batch locks its rows with SKIP LOCKED and marks them
dispatched in the same statement, so another poller skips them while it runs and finds
them dispatched (and not yet due for a re-send) once it commits: no row is taken twice.
The progress is read without locks, at most once per statement, and only when a
wake-up is old enough to be re-sent."""

DISPATCH_DUE_ITEMS = text(
    """
    WITH due AS MATERIALIZED (
        SELECT id FROM step_items
        WHERE status = 'pending' AND run_at <= now()
    """
    + _UNCLAIMED_FOR_LONG
    + """
        ORDER BY run_at
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    )
    UPDATE step_items AS i
    SET dispatched_at = now(),
        resends = CASE WHEN i.dispatched_at IS NULL THEN 0 ELSE i.resends + 1 END
    FROM due WHERE i.id = due.id
    RETURNING i.id, i.queue, i.resends, i.step_name,
              (SELECT e.workflow FROM workflow_executions AS e WHERE e.id = i.execution_id)
                  AS workflow
    """
)
"""The poller's sweep of fan-out items: retry timers that are due, lost wake-ups, with
the same backoff."""

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

HEARTBEAT_EXECUTIONS = text(
    """
    UPDATE workflow_executions AS e SET heartbeat_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[])) AS claim(id, token)
    WHERE e.id = claim.id AND e.lock_token = claim.token AND e.status = 'running'
    RETURNING e.id
    """
)
"""Refresh the heartbeat of the claims one worker process holds, fenced by their tokens.
A claim missing from the result was taken back: its worker must write nothing more."""

HEARTBEAT_ITEMS = text(
    """
    UPDATE step_items AS i SET heartbeat_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[])) AS claim(id, token)
    WHERE i.id = claim.id AND i.lock_token = claim.token AND i.status = 'running'
    RETURNING i.id
    """
)
"""HEARTBEAT_EXECUTIONS for fan-out items."""

RECOVER_STALE_EXECUTIONS = text(
    """
    WITH stale AS MATERIALIZED (
        SELECT id, locked_by FROM workflow_executions
        WHERE status = 'running'
          AND heartbeat_at < now() - make_interval(secs => :stale_seconds)
        ORDER BY heartbeat_at
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    ),
    released AS (
        UPDATE workflow_executions AS e
        SET status = 'pending', lock_token = NULL, locked_by = NULL, heartbeat_at = NULL,
            run_at = now(), dispatched_at = now(), step_runs = e.step_runs + 1,
            updated_at = now()
        FROM stale
        WHERE e.id = stale.id
        RETURNING e.id, e.queue, e.workflow, e.current_step, e.step_attempt, e.step_runs,
                  e.step_started_at, stale.locked_by
    ),
    recorded AS (
        INSERT INTO step_executions
            (id, execution_id, step_name, sequence, attempt, status, error, started_at,
             completed_at, worker)
        SELECT gen_random_uuid(), id, coalesce(current_step, '?'), step_runs, step_attempt,
               'abandoned',
               jsonb_build_object(
                   'type', 'durable_celery.errors.LockLost',
                   'message', 'the worker stopped heartbeating (crashed, killed or paused); '
                              || 'the attempt was abandoned and the step runs again'),
               coalesce(step_started_at, now()), now(), locked_by
        FROM released
    )
    SELECT id, queue, workflow FROM released
    """
)
"""Stale-claim recovery: executions whose worker stopped heartbeating are given back
(pending, due now) and their interrupted attempt is recorded as abandoned, in one
statement. The old token is cleared, so the old worker, if it wakes up, writes nothing.
SKIP LOCKED lets several beats recover at once without taking the same row twice."""

RECOVER_STALE_ITEMS = text(
    """
    WITH stale AS MATERIALIZED (
        SELECT id FROM step_items
        WHERE status = 'running'
          AND heartbeat_at < now() - make_interval(secs => :stale_seconds)
        ORDER BY heartbeat_at
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    )
    UPDATE step_items AS i
    SET status = 'pending', lock_token = NULL, locked_by = NULL, heartbeat_at = NULL,
        run_at = now(), dispatched_at = now(),
        error = jsonb_build_object('type', 'durable_celery.errors.LockLost',
                                   'message', 'the worker stopped heartbeating; abandoned')
    FROM stale
    WHERE i.id = stale.id
    RETURNING i.id, i.queue, i.step_name,
              (SELECT e.workflow FROM workflow_executions AS e WHERE e.id = i.execution_id)
                  AS workflow
    """
)
"""The same for fan-out items."""

DELETE_EXPIRED_EVENTS = text(
    """
    DELETE FROM published_events
    WHERE id = ANY(ARRAY(
        SELECT id FROM published_events
        WHERE expires_at <= now()
        ORDER BY expires_at
        LIMIT :batch_size
        FOR UPDATE SKIP LOCKED
    ))
    """
)
"""Delete one batch of published events past their retention, oldest first: found through
ix_published_events_expires, deleted by primary key (an array, so that a large table is
never hashed whole). SKIP LOCKED: pollers at once take different rows. What was
delivered to executions stays in their own buffers."""
