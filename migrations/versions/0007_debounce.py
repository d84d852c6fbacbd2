"""Debounced starts: the key that collapses them, and the index of the open windows.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-26 06:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: no table rewrite.
    op.add_column("workflow_executions", sa.Column("debounce_key", sa.Text(), nullable=True))
    op.create_index(
        "uq_workflow_executions_debounce",
        "workflow_executions",
        ["workflow", "debounce_key"],
        unique=True,
        postgresql_where=sa.text(
            "debounce_key IS NOT NULL AND status = 'pending' AND started_at IS NULL"
        ),
    )


def downgrade() -> None:
    op.drop_index("uq_workflow_executions_debounce", table_name="workflow_executions")
    op.drop_column("workflow_executions", "debounce_key")
