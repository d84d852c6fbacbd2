"""Concurrency limits: the claim that takes a slot of its key and the poller's fallback
(the hand-over of a freed slot is the HAND_OVER_SLOT fragment of the statements that
free one; the trigger that gives a slot back is DDL, in store/schema.py).

A key's slots are one row of `concurrency_slots`: `held` counts its executions that are
`running`. The counter moves in the same statement as the status: up in
CLAIM_LIMITED (only while `held < slot_limit`, checked on the row's latest version), down
in the trigger that fires whenever a limited execution leaves `running` (a checkpoint,
a wait, a retry timer, a cancel, stale recovery), so no path can leak a slot. At any
instant the running executions of a key are therefore at most `held`, and `held` is at
most the limit.
"""

from __future__ import annotations

from sqlalchemy import text

from durable_celery.store.sql.fragments import CLAIM_SET, CLAIMED_COLUMNS

CLAIM_LIMITED = text(
    """
    WITH target AS MATERIALIZED (
        SELECT id, concurrency_key, concurrency_limit FROM workflow_executions
        WHERE id = :id AND (status = 'pending') IS TRUE AND run_at <= now()
          AND concurrency_key IS NOT NULL
        FOR UPDATE
    ),
    slot AS (
        INSERT INTO concurrency_slots AS s (key, held, slot_limit)
        SELECT concurrency_key, 1, concurrency_limit FROM target
        ON CONFLICT (key) DO UPDATE SET held = s.held + 1, slot_limit = excluded.slot_limit
        WHERE s.held < excluded.slot_limit
        RETURNING s.key
    ),
    queued AS (
        UPDATE workflow_executions AS e SET slot_queued = true
        FROM target
        WHERE e.id = target.id AND NOT e.slot_queued AND NOT EXISTS (SELECT FROM slot)
    )
    UPDATE workflow_executions AS e
    SET """
    + CLAIM_SET
    + """,
        slot_queued = false
    FROM target
    WHERE e.id = target.id AND EXISTS (SELECT FROM slot)
    RETURNING """
    + CLAIMED_COLUMNS
)
"""CLAIM for an execution with a concurrency key (CLAIM skips those): take the row, then
a slot of its key, then start the attempt, in one statement. The row is locked first
(FOR UPDATE re-checks that it is still pending after waiting), so duplicate wake-ups
cannot take two slots for one execution. The slot is taken by an upsert whose
`held < slot_limit` condition PostgreSQL evaluates on the latest committed version of
the key's row, after waiting for its lock (READ COMMITTED): two claims racing for the
last slot serialise there and the second finds it full, under any number of workers.
Lock order is always the execution row, then the slot row.

With no free slot the execution stays pending and is marked `slot_queued`: the poller
does not re-send its wake-up; a holder hands it the next free slot (HAND_OVER_SLOT), or
the poller's DISPATCH_SLOT_QUEUED does when a slot is free and nobody handed it over."""

DISPATCH_SLOT_QUEUED = text(
    """
    WITH free AS MATERIALIZED (
        SELECT s.key, s.slot_limit - s.held AS room FROM concurrency_slots AS s
        WHERE s.held < s.slot_limit
          AND s.key IN (SELECT concurrency_key FROM workflow_executions
                        WHERE status = 'pending' AND slot_queued)
    ),
    due AS MATERIALIZED (
        SELECT q.id FROM free CROSS JOIN LATERAL (
            SELECT e.id FROM workflow_executions AS e
            WHERE e.concurrency_key = free.key AND e.status = 'pending' AND e.slot_queued
              AND e.run_at <= now()
            ORDER BY e.priority DESC, e.run_at, e.created_at
            LIMIT free.room
            FOR UPDATE SKIP LOCKED
        ) AS q
        LIMIT :batch_size
    )
    UPDATE workflow_executions AS e
    SET slot_queued = false, dispatched_at = now(), updated_at = now()
    FROM due
    WHERE e.id = due.id
    RETURNING e.id, e.queue, e.workflow
    """
)
"""The poller's fallback for slots nobody handed over (a holder that was cancelled,
recovered as stale, or released its slot between a queued claim's check and its mark):
per key with free slots, as many queued executions as there are free slots, in order
(priority, run_at, FIFO), are unqueued and woken. SKIP LOCKED: pollers at once never
take a row twice; a woken claim that loses the race queues itself again."""
