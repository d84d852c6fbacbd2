"""Concurrency limits: the claim that takes a slot of its key, the step's take of a slot
of its key, and the poller's fallbacks (the hand-over of a freed slot is the
HAND_OVER_SLOT / HAND_OVER_STEP_SLOT fragment of the statements that free one; the
triggers that give a slot back are DDL, in store/schema_limits.py).

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

from durable_celery.store.sql.fragments import (
    CLAIM_SET,
    CLAIMED_COLUMNS,
    HAND_OVER_SLOT,
    NEXT_IN_KEY_COLUMNS,
)

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


def _dispatch_queued(key_column: str, queued: str, unqueue: str) -> str:
    """The poller's fallback sweep for one kind of slot queue: per key with free slots,
    as many of the executions queued for it (`queued`, on `e`, naming the key in
    `key_column`) as there are free slots, in order (priority, run_at, FIFO), are
    unqueued (`unqueue`) and marked dispatched; their wake-ups are sent after commit."""
    return f"""
    WITH free AS MATERIALIZED (
        SELECT s.key, s.slot_limit - s.held AS room FROM concurrency_slots AS s
        WHERE s.held < s.slot_limit
          AND s.key IN (SELECT {key_column} FROM workflow_executions AS e WHERE {queued})
    ),
    due AS MATERIALIZED (
        SELECT q.id FROM free CROSS JOIN LATERAL (
            SELECT e.id FROM workflow_executions AS e
            WHERE e.{key_column} = free.key AND {queued} AND e.run_at <= now()
            ORDER BY e.priority DESC, e.run_at, e.created_at
            LIMIT free.room
            FOR UPDATE SKIP LOCKED
        ) AS q
        LIMIT :batch_size
    )
    UPDATE workflow_executions AS e
    SET {unqueue}, dispatched_at = now(), updated_at = now()
    FROM due
    WHERE e.id = due.id
    RETURNING e.id, e.queue, e.workflow
    """


DISPATCH_SLOT_QUEUED = text(
    _dispatch_queued(
        "concurrency_key", "e.status = 'pending' AND e.slot_queued", "slot_queued = false"
    )
)
"""The poller's fallback for slots nobody handed over (a holder that was cancelled,
recovered as stale, or released its slot between a queued claim's check and its mark):
per key with free slots, as many queued executions as there are free slots, in order
(priority, run_at, FIFO), are unqueued and woken. SKIP LOCKED: pollers at once never
take a row twice; a woken claim that loses the race queues itself again."""

# A step's limit: the slot of the key a running execution holds for its current step
# attempt is `step_slot_key` (cleared, and the slot given back, by the trigger
# durable_release_step_slot when the attempt ends); an execution queued for one is
# pending with `step_queue_key` set. Step keys share `concurrency_slots` with workflow
# keys (prefixed apart: see Concurrency.step_slot_key).

TAKE_STEP_SLOT = text(
    """
    WITH target AS MATERIALIZED (
        SELECT id FROM workflow_executions
        WHERE id = :id AND lock_token = :token
        FOR UPDATE
    ),
    slot AS (
        INSERT INTO concurrency_slots AS s (key, held, slot_limit)
        SELECT CAST(:key AS text), 1, CAST(:limit AS integer) FROM target
        ON CONFLICT (key) DO UPDATE SET held = s.held + 1, slot_limit = excluded.slot_limit
        WHERE s.held < excluded.slot_limit
        RETURNING s.key
    ),
    taken AS (
        UPDATE workflow_executions AS e SET step_slot_key = CAST(:key AS text)
        FROM target
        WHERE e.id = target.id AND EXISTS (SELECT FROM slot)
        RETURNING e.id
    ),
    fenced AS (
        UPDATE workflow_executions AS e
        SET status = 'pending',
            step_queue_key = CAST(:key AS text),
            -- The step has not started: the next claim adds the attempt taken back here.
            step_attempt = e.step_attempt - 1,
            lock_token = NULL,
            locked_by = NULL,
            heartbeat_at = NULL,
            updated_at = now()
        FROM target
        WHERE e.id = target.id AND NOT EXISTS (SELECT FROM slot)
        RETURNING e.id, e.concurrency_key
    ),
    """
    + HAND_OVER_SLOT
    + """
    SELECT (SELECT count(*) FROM target) AS fenced,
           EXISTS (SELECT FROM taken) AS taken,"""
    + NEXT_IN_KEY_COLUMNS
)
"""Before a step with a concurrency limit starts an attempt: take a slot of its key, or,
with none free, release the claim and queue the execution for the key, in one fenced
statement. The execution row is locked first (its lock token re-checked after any
wait), then the key's row, the same order as CLAIM_LIMITED and the triggers, so a claim
taken back by stale recovery cannot take a slot. The slot is taken by an upsert whose
`held < slot_limit` condition PostgreSQL evaluates on the row's latest committed
version after waiting for its lock (READ COMMITTED): two attempts racing for the last
slot serialise there, under any number of workers. Exactly one of `taken` and `fenced`
(the release) writes the execution row.

Released, the execution is pending with `step_queue_key` set: the poller does not
re-send its wake-up; the holder that gives a slot of the key back hands it over
(HAND_OVER_STEP_SLOT), or the poller's DISPATCH_STEP_QUEUED does when a slot is free
and nobody handed it over. Leaving `running` also gives back a workflow-level slot,
handed over here (HAND_OVER_SLOT)."""

DISPATCH_STEP_QUEUED = text(
    _dispatch_queued(
        "step_queue_key",
        "e.status = 'pending' AND e.step_queue_key IS NOT NULL",
        "step_queue_key = NULL",
    )
)
"""The poller's fallback for step slots nobody handed over (a holder cancelled or
recovered as stale, or one that gave its slot back between a queued attempt's check and
its release): per step key with free slots, as many queued executions as there are
free slots, in order (priority, run_at, FIFO), are unqueued and woken. SKIP LOCKED:
pollers at once never take a row twice; a woken attempt that loses the race queues
itself again."""
