"""Step-level concurrency limits: the step slot an execution's current attempt holds,
the step key a pending execution is queued for, and the trigger that gives a step slot
back when the attempt ends.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# A frozen copy of durable_celery.store.schema_limits' step-slot trigger at this revision.
_FUNCTION = """
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

_TRIGGER = """
CREATE TRIGGER tr_workflow_executions_release_step_slot
BEFORE UPDATE OF status, step_slot_key ON workflow_executions
FOR EACH ROW
WHEN (OLD.step_slot_key IS NOT NULL
      AND (NEW.status <> 'running' OR NEW.step_slot_key IS NULL))
EXECUTE FUNCTION durable_release_step_slot()
"""


def upgrade() -> None:
    op.add_column("workflow_executions", sa.Column("step_slot_key", sa.Text(), nullable=True))
    op.add_column("workflow_executions", sa.Column("step_queue_key", sa.Text(), nullable=True))
    op.create_index(
        "ix_workflow_executions_step_queue",
        "workflow_executions",
        ["step_queue_key", sa.text("priority DESC"), "run_at", "created_at"],
        postgresql_where=sa.text("status = 'pending' AND step_queue_key IS NOT NULL"),
    )
    op.execute(_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER tr_workflow_executions_release_step_slot ON workflow_executions")
    op.execute("DROP FUNCTION durable_release_step_slot()")
    op.drop_index("ix_workflow_executions_step_queue", table_name="workflow_executions")
    op.drop_column("workflow_executions", "step_queue_key")
    op.drop_column("workflow_executions", "step_slot_key")
