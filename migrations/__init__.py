"""durable-celery's Alembic revisions, and what an application's own Alembic needs:

    from durable_celery.migrations import include_object, upgrade

`include_object` keeps durable-celery's tables out of the application's autogenerate;
`upgrade(connection=...)` applies durable-celery's revisions from the application's
env.py, on its connection. `durable-celery migrate` does the same on its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from durable_celery.config import Settings
from durable_celery.store.migrate import VERSION_TABLE, include_object
from durable_celery.store.migrate import upgrade as _upgrade

__all__ = ["VERSION_TABLE", "include_object", "upgrade"]


def upgrade(connection: Connection | None = None, revision: str = "head", **settings: Any) -> None:
    """Apply durable-celery's revisions (settings as for `install()`: database_url,
    schema; read from the environment when not given)."""
    _upgrade(Settings.resolve(**settings), revision, connection=connection)
