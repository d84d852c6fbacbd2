"""Alembic environment of durable-celery.

The database URL and schema come from, in order: the `database_url` / `schema`
attributes set by `durable-celery migrate`, `sqlalchemy.url` in alembic.ini, and the
DURABLE_DATABASE_URL / DURABLE_SCHEMA environment variables. An application's own env.py
can hand over its connection instead (`durable_celery.migrations.upgrade(connection=...)`).

durable-celery keeps its own version table, `durable_alembic_version`, so it never meets
an application's `alembic_version`. Databases migrated by earlier versions, which kept
their revision in `alembic_version`, are adopted: the revision moves to the new table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, inspect, text

from durable_celery.config import Settings
from durable_celery.store.migrate import VERSION_TABLE
from durable_celery.store.tables import metadata

config = context.config
OWN_REVISIONS = ("0001", "0002", "0003")  # those written to alembic_version before 0004


def _settings() -> Settings:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return Settings.resolve(database_url=url or None, schema=config.attributes.get("schema"))


def _adopt_old_version_table(connection: Connection, schema: str | None) -> None:
    tables = set(inspect(connection).get_table_names(schema=schema))
    if VERSION_TABLE in tables or not {"alembic_version", "workflow_executions"} <= tables:
        return
    revisions = [
        row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))
    ]
    ours = [revision for revision in revisions if revision in OWN_REVISIONS]
    if not ours:
        return
    connection.execute(
        text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    )
    connection.execute(text(f"INSERT INTO {VERSION_TABLE} VALUES (:v)"), {"v": ours[0]})
    connection.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": ours[0]})
    if len(revisions) == 1:  # the table was only ever ours
        connection.execute(text("DROP TABLE alembic_version"))


def run_migrations_offline() -> None:
    settings = _settings()
    context.configure(
        url=settings.database_url,
        target_metadata=metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
        version_table_schema=settings.schema,
    )
    with context.begin_transaction():
        if settings.schema:
            context.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')
            context.execute(f'SET search_path TO "{settings.schema}"')
        context.run_migrations()


def _run(connection: Connection, schema: str | None) -> None:
    _adopt_old_version_table(connection, schema)
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    settings = _settings()
    shared: Connection | None = config.attributes.get("connection")
    if shared is not None:
        # The application's env.py runs us inside its own transaction.
        if settings.schema:
            shared.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"'))
            shared.execute(text(f'SET LOCAL search_path TO "{settings.schema}"'))
        _run(shared, settings.schema)
        return
    connect_args = {}
    if settings.schema:
        connect_args["options"] = f"-csearch_path={settings.schema}"
    engine = create_engine(settings.database_url, connect_args=connect_args)
    with engine.connect() as connection:
        if settings.schema:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"'))
            connection.commit()
        _run(connection, settings.schema)
        connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
