"""Event correlation: keyed waits, published events kept for their retention.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 06:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("step_waits", sa.Column("event_key", sa.Text(), nullable=True))
    # Open wait_for_event waits of older releases have no key: publish_event without a
    # key reaches them like the waits recorded from now on.
    op.execute("UPDATE step_waits SET event_key = '' WHERE status = 'waiting' AND kind = 'event'")
    op.create_index(
        "ix_step_waits_topic",
        "step_waits",
        ["event_key", "names"],
        postgresql_where=sa.text("status = 'waiting' AND event_key IS NOT NULL"),
    )
    op.add_column("workflow_events", sa.Column("event_key", sa.Text(), nullable=True))
    op.add_column(
        "workflow_events", sa.Column("published_id", sa.UUID(as_uuid=False), nullable=True)
    )
    op.create_index(
        "uq_workflow_events_published",
        "workflow_events",
        ["execution_id", "published_id"],
        unique=True,
        postgresql_where=sa.text("published_id IS NOT NULL"),
    )
    op.create_table(
        "published_events",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("event_key", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_events")),
    )
    op.create_index("ix_published_events_topic", "published_events", ["name", "event_key", "seq"])
    op.create_index("ix_published_events_expires", "published_events", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_published_events_expires", table_name="published_events")
    op.drop_index("ix_published_events_topic", table_name="published_events")
    op.drop_table("published_events")
    op.drop_index("uq_workflow_events_published", table_name="workflow_events")
    op.drop_column("workflow_events", "published_id")
    op.drop_column("workflow_events", "event_key")
    op.drop_index("ix_step_waits_topic", table_name="step_waits")
    op.drop_column("step_waits", "event_key")
