"""Test fixtures: real PostgreSQL, real Redis, real `celery -A durable_celery` workers.

The suite migrates one template database, then clones it (CREATE DATABASE ... TEMPLATE)
for the session and for tests that need an empty database of their own. The broker is a
Redis database of its own, flushed at start. Settings reach the bundled app and the
worker subprocesses through the environment, set here before durable_celery loads it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get(
    "DURABLE_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SERVER_URL = os.environ.get(
    "DURABLE_TEST_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"
)
BROKER_URL = os.environ.get("DURABLE_TEST_BROKER_URL", "redis://127.0.0.1:6379/13")
RUN = f"{os.getpid()}"
TEMPLATE_DB = f"durable_tpl_{RUN}"
SESSION_DB = f"durable_test_{RUN}"

os.environ.update(
    {
        "DURABLE_DATABASE_URL": f"{SERVER_URL}/{SESSION_DB}",
        "CELERY_BROKER_URL": BROKER_URL,
        "DURABLE_WORKFLOW_MODULES": (
            "tests.flows,tests.flows_control,tests.flows_waits,tests.flows_faults,"
            "workflows.examples"
        ),
        "DURABLE_POLL_INTERVAL": "0.5",
        # Live claims refresh often, so that the fault tests' quick stale recovery
        # (a beat of their own) never takes a claim that is still alive.
        "DURABLE_HEARTBEAT_INTERVAL": "0.5",
    }
)
os.environ.pop("DURABLE_SCHEMA", None)


def admin_execute(*statements: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def clone_database(name: str) -> str:
    admin_execute(
        f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"'
    )
    return f"{SERVER_URL}/{name}"


def drop_database(name: str) -> None:
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def session_database() -> Iterator[str]:
    from durable_celery.config import Settings
    from durable_celery.db import dispose_engines
    from durable_celery.migrate import upgrade

    admin_execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"', f'CREATE DATABASE "{TEMPLATE_DB}"')
    upgrade(Settings(database_url=f"{SERVER_URL}/{TEMPLATE_DB}"))
    dispose_engines()
    url = clone_database(SESSION_DB)
    redis.Redis.from_url(BROKER_URL).flushdb()
    yield url
    dispose_engines()
    if not os.environ.get("DURABLE_TEST_KEEP_DATABASE"):
        drop_database(SESSION_DB)
    drop_database(TEMPLATE_DB)


@pytest.fixture()
def empty_database() -> Iterator[str]:
    """A database with no tables at all, for migration tests."""
    name = f"durable_empty_{RUN}_{uuid.uuid4().hex[:8]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    yield f"{SERVER_URL}/{name}"
    from durable_celery.db import dispose_engines

    dispose_engines()
    drop_database(name)


@pytest.fixture(scope="session")
def runtime(session_database: str):  # type: ignore[no-untyped-def]
    from durable_celery.runtime import current_runtime

    rt = current_runtime()
    rt.import_workflows()
    assert rt.settings.database_url.endswith(SESSION_DB)
    return rt


@pytest.fixture(scope="session")
def worker(runtime) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """One bundled-app worker subprocess (2 processes, embedded beat) for the session."""
    from durable_celery.workers import WorkerProcess

    process = WorkerProcess(
        queues=["default", "other"],
        concurrency=2,
        beat=True,
        cwd=ROOT,
        name="session",
        loglevel=os.environ.get("DURABLE_TEST_WORKER_LOGLEVEL", "warning"),
    ).start()
    yield process
    process.stop()


@pytest.fixture()
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(BROKER_URL)


@pytest.fixture()
def db(runtime):  # type: ignore[no-untyped-def]
    """A SQLAlchemy connection to the session database, for assertions."""
    with runtime.engine.connect() as conn:
        yield conn
