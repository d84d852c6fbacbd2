"""The flow-control tables (concurrency slots, rate-limit windows) and the triggers that
give a concurrency slot back, on the metadata of store/schema.py."""

from __future__ import annotations

from sqlalchemy import DDL, Column, DateTime, Integer, Table, Text, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.schema import CheckConstraint

from durable_celery.store.schema import metadata, workflow_executions

# One row per concurrency key ever used: how many of its executions are running
# (`held`) and the limit the latest claim declared.
concurrency_slots = Table(
    "concurrency_slots",
    metadata,
    Column("key", Text, primary_key=True),
    Column("held", Integer, nullable=False),
    Column("slot_limit", Integer, nullable=False),
    CheckConstraint("held >= 0", name="held"),
)

# One row per rate-limit key: the start times within its period (a sliding window).
rate_limit_windows = Table(
    "rate_limit_windows",
    metadata,
    Column("key", Text, primary_key=True),
    Column("starts", ARRAY(DateTime(timezone=True)), nullable=False),
)

# The trigger that gives a concurrency slot back (DDL, so it lives with the tables; the
# migration creates the same function and trigger).
RELEASE_SLOT_FUNCTION = """
CREATE OR REPLACE FUNCTION durable_release_concurrency_slot() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE concurrency_slots SET held = held - 1
    WHERE key = OLD.concurrency_key AND held > 0;
    RETURN NULL;
END
$$
"""
"""Give back the slot of a limited execution that leaves `running`, in the statement
that moves it (an AFTER ROW trigger runs inside it): locks the key's row until commit,
after the execution row, the same order as CLAIM_LIMITED."""

RELEASE_SLOT_TRIGGER = """
CREATE TRIGGER tr_workflow_executions_release_slot
AFTER UPDATE OF status ON workflow_executions
FOR EACH ROW
WHEN (OLD.status = 'running' AND NEW.status <> 'running' AND OLD.concurrency_key IS NOT NULL)
EXECUTE FUNCTION durable_release_concurrency_slot()
"""
"""Fires only for limited executions leaving `running`; the checkpoint of a step
(ADVANCE) does not set `status`, so it never fires on the per-step hot path."""

RELEASE_STEP_SLOT_FUNCTION = """
CREATE OR REPLACE FUNCTION durable_release_step_slot() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE concurrency_slots SET held = held - 1
    WHERE key = OLD.step_slot_key AND held > 0;
    NEW.step_slot_key := NULL;
    RETURN NEW;
END
$$
"""
"""Give back the slot a step attempt holds when the attempt ends: the execution leaves
`running` (a finish, a retry timer, a wait inside the step, a cancel, stale recovery,
a release) or its checkpoint clears `step_slot_key` (ADVANCE_FROM_SLOT). A BEFORE ROW
trigger, so
that it also clears the key in the row it moves; same lock order as TAKE_STEP_SLOT."""

RELEASE_STEP_SLOT_TRIGGER = """
CREATE TRIGGER tr_workflow_executions_release_step_slot
BEFORE UPDATE OF status, step_slot_key ON workflow_executions
FOR EACH ROW
WHEN (OLD.step_slot_key IS NOT NULL
      AND (NEW.status <> 'running' OR NEW.step_slot_key IS NULL))
EXECUTE FUNCTION durable_release_step_slot()
"""
"""The checkpoint of a step without a limit (ADVANCE) sets neither column, so it never
fires on the per-step hot path."""

event.listen(
    workflow_executions,
    "after_create",
    DDL(  # type: ignore[no-untyped-call]
        ";\n".join(
            (
                RELEASE_SLOT_FUNCTION,
                RELEASE_SLOT_TRIGGER,
                RELEASE_STEP_SLOT_FUNCTION,
                RELEASE_STEP_SLOT_TRIGGER,
            )
        )
    ),
)
