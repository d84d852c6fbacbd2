"""Apply the Alembic revisions shipped with the package (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from durable_celery.config import Settings


def alembic_config(settings: Settings) -> Config:
    import durable_celery.migrations as migrations_package  # type: ignore[import-not-found]

    config = Config()
    config.set_main_option("script_location", str(Path(migrations_package.__file__).parent))
    config.attributes["database_url"] = settings.database_url
    config.attributes["schema"] = settings.schema
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)
