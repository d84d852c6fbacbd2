"""Waits and events: recorded waits by position, buffered events, inputs linked to waits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 17:29:40.112535
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_waits",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("execution_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("step_name", sa.Text(), nullable=False),
        sa.Column("visit", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("names", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'waiting'"), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('sleep', 'event', 'any', 'all', 'input')", name=op.f("ck_step_waits_kind")
        ),
        sa.CheckConstraint(
            "status IN ('waiting', 'resolved', 'timed_out')", name=op.f("ck_step_waits_status")
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["workflow_executions.id"],
            name=op.f("fk_step_waits_execution_id_workflow_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_waits")),
    )
    op.create_index(
        "ix_step_waits_open",
        "step_waits",
        ["execution_id"],
        unique=False,
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.create_index(
        "uq_step_waits_position",
        "step_waits",
        ["execution_id", "step_name", "visit", "position"],
        unique=True,
    )
    op.create_table(
        "workflow_events",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("execution_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("consumed_by", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["workflow_executions.id"],
            name=op.f("fk_workflow_events_execution_id_workflow_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_events")),
    )
    op.create_index(
        "ix_workflow_events_buffered",
        "workflow_events",
        ["execution_id", "name", "seq"],
        unique=False,
        postgresql_where=sa.text("consumed_by IS NULL"),
    )
    op.add_column("pending_inputs", sa.Column("wait_id", sa.UUID(as_uuid=False), nullable=True))
    op.create_index("uq_pending_inputs_wait_id", "pending_inputs", ["wait_id"], unique=True)
    op.create_foreign_key(
        op.f("fk_pending_inputs_wait_id_step_waits"),
        "pending_inputs",
        "step_waits",
        ["wait_id"],
        ["id"],
        ondelete="CASCADE",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_pending_inputs_wait_id_step_waits"), "pending_inputs", type_="foreignkey"
    )
    op.drop_index("uq_pending_inputs_wait_id", table_name="pending_inputs")
    op.drop_column("pending_inputs", "wait_id")
    op.drop_index(
        "ix_workflow_events_buffered",
        table_name="workflow_events",
        postgresql_where=sa.text("consumed_by IS NULL"),
    )
    op.drop_table("workflow_events")
    op.drop_index("uq_step_waits_position", table_name="step_waits")
    op.drop_index(
        "ix_step_waits_open",
        table_name="step_waits",
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.drop_table("step_waits")
