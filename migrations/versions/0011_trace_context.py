"""Trace context: the W3C trace context of the caller that started an execution, so that
every later run of it (after a wait of days, on another worker) joins the caller's trace.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: PostgreSQL adds the column without rewriting the table.
    op.add_column("workflow_executions", sa.Column("trace_context", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("workflow_executions", "trace_context")
