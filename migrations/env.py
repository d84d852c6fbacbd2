"""Alembic environment of durable-celery.

The database URL and schema come from, in order: the `database_url` / `schema`
attributes set by `durable-celery migrate`, `sqlalchemy.url` in alembic.ini, and the
DURABLE_DATABASE_URL / DURABLE_SCHEMA environment variables.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from durable_celery.config import Settings
from durable_celery.store.schema import metadata

config = context.config


def _settings() -> Settings:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return Settings.resolve(database_url=url or None, schema=config.attributes.get("schema"))


def run_migrations_offline() -> None:
    settings = _settings()
    context.configure(
        url=settings.database_url,
        target_metadata=metadata,
        literal_binds=True,
        version_table_schema=settings.schema,
    )
    with context.begin_transaction():
        if settings.schema:
            context.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')
            context.execute(f'SET search_path TO "{settings.schema}"')
        context.run_migrations()


def run_migrations_online() -> None:
    settings = _settings()
    connect_args = {}
    if settings.schema:
        connect_args["options"] = f"-csearch_path={settings.schema}"
    engine = create_engine(settings.database_url, connect_args=connect_args)
    with engine.connect() as connection:
        if settings.schema:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"'))
            connection.commit()
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
