"""Apply the Alembic revisions shipped with the package (no alembic.ini needed)."""

from __future__ import annotations

import importlib.util

from alembic import command
from alembic.config import Config

from durable_celery.config import Settings


def alembic_config(settings: Settings) -> Config:
    # The revisions ship inside the package as durable_celery.migrations (see pyproject).
    spec = importlib.util.find_spec("durable_celery.migrations")
    assert spec is not None and spec.submodule_search_locations
    config = Config()
    config.set_main_option("script_location", spec.submodule_search_locations[0])
    config.attributes["database_url"] = settings.database_url
    config.attributes["schema"] = settings.schema
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)
