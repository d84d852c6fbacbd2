"""The shop's orders.

Revision ID: a1b2c3
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a1b2c3"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shop_orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reference", sa.Text(), nullable=False, unique=True),
        sa.Column("amount", sa.Numeric(10, 2), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shop_orders")
