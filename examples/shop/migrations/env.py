"""The shop's Alembic environment. durable-celery's tables have their own migrations and
version table; `include_object` keeps them out of the shop's autogenerate."""

import os

from alembic import context
from durable_celery.migrations import include_object
from sqlalchemy import create_engine

from examples.shop.models import metadata

url = os.environ.get("SHOP_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/shop")
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection, target_metadata=metadata, include_object=include_object
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
engine.dispose()
