"""Connections: one SQLAlchemy engine per database URL and schema, per process.

Its pool is sized for the process when the engine is made (`config.database_pool`): a
worker's concurrency plus a margin, or durable_db_pool_size. A forked child (a prefork
pool process) makes engines of its own, sized for one task at a time.

The hot path runs in autocommit: each of its statements is a single fenced statement,
atomic on its own, so it costs one round trip and one commit with no BEGIN/COMMIT.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, TextClause, create_engine
from sqlalchemy.exc import DBAPIError

from durable_celery.config import Settings, database_pool
from durable_celery.errors import DatabaseUnavailable, SchemaNotReady

T = TypeVar("T")

_engines: dict[tuple[str, str | None], Engine] = {}
_engines_lock = threading.Lock()


def engine_for(settings: Settings) -> Engine:
    key = (settings.database_url, settings.schema)
    engine = _engines.get(key)
    if engine is None:
        with _engines_lock:
            engine = _engines.get(key)
            if engine is None:
                engine = _engines[key] = _create_engine(settings)
    return engine


def _create_engine(settings: Settings) -> Engine:
    connect_args: dict[str, Any] = {"application_name": "durable-celery"}
    if settings.schema:
        # The schema is applied by search_path so the named SQL stays schema-agnostic.
        connect_args["options"] = f"-csearch_path={settings.schema}"
    # No pre-ping: a dead connection fails its statement, the pool is invalidated, and the
    # caller's retry takes a fresh one. Pre-ping would cost a round trip on every checkout.
    pool_size, max_overflow = database_pool(settings)
    return create_engine(
        settings.database_url,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
    )


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def dispose_engine(settings: Settings) -> None:
    """Close and forget the engines of one database (all schemas): before it is dropped."""
    with _engines_lock:
        for key in [key for key in _engines if key[0] == settings.database_url]:
            _engines.pop(key).dispose()


def _forget_engines_after_fork() -> None:
    # A forked child (Celery prefork) must never share its parent's sockets.
    for engine in list(_engines.values()):
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_engines_after_fork)


@contextmanager
def autocommit(database: Engine) -> Iterator[Connection]:
    """A connection whose every statement commits on its own (the hot path's)."""
    with (
        _connect(database).execution_options(isolation_level="AUTOCOMMIT") as conn,
        _told(database),
    ):
        yield conn


@contextmanager
def transaction(database: Engine) -> Iterator[Connection]:
    """A connection in one transaction, committed when the block ends without error."""
    with _connect(database) as conn, _told(database), conn.begin():
        yield conn


@contextmanager
def reading(database: Engine) -> Iterator[Connection]:
    """A connection for reads (its implicit transaction is rolled back at the end)."""
    with _connect(database) as conn, _told(database):
        yield conn


def _connect(database: Engine) -> Connection:
    try:
        return database.connect()
    except DBAPIError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to the durable-celery database "
            f"{database.url.render_as_string(hide_password=True)}: {exc.orig}"
        ) from exc


@contextmanager
def _told(database: Engine) -> Iterator[None]:
    """A database without durable-celery's tables is a SchemaNotReady that says what to
    run, not a raw UndefinedTable."""
    try:
        yield
    except (DBAPIError, psycopg.errors.UndefinedTable) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        if not isinstance(cause, psycopg.errors.UndefinedTable):
            raise
        raise schema_not_ready(database.url.render_as_string(hide_password=True)) from exc


def schema_not_ready(where: str) -> SchemaNotReady:
    return SchemaNotReady(
        f"the durable-celery tables are missing from {where}: run `durable-celery -A APP "
        f"migrate` (or durable_celery.migrations.upgrade() from your own Alembic env.py)"
    )


def retry_on_disconnect(work: Callable[[], T]) -> T:
    """Run `work`; if the database connection died under it (a restart), run it once more
    on a fresh connection. Only for work that is one transaction, so a retry is safe."""
    try:
        return work()
    except Exception as exc:
        if not is_disconnect(exc):
            raise
        return work()


def retry_on_deadlock(work: Callable[[], T], attempts: int = 3) -> T:
    """Run `work`, one transaction; when PostgreSQL broke a deadlock by rolling it back
    (nothing of it was written), run it again, up to `attempts` times in all."""
    for _ in range(attempts - 1):
        try:
            return work()
        except DBAPIError as exc:
            if not isinstance(exc.orig, psycopg.errors.DeadlockDetected):
                raise
    return work()


def is_disconnect(exc: BaseException) -> bool:
    """The database connection died (server restart, network): the pool was invalidated,
    and the same work can be tried again on a fresh connection."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


_compiled: dict[int, str] = {}


def execute_hot(conn: Connection, statement: TextClause, params: dict[str, Any]) -> Any:
    """Run one hot-path statement (one with RETURNING) straight on the psycopg connection,
    server-side prepared, and return its first row (or None). The statement is compiled by
    SQLAlchemy once; skipping SQLAlchemy's per-execution machinery saves a third of the
    Python time of a step. Errors are the driver's own, except that a connection that died is
    invalidated and reported as DatabaseUnavailable."""
    sql_text = _compiled.get(id(statement))
    if sql_text is None:
        sql_text = _compiled[id(statement)] = str(statement.compile(dialect=conn.dialect))
    pooled = conn.connection
    dbapi = cast("psycopg.Connection[Any]", pooled.dbapi_connection)
    # One cursor per database connection, kept with it in the pool (its `info` dies with
    # the connection): a new cursor per statement costs more than the statement's Python.
    cursor = pooled.info.get("durable_hot_cursor")
    if cursor is None:
        cursor = pooled.info["durable_hot_cursor"] = dbapi.cursor(row_factory=namedtuple_row)
    try:
        cursor.execute(sql_text, params, prepare=True)
        # Every hot statement returns a row (RETURNING): no description to build.
        return cursor.fetchone()
    except psycopg.Error as exc:
        if not dbapi.broken:
            raise
        conn.invalidate()
        raise DatabaseUnavailable(f"the database connection died: {exc}") from exc
