"""Integration fixtures: real PostgreSQL, real Redis, real `celery -A durable_celery` workers.

The suite starts servers of its own for the session, a throwaway PostgreSQL cluster and
a throwaway redis-server on free ports (tests/servers.py), so the fault tests can
restart them and nothing here ever touches the machine's own servers. It migrates one
template database, then clones it (CREATE DATABASE ... TEMPLATE) for the session and for
tests that need a database of their own. Settings reach the runtime and the worker
subprocesses through the environment.

Every test in this folder is marked `services`: `pytest -m "not services"` runs only the
unit tier.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.servers import PrivatePostgres, PrivateRedis

ROOT = Path(__file__).resolve().parent.parent.parent
RUN = f"{os.getpid()}"
TEMPLATE_DB = f"durable_tpl_{RUN}"
SESSION_DB = f"durable_test_{RUN}"
BROKER_DB = 13

os.environ.update(
    {
        "DURABLE_WORKFLOW_MODULES": ",".join(
            f"tests.integration.{module}"
            for module in (
                "flows",
                "flows_control",
                "flows_waits",
                "flows_faults",
                "flows_failures",
                "flows_dsl",
                "flows_inputs",
                "flows_queries",
                "flows_schedules",
                "flows_debounce",
                "flows_limits",
                "flows_versions_v1",
                "flows_versions_v2",
                "flows_async",
                "flows_toolkit",
                "flows_toolkit_parts",
                "flows_observe",
                "flows_dashboard",
                "flows_rabbitmq",
            )
        )
        + ",workflows.examples",
        "DURABLE_POLL_INTERVAL": "0.5",
        # Live claims refresh often, so that the fault tests' quick stale recovery
        # (a beat of their own) never takes a claim that is still alive.
        "DURABLE_HEARTBEAT_INTERVAL": "0.5",
    }
)
os.environ.pop("DURABLE_SCHEMA", None)


@dataclass
class Servers:
    postgres: PrivatePostgres
    redis: PrivateRedis

    @property
    def server_url(self) -> str:
        return self.postgres.server_url

    @property
    def broker_url(self) -> str:
        return self.redis.url(BROKER_DB)


_servers: Servers | None = None


def servers() -> Servers:
    assert _servers is not None, "the session's servers are not started"
    return _servers


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(item.path).parents]
    # `./dev test` runs the suite in two pytest processes (xdist, --dist loadgroup), each
    # with servers of its own. A file stays in one process, so its module fixtures (a
    # worker of its own, a browser) start once; the files over the million-row history
    # share one process, so the history is built once.
    history = {Path(item.path) for item in ours if "finished_history" in item.fixturenames}
    for item in ours:
        item.add_marker(pytest.mark.services)
        path = Path(item.path)
        item.add_marker(pytest.mark.xdist_group("history" if path in history else path.stem))


def admin_execute(*statements: str) -> None:
    with psycopg.connect(servers().postgres.admin_dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def clone_database(name: str) -> str:
    admin_execute(
        f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"'
    )
    return f"{servers().server_url}/{name}"


def create_database(name: str) -> str:
    admin_execute(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    return f"{servers().server_url}/{name}"


def drop_database(name: str) -> None:
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def session_database() -> Iterator[str]:
    from durable_celery.config import Settings
    from durable_celery.store.connections import dispose_engines
    from durable_celery.store.migrate import upgrade

    global _servers
    with PrivatePostgres() as postgres, PrivateRedis() as broker:
        _servers = Servers(postgres, broker)
        url = f"{postgres.server_url}/{SESSION_DB}"
        os.environ["DURABLE_DATABASE_URL"] = url
        os.environ["CELERY_BROKER_URL"] = _servers.broker_url
        # durable_celery.testing's fixtures make their databases on the private server.
        os.environ["DURABLE_TEST_DATABASE_URL"] = f"{postgres.server_url}/durable_toolkit"
        upgrade(Settings(database_url=create_database(TEMPLATE_DB)))
        dispose_engines()
        clone_database(SESSION_DB)
        try:
            yield url
        finally:
            dispose_engines()
            _servers = None


@pytest.fixture()
def empty_database() -> Iterator[str]:
    """A database with no tables at all, for migration tests."""
    from durable_celery.store.connections import dispose_engines

    name = f"durable_empty_{RUN}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    yield url
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
    from durable_celery.testing import WorkerProcess

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
    return redis.Redis.from_url(servers().broker_url)


@pytest.fixture()
def db(runtime):  # type: ignore[no-untyped-def]
    """A SQLAlchemy connection to the session database, for assertions."""
    with runtime.database.connect() as conn:
        yield conn


# The plan tests' finished history: the size the issue's query-plan bar names.
FINISHED_HISTORY = 1_000_000


@pytest.fixture(scope="session")
def finished_history() -> Iterator[Any]:
    """An engine over a database of FINISHED_HISTORY finished executions and 200 live
    ones, ANALYZEd, shared by the query-plan tests (read-only: EXPLAIN without ANALYZE)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from benchmarks.explain_poller import fill
    from durable_celery.config import Settings
    from durable_celery.store.migrate import upgrade

    name = f"durable_history_{RUN}"
    url = create_database(name)
    upgrade(Settings(database_url=url))
    # No pool: the fault tests restart the server mid-session, which would leave pooled
    # connections dead for the plan tests that run after them.
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        fill(conn, finished=FINISHED_HISTORY, live=200)
    # Analysed by fill(), and never again by autovacuum: its work landing in the middle
    # of the session would change the statistics under the later plan tests.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars():
            conn.execute(text(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)'))
    yield engine
    engine.dispose()
    drop_database(name)
