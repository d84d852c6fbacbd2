"""Control flow: fan-out items (each, parallel), suspension, saga, cancel and wake flags.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:11:30.146854
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_items",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("execution_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("step_name", sa.Text(), nullable=False),
        sa.Column("fanout_seq", sa.Integer(), nullable=False),
        sa.Column("item_index", sa.Integer(), nullable=False),
        sa.Column("item", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column(
            "run_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lock_token", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("locked_by", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("output", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_step_items_status"),
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["workflow_executions.id"],
            name=op.f("fk_step_items_execution_id_workflow_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_items")),
    )
    op.create_index(
        "ix_step_items_claimed",
        "step_items",
        ["heartbeat_at"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ix_step_items_due",
        "step_items",
        ["run_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_step_items_queued",
        "step_items",
        ["execution_id", "fanout_seq", "item_index"],
        unique=False,
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "uq_step_items_position",
        "step_items",
        ["execution_id", "fanout_seq", "item_index"],
        unique=True,
    )
    op.add_column("workflow_executions", sa.Column("suspended_on", sa.Text(), nullable=True))
    op.add_column("workflow_executions", sa.Column("fanout_seq", sa.Integer(), nullable=True))
    op.add_column("workflow_executions", sa.Column("fanout_remaining", sa.Integer(), nullable=True))
    op.add_column(
        "workflow_executions",
        sa.Column("fanout_failed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "workflow_executions",
        sa.Column("compensations", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "workflow_executions",
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "workflow_executions",
        sa.Column("wake_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "workflow_executions",
        sa.Column("wake_parent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.drop_constraint(op.f("ck_workflow_executions_status"), "workflow_executions", type_="check")
    op.create_check_constraint(
        op.f("ck_workflow_executions_status"),
        "workflow_executions",
        "status IN ('pending', 'running', 'waiting', 'completed', 'failed', 'cancelled', 'timed_out', 'compensated', 'compensation_failed')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_workflow_executions_status"), "workflow_executions", type_="check")
    op.create_check_constraint(
        op.f("ck_workflow_executions_status"),
        "workflow_executions",
        "status IN ('pending', 'running', 'waiting', 'completed', 'failed', 'cancelled', 'timed_out')",
    )
    op.drop_column("workflow_executions", "wake_parent")
    op.drop_column("workflow_executions", "wake_requested")
    op.drop_column("workflow_executions", "cancel_requested_at")
    op.drop_column("workflow_executions", "compensations")
    op.drop_column("workflow_executions", "fanout_failed")
    op.drop_column("workflow_executions", "fanout_remaining")
    op.drop_column("workflow_executions", "fanout_seq")
    op.drop_column("workflow_executions", "suspended_on")
    op.drop_index("uq_step_items_position", table_name="step_items")
    op.drop_index(
        "ix_step_items_queued",
        table_name="step_items",
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.drop_index(
        "ix_step_items_due", table_name="step_items", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_index(
        "ix_step_items_claimed",
        table_name="step_items",
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_table("step_items")
