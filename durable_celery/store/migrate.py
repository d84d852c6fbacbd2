"""The schema: apply the Alembic revisions shipped with the package, and say where a
database stands.

durable-celery keeps its own version table, `durable_alembic_version`, so its revisions
live beside an application's own Alembic history in one database. An application's
autogenerate ignores durable-celery's tables with `include_object`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from durable_celery.config import Settings
from durable_celery.store.connections import engine_for, reading
from durable_celery.store.sql import migrations as sql
from durable_celery.store.tables import metadata

VERSION_TABLE = "durable_alembic_version"
DURABLE_TABLES = frozenset(metadata.tables) | {VERSION_TABLE}


def alembic_config(settings: Settings, connection: Connection | None = None) -> Config:
    # The revisions ship inside the package as durable_celery.migrations (see pyproject).
    spec = importlib.util.find_spec("durable_celery.migrations")
    assert spec is not None and spec.submodule_search_locations
    config = Config()
    config.set_main_option("script_location", spec.submodule_search_locations[0])
    config.attributes["database_url"] = settings.database_url
    config.attributes["schema"] = settings.schema
    config.attributes["connection"] = connection
    return config


def upgrade(
    settings: Settings, revision: str = "head", *, connection: Connection | None = None
) -> None:
    """Apply the revisions up to `revision`. With `connection` (an application's own
    Alembic env.py passes its own), they run on it, in its transaction."""
    command.upgrade(alembic_config(settings, connection), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)


def include_object(
    object: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """For an application's Alembic `context.configure(include_object=...)`: leave
    durable-celery's tables (and their indexes and constraints) out of autogenerate."""
    table = name if type_ == "table" else getattr(getattr(object, "table", None), "name", None)
    return table not in DURABLE_TABLES


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None  # the revision the database is at (None: not migrated)
    head: str  # the revision this version of durable-celery needs

    @property
    def ready(self) -> bool:
        return self.current == self.head


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config(Settings())).get_current_head()
    assert head is not None
    return head


def schema_status(settings: Settings) -> SchemaStatus:
    """Where the database stands; DatabaseUnavailable when it cannot be reached."""
    with reading(engine_for(settings)) as conn:
        known = conn.execute(sql.VERSION_TABLE_EXISTS, {"table": VERSION_TABLE}).scalar_one()
        current = conn.execute(sql.CURRENT_REVISION).scalar_one_or_none() if known else None
    return SchemaStatus(current, head_revision())
