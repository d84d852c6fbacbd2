"""Fan-out items of each/parallel steps: start, claim, fan-in."""

from __future__ import annotations

from sqlalchemy import text

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
           COALESCE(item.queue, :queue), now(),
           CASE WHEN item.ordinality <= :concurrency THEN now() END
    FROM fenced,
         unnest(CAST(:item_ids AS uuid[]), CAST(:item_values AS text[]),
                CAST(:item_queues AS text[]))
             WITH ORDINALITY AS item(id, value, queue, ordinality)
    RETURNING id, status, queue
    """
)
"""Fan out: write every item of an each/parallel step and suspend the execution on
them, in one statement. The first `concurrency` items are dispatched now, the rest
wait in 'queued' until a finishing item hands its slot on. An item's queue is its entry
of :item_queues (one per item; an empty array: :queue for every item)."""

FANOUT_RESULTS = text(
    """
    SELECT item_index, status, output, error FROM step_items
    WHERE execution_id = :id AND fanout_seq = :fanout_seq
    ORDER BY item_index
    """
)
"""The items of one fan-out in item order, read when the execution resumes after its
last item finished. No locks: the items of a finished fan-out no longer change."""

ITEM_CLAIM = text(
    """
    UPDATE step_items AS i
    SET status = 'running', lock_token = gen_random_uuid(), locked_by = :worker,
        heartbeat_at = now(), attempt = i.attempt + 1, started_at = now(), resends = 0
    -- `IS TRUE`: the primary key, never a scan of ix_step_items_due (see CLAIM).
    WHERE i.id = :id AND (i.status = 'pending') IS TRUE AND i.run_at <= now()
    RETURNING i.id, i.execution_id, i.step_name, i.fanout_seq, i.item_index, i.item,
              i.attempt, i.lock_token, i.queue
    """
)
"""Claim one fan-out item by id, like CLAIM does for executions."""

ITEM_PARENT = text(
    """
    SELECT workflow, workflow_version, input, context, status, suspended_on, fanout_seq,
           deadline_at
    FROM workflow_executions WHERE id = :id
    """
)
"""What an item needs of its execution (its input, context and deadline), and whether it
still waits for this fan-out. No lock: the fan-in (ITEM_FINISH) re-checks under lock."""

ITEM_FINISH = text(
    """
    WITH parent_lock AS MATERIALIZED (
        SELECT e.id FROM workflow_executions AS e
        WHERE e.id = (SELECT execution_id FROM step_items WHERE id = :id)
        FOR UPDATE OF e
    ),
    done AS (
        UPDATE step_items
        SET status = :status, output = CAST(:output AS jsonb), error = CAST(:error AS jsonb),
            completed_at = now(), duration_ms = :duration_ms, lock_token = NULL,
            heartbeat_at = NULL
        WHERE id = :id AND lock_token = :token
          AND execution_id = (SELECT id FROM parent_lock)
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
        RETURNING e.id, e.queue, e.status, e.workflow
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
           (SELECT parent.workflow FROM parent) AS parent_workflow,
           (SELECT handed_on.id FROM handed_on) AS next_id,
           (SELECT handed_on.queue FROM handed_on) AS next_queue,
           (SELECT count(*) FROM dropped) AS dropped
    """
)
"""Record an item's ending and do the fan-in in the same statement. The execution's row
is locked first (`parent_lock`, evaluated before the item's row is updated), as cancel
and every other writer lock an execution before its items, so the two cannot deadlock.
That lock serialises finishing items, so the counter reaches zero exactly once and only
that item flips the execution back to pending. A finishing item hands its concurrency slot to
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
