"""The Alembic revisions produce exactly the schema of the models, in any schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from durable_celery.config import Settings
from durable_celery.store.migrate import downgrade, upgrade
from durable_celery.store.schema import metadata


def _diff(url: str, schema: str | None) -> list[object]:
    options = {"options": f"-csearch_path={schema}"} if schema else {}
    engine = create_engine(url, connect_args=options)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


@pytest.mark.parametrize("schema", [None, "durable_tenant"])
def test_migrations_produce_exactly_the_models(empty_database, schema):
    settings = Settings(database_url=empty_database, schema=schema)

    upgrade(settings)

    assert _diff(empty_database, schema) == []
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names(schema=schema or "public"))
    engine.dispose()
    assert {
        "workflow_executions",
        "step_executions",
        "pending_inputs",
        "scheduled_workflows",
        "alembic_version",
    } <= tables


def test_migrations_downgrade_to_nothing_and_upgrade_again(empty_database):
    settings = Settings(database_url=empty_database)
    upgrade(settings)
    downgrade(settings, "base")
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    engine.dispose()
    upgrade(settings)
    assert _diff(empty_database, None) == []


def test_hot_path_indexes_are_partial_on_live_rows(empty_database):
    upgrade(Settings(database_url=empty_database))
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'workflow_executions'"
            )
        ).all()
    engine.dispose()
    definitions = {row.indexname: row.indexdef for row in rows}
    assert "WHERE (status = ANY" in definitions["ix_workflow_executions_due"]
    assert "WHERE (status = 'running'" in definitions["ix_workflow_executions_claimed"]
    assert (
        "WHERE (idempotency_key IS NOT NULL)" in definitions["uq_workflow_executions_idempotency"]
    )


def test_executions_table_leaves_room_for_hot_checkpoints(empty_database):
    upgrade(Settings(database_url=empty_database))
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'workflow_executions'")
        ).scalar_one()
    engine.dispose()
    assert options == ["fillfactor=70"]


def test_the_built_wheel_ships_every_module_and_the_migrations(tmp_path):
    """`durable-celery migrate` must work from an installed package, not only a checkout,
    and every subpackage must be listed in pyproject.toml."""
    import shutil
    import subprocess
    import sys
    import zipfile

    from tests.integration.conftest import ROOT

    # A copy without build/ leftovers of earlier layouts, which setuptools would ship.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), source],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("durable_celery-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "durable_celery").rglob("*.py")
    }
    assert modules <= names
    assert {
        "durable_celery/migrations/env.py",
        "durable_celery/migrations/script.py.mako",
        "durable_celery/migrations/versions/0001_initial_schema.py",
        "durable_celery/py.typed",
        "durable_celery/store/sql/executions.py",
    } <= names
