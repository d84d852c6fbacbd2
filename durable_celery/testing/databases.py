"""Which PostgreSQL server holds the test databases, and a fresh migrated database per
test on it: a copy of the template migrated once (store.databases does the SQL).

Copying the template takes a few hundred milliseconds, more than a short test's time, so
`DatabasePool` makes two copies when the session starts and, while the next test runs on
the other, empties the one a test is done with (TRUNCATE of every durable table: as fresh
as a new copy, in tens of milliseconds). A test waits only for the session's first copy.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from celery import Celery

from durable_celery.config import DEFAULT_DATABASE_URL, Settings, normalise_database_url
from durable_celery.errors import ConfigurationError
from durable_celery.runtime import Runtime, activated
from durable_celery.store import databases
from durable_celery.store.connections import dispose_engine

logger = logging.getLogger("durable_celery.testing")

TEST_URL_VARIABLE = "DURABLE_TEST_DATABASE_URL"


def database_server_url(app: Celery | None = None, ini_url: str | None = None) -> str:
    """The URL whose server (and user) the test databases are made on: the environment's
    DURABLE_TEST_DATABASE_URL, else DURABLE_DATABASE_URL, else the `durable_database_url`
    pytest ini option, else the app's durable_database_url unless it is the default.
    Only its server and database name (the prefix of the databases made) are used."""
    app_url = None
    if app is not None:
        app_url = app.conf.get("durable_database_url") or None
        if app_url == DEFAULT_DATABASE_URL:
            app_url = None
    for url in (
        os.environ.get(TEST_URL_VARIABLE),
        os.environ.get("DURABLE_DATABASE_URL"),
        ini_url,
        app_url,
    ):
        if url:
            return normalise_database_url(url)
    raise ConfigurationError(
        f"no PostgreSQL configured for durable-celery's test databases: set {TEST_URL_VARIABLE} "
        f"(e.g. postgresql://postgres@localhost:5432/myapp_test; each test gets a database "
        f"of its own on that server, named after it), or DURABLE_DATABASE_URL, or "
        f"`durable_database_url` in your pytest ini options"
    )


@dataclass(frozen=True)
class DurableDatabase:
    """A migrated database of a test's own, and the runtime made current on it."""

    url: str
    runtime: Runtime


class DatabasePool:
    """Copies of the migrated template on `server_url`'s server, `ahead` of them made at
    the start; a copy a test is done with is emptied (TRUNCATE, tens of milliseconds
    against half a second for a copy) and handed to a later test, on a background
    thread. A copy that cannot be emptied is dropped and replaced by a new one."""

    def __init__(self, server_url: str, schema: str | None = None, ahead: int = 2) -> None:
        self.server_url = server_url
        self.schema = schema
        self.template = databases.ensure_template(server_url, schema)
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        # Two lines of work, so that recycling a used copy never delays a new one.
        self._making: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._dropping: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
            for work, name in (
                (self._making, "durable-test-db-copies"),
                (self._dropping, "durable-test-db-recycling"),
            )
        ]
        for thread in self._threads:
            thread.start()
        for _ in range(ahead):
            self._making.put(self._make)

    @staticmethod
    def _run(work: queue.Queue[Callable[[], None] | None]) -> None:
        while (job := work.get()) is not None:
            job()

    def _make(self) -> None:
        try:
            self._ready.put(databases.clone(self.server_url, self.template))
        except BaseException as error:  # handed to the test that takes it
            self._ready.put(error)

    def _drop(self, url: str) -> None:
        try:
            databases.drop(url)
        except Exception:
            logger.warning("could not drop the test database %s", url, exc_info=True)

    def take(self) -> str:
        """The URL of a fresh copy (new, or emptied since its last test)."""
        made = self._ready.get(timeout=300)
        if isinstance(made, BaseException):
            raise made
        return made

    def give_back(self, url: str) -> None:
        """Empty a copy a test is done with for a later test (in the background)."""
        dispose_engine(Settings(database_url=url))
        self._dropping.put(lambda: self._recycle(url))

    def _recycle(self, url: str) -> None:
        try:
            databases.empty(url, self.schema)
        except Exception:
            logger.warning("could not empty the test database %s; dropping it", url, exc_info=True)
            self._drop(url)
            self._make()
            return
        self._ready.put(url)

    def close(self) -> None:
        """Drop what is left, once the background work is done."""
        for work, thread in zip((self._making, self._dropping), self._threads, strict=True):
            work.put(None)
            thread.join(300)
        while not self._ready.empty():
            made = self._ready.get_nowait()
            if isinstance(made, str):
                self._drop(made)

    @contextmanager
    def database(self, app: Celery) -> Iterator[DurableDatabase]:
        """A fresh copy with a runtime of `app` on it made current, for the block."""
        url = self.take()
        try:
            settings = Settings.resolve(app.conf, database_url=url, schema=self.schema)
            with activated(Runtime(app, settings)) as runtime:
                yield DurableDatabase(url, runtime)
        finally:
            self.give_back(url)


@contextmanager
def fresh_database(app: Celery, server_url: str | None = None) -> Iterator[DurableDatabase]:
    """Outside pytest: one fresh migrated database on `server_url`'s server (default: see
    database_server_url), with a runtime of `app` on it made current, for the block."""
    url = server_url or database_server_url(app)
    pool = DatabasePool(url, Settings.resolve(app.conf, database_url=url).schema)
    try:
        with pool.database(app) as database:
            yield database
    finally:
        pool.close()
