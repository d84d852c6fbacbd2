"""Flow control: the executions' concurrency key, limit and queued flag, the slots per
key, the trigger that gives a slot back when a limited execution stops running, and the
rate limits' sliding windows.

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-26 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# A frozen copy of durable_celery.store.sql.concurrency at this revision.
_FUNCTION = """
CREATE OR REPLACE FUNCTION durable_release_concurrency_slot() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE concurrency_slots SET held = held - 1
    WHERE key = OLD.concurrency_key AND held > 0;
    RETURN NULL;
END
$$
"""

_TRIGGER = """
CREATE TRIGGER tr_workflow_executions_release_slot
AFTER UPDATE OF status ON workflow_executions
FOR EACH ROW
WHEN (OLD.status = 'running' AND NEW.status <> 'running' AND OLD.concurrency_key IS NOT NULL)
EXECUTE FUNCTION durable_release_concurrency_slot()
"""


def upgrade() -> None:
    op.add_column("workflow_executions", sa.Column("concurrency_key", sa.Text(), nullable=True))
    op.add_column(
        "workflow_executions", sa.Column("concurrency_limit", sa.Integer(), nullable=True)
    )
    op.add_column(
        "workflow_executions",
        sa.Column("slot_queued", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_index(
        "ix_workflow_executions_slot_queue",
        "workflow_executions",
        ["concurrency_key", sa.text("priority DESC"), "run_at", "created_at"],
        postgresql_where=sa.text("status = 'pending' AND slot_queued"),
    )
    op.create_table(
        "concurrency_slots",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("slot_limit", sa.Integer(), nullable=False),
        sa.CheckConstraint("held >= 0", name=op.f("ck_concurrency_slots_held")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_concurrency_slots")),
    )
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("starts", postgresql.ARRAY(sa.DateTime(timezone=True)), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_windows")),
    )
    op.execute(_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER tr_workflow_executions_release_slot ON workflow_executions")
    op.execute("DROP FUNCTION durable_release_concurrency_slot()")
    op.drop_table("rate_limit_windows")
    op.drop_table("concurrency_slots")
    op.drop_index("ix_workflow_executions_slot_queue", table_name="workflow_executions")
    op.drop_column("workflow_executions", "slot_queued")
    op.drop_column("workflow_executions", "concurrency_limit")
    op.drop_column("workflow_executions", "concurrency_key")
