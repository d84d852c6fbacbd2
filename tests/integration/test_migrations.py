"""The Alembic revisions produce exactly the schema of the models, in any schema, and live
beside an application's own Alembic history."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from durable_celery.migrations import include_object
from durable_celery.migrations import upgrade as upgrade_from_an_app
from sqlalchemy import MetaData, create_engine, inspect, text

from durable_celery.config import Settings
from durable_celery.store.migrate import VERSION_TABLE, downgrade, schema_status, upgrade
from durable_celery.store.tables import metadata


def _diff(url: str, schema: str | None) -> list[object]:
    options = {"options": f"-csearch_path={schema}"} if schema else {}
    engine = create_engine(url, connect_args=options)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
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
        "durable_alembic_version",
    } <= tables
    assert "alembic_version" not in tables


def test_migrations_downgrade_to_nothing_and_upgrade_again(empty_database):
    settings = Settings(database_url=empty_database)
    upgrade(settings)
    downgrade(settings, "base")
    assert _tables(empty_database) == {"durable_alembic_version"}
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


def _with_an_apps_alembic(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})
        conn.execute(text("CREATE TABLE shop_orders (id serial PRIMARY KEY)"))
    engine.dispose()


def test_migrations_live_beside_an_applications_own_alembic(empty_database):
    _with_an_apps_alembic(empty_database, "3f2a_shop_orders")
    settings = Settings(database_url=empty_database)
    upgrade(settings)
    assert schema_status(settings).ready
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        apps = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        # The application's autogenerate, with include_object, sees only its own tables.
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "target_metadata": None}
        )
        diff = compare_metadata(context, MetaData())
    engine.dispose()
    assert apps == ["3f2a_shop_orders"]
    assert [change[1].name for change in diff] == ["shop_orders"]  # only the app's own table


def test_a_database_migrated_by_an_earlier_version_is_adopted(empty_database):
    settings = Settings(database_url=empty_database)
    upgrade(settings, "0003")
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        # What earlier versions left: their revision in alembic_version.
        conn.execute(text(f"ALTER TABLE {VERSION_TABLE} RENAME TO alembic_version"))
    engine.dispose()
    upgrade(settings)
    assert schema_status(settings).ready
    assert "alembic_version" not in _tables(empty_database)
    assert _diff(empty_database, None) == []


def test_an_applications_env_py_can_run_the_revisions_on_its_own_connection(empty_database):
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE shop_orders (id serial PRIMARY KEY)"))
        upgrade_from_an_app(conn, database_url=empty_database)
    engine.dispose()
    assert schema_status(Settings(database_url=empty_database)).ready
    assert {"shop_orders", "workflow_executions", VERSION_TABLE} <= _tables(empty_database)
