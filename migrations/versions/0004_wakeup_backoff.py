"""Wake-up backoff: count the poller's re-sends of a wake-up nobody claimed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 03:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("workflow_executions", "step_items"):
        op.add_column(
            table,
            sa.Column("resends", sa.Integer(), server_default=sa.text("0"), nullable=False),
        )


def downgrade() -> None:
    for table in ("step_items", "workflow_executions"):
        op.drop_column(table, "resends")
