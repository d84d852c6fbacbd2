"""The shop's own tables, migrated by its own Alembic (examples/shop/migrations)."""

from sqlalchemy import Column, Integer, MetaData, Numeric, Table, Text

metadata = MetaData()

orders = Table(
    "shop_orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reference", Text, nullable=False, unique=True),
    Column("amount", Numeric(10, 2), nullable=False),
)
