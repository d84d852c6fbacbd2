"""The pytest plugin: fixtures that do nothing until a test asks for them.

Enabled by `-p durable_celery.testing` (on the command line or in addopts), by
`pytest_plugins = ["durable_celery.testing"]` in a root conftest.py, or, once the
package is installed, by its `pytest11` entry point of the same name; disabled by
`-p no:durable_celery.testing`.

- `durable_app` (session): the Celery app, on which install() ran. Override it, or name
  it with the ini option `durable_app = "myproject.celery:app"`; default: the bundled
  `durable_celery.celery:app`.
- `durable_db`: a migrated database of the test's own (a copy of a template migrated
  once), with a runtime of `durable_app` on it made current; dropped after the test.
- `durable_clock`: a VirtualClock on that database.
- `durable_worker`: a real worker of `durable_app` in this process (threads pool) with
  the poller beside it; options from the `durable_worker_options` fixture.
- `durable_worker_process`: a factory of `celery worker` subprocesses (WorkerProcess) on
  that database, for tests that kill workers; stopped after the test.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery

from durable_celery.config import Settings
from durable_celery.testing.clock import VirtualClock
from durable_celery.testing.databases import DatabasePool, DurableDatabase, database_server_url
from durable_celery.testing.processes import WorkerProcess
from durable_celery.testing.worker import in_process_worker

DEFAULT_APP = "durable_celery.celery:app"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "durable_app",
        f"module:attribute of the Celery app the durable fixtures use (default {DEFAULT_APP})",
    )
    parser.addini(
        "durable_database_url",
        "PostgreSQL URL on whose server durable_db makes each test's database "
        "(DURABLE_TEST_DATABASE_URL and DURABLE_DATABASE_URL take precedence)",
    )


def _app_name(config: pytest.Config) -> str:
    return str(config.getini("durable_app") or DEFAULT_APP)


def load_app(name: str) -> Celery:
    module, _, attribute = name.partition(":")
    app = getattr(importlib.import_module(module), attribute or "app")
    if not isinstance(app, Celery):
        raise TypeError(f"durable_app {name!r} is not a Celery app: {app!r}")
    return app


@pytest.fixture(scope="session")
def durable_app(pytestconfig: pytest.Config) -> Celery:
    """The Celery app of the durable fixtures (install() must have run on it)."""
    return load_app(_app_name(pytestconfig))


@pytest.fixture(scope="session")
def durable_databases(pytestconfig: pytest.Config, durable_app: Celery) -> Iterator[DatabasePool]:
    """The session's copies of the migrated template (migrated once, kept on the server)."""
    url = database_server_url(durable_app, str(pytestconfig.getini("durable_database_url") or ""))
    pool = DatabasePool(url, Settings.resolve(durable_app.conf, database_url=url).schema)
    yield pool
    pool.close()


@pytest.fixture()
def durable_db(durable_app: Celery, durable_databases: DatabasePool) -> Iterator[DurableDatabase]:
    """A migrated database of this test's own, current for the test; dropped after."""
    with durable_databases.database(durable_app) as database:
        yield database


@pytest.fixture()
def durable_clock(durable_db: DurableDatabase) -> VirtualClock:
    """A virtual clock on the test's database (run_inline binds it to its runtime)."""
    return VirtualClock()


@pytest.fixture()
def durable_worker_options() -> dict[str, Any]:
    """Options of `durable_worker` (in_process_worker): pool, concurrency, queues..."""
    return {}


@pytest.fixture()
def durable_worker(
    durable_db: DurableDatabase, durable_app: Celery, durable_worker_options: dict[str, Any]
) -> Iterator[Any]:
    """A worker of durable_app running in this process for the test, with its poller."""
    with in_process_worker(durable_app, **durable_worker_options) as worker:
        yield worker


@pytest.fixture()
def durable_worker_process(
    durable_db: DurableDatabase, pytestconfig: pytest.Config
) -> Iterator[Callable[..., WorkerProcess]]:
    """`start(**WorkerProcess options)`: a started `celery worker` subprocess of the
    durable_app (its module must be importable from the working directory) on the test's
    database (DURABLE_DATABASE_URL in its environment). Stopped after the test."""
    started: list[WorkerProcess] = []
    settings = durable_db.runtime.settings

    def start(**options: Any) -> WorkerProcess:
        env = {**os.environ, **options.pop("env", {})}
        env["DURABLE_DATABASE_URL"] = durable_db.url
        if settings.schema:
            env["DURABLE_SCHEMA"] = settings.schema
        options.setdefault("app", _app_name(pytestconfig))
        process = WorkerProcess(env=env, **options)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
