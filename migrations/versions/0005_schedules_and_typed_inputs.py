"""Schedules that fire exactly once, executions that know their schedule, typed inputs.

The `scheduled_workflows` table of 0001 was never written by any release, so it is
replaced rather than altered.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 04:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LIVE = "status IN ('pending', 'running', 'waiting')"


def upgrade() -> None:
    op.drop_index("ix_scheduled_workflows_due", table_name="scheduled_workflows")
    op.drop_table("scheduled_workflows")
    op.create_table(
        "scheduled_workflows",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("trigger_kind", sa.Text(), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column(
            "input",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("queue", sa.Text(), nullable=True),
        sa.Column("overlap", sa.Text(), server_default=sa.text("'allow'"), nullable=False),
        sa.Column("misfire", sa.Text(), server_default=sa.text("'coalesce'"), nullable=False),
        sa.Column("misfire_grace", sa.Float(), server_default=sa.text("15"), nullable=False),
        sa.Column("catch_up_limit", sa.Integer(), server_default=sa.text("10"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'active'"), nullable=False),
        sa.Column("origin", sa.Text(), server_default=sa.text("'api'"), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_execution_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
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
        sa.CheckConstraint(
            "trigger_kind IN ('cron', 'every')", name=op.f("ck_scheduled_workflows_trigger_kind")
        ),
        sa.CheckConstraint(
            "overlap IN ('allow', 'skip', 'cancel_previous')",
            name=op.f("ck_scheduled_workflows_overlap"),
        ),
        sa.CheckConstraint(
            "misfire IN ('coalesce', 'skip', 'catch_up')",
            name=op.f("ck_scheduled_workflows_misfire"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'disabled')", name=op.f("ck_scheduled_workflows_status")
        ),
        sa.CheckConstraint("origin IN ('code', 'api')", name=op.f("ck_scheduled_workflows_origin")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_scheduled_workflows")),
    )
    op.create_index(
        "ix_scheduled_workflows_due",
        "scheduled_workflows",
        ["next_fire_at"],
        postgresql_where=sa.text("status = 'active'"),
    )

    op.add_column("workflow_executions", sa.Column("schedule_key", sa.Text(), nullable=True))
    op.add_column(
        "workflow_executions",
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_workflow_executions_schedule_live",
        "workflow_executions",
        ["schedule_key"],
        postgresql_where=sa.text(f"schedule_key IS NOT NULL AND {_LIVE}"),
    )
    op.create_index(
        "ix_workflow_executions_completed",
        "workflow_executions",
        ["completed_at"],
        postgresql_where=sa.text("completed_at IS NOT NULL"),
    )

    op.add_column(
        "pending_inputs",
        sa.Column("kind", sa.Text(), server_default=sa.text("'value'"), nullable=False),
    )
    op.add_column(
        "pending_inputs",
        sa.Column("choices", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.create_check_constraint(
        op.f("ck_pending_inputs_kind"),
        "pending_inputs",
        "kind IN ('value', 'approval', 'single_choice', 'multi_choice', 'free_text', 'form')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_pending_inputs_kind"), "pending_inputs", type_="check")
    op.drop_column("pending_inputs", "choices")
    op.drop_column("pending_inputs", "kind")
    op.drop_index("ix_workflow_executions_completed", table_name="workflow_executions")
    op.drop_index("ix_workflow_executions_schedule_live", table_name="workflow_executions")
    op.drop_column("workflow_executions", "scheduled_at")
    op.drop_column("workflow_executions", "schedule_key")

    op.drop_index("ix_scheduled_workflows_due", table_name="scheduled_workflows")
    op.drop_table("scheduled_workflows")
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
        postgresql_where=sa.text("enabled"),
    )
