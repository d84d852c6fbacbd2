"""Initial schema: executions, step attempts, pending inputs, schedules.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 16:52:35.955871
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_workflows",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("cron", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column(
            "input",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("queue", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_workflows")),
        sa.UniqueConstraint("name", name=op.f("uq_scheduled_workflows_name")),
    )
    op.create_index(
        "ix_scheduled_workflows_due",
        "scheduled_workflows",
        ["next_fire_at"],
        unique=False,
        postgresql_where=sa.text("enabled"),
    )
    op.create_table(
        "workflow_executions",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("input", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "context",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("current_step", sa.Text(), nullable=True),
        sa.Column("step_attempt", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("step_runs", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("step_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "run_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lock_token", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("locked_by", sa.Text(), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'waiting', 'completed', 'failed', 'cancelled', 'timed_out')",
            name=op.f("ck_workflow_executions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["workflow_executions.id"],
            name=op.f("fk_workflow_executions_parent_id_workflow_executions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_executions")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_index(
        "ix_workflow_executions_claimed",
        "workflow_executions",
        ["heartbeat_at"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ix_workflow_executions_deadline",
        "workflow_executions",
        ["deadline_at"],
        unique=False,
        postgresql_where=sa.text(
            "deadline_at IS NOT NULL AND status IN ('pending', 'running', 'waiting')"
        ),
    )
    op.create_index(
        "ix_workflow_executions_due",
        "workflow_executions",
        ["run_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'waiting')"),
    )
    op.create_index(
        "ix_workflow_executions_parent",
        "workflow_executions",
        ["parent_id"],
        unique=False,
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )
    op.create_index(
        "ix_workflow_executions_status_created",
        "workflow_executions",
        ["status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_workflow_executions_workflow_created",
        "workflow_executions",
        ["workflow", "created_at"],
        unique=False,
    )
    op.create_index(
        "uq_workflow_executions_idempotency",
        "workflow_executions",
        ["workflow", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_table(
        "pending_inputs",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("execution_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("step_name", sa.Text(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'answered', 'timed_out', 'cancelled')",
            name=op.f("ck_pending_inputs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["workflow_executions.id"],
            name=op.f("fk_pending_inputs_execution_id_workflow_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_inputs")),
    )
    op.create_index(
        "ix_pending_inputs_open",
        "pending_inputs",
        ["execution_id", "name"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "step_executions",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("execution_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("step_name", sa.Text(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("output", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("logs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'failed', 'abandoned', 'cancelled')",
            name=op.f("ck_step_executions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["workflow_executions.id"],
            name=op.f("fk_step_executions_execution_id_workflow_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_executions")),
    )
    op.create_index(
        "ix_step_executions_execution_id_sequence",
        "step_executions",
        ["execution_id", "sequence", "attempt"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints.
    op.drop_table("step_executions")
    op.drop_table("pending_inputs")
    op.drop_table("workflow_executions")
    op.drop_table("scheduled_workflows")
