"""Django: starts that honour `transaction.atomic()`.

Add "durable_celery.contrib.django" to INSTALLED_APPS. Then a start inside an atomic
block (`MyWorkflow.start_durable(...)`, `dc.start(...)`, `task.start_durable(...)`) is
part of that transaction: when Django's connection is the durable-celery database
(PostgreSQL through psycopg 3, tables in its search_path) the execution row is written on
that connection, in that transaction, and its wake-up is published by
`transaction.on_commit`; on any other database the whole start waits for
`transaction.on_commit`. A rolled-back transaction starts nothing. Outside an atomic
block, starts are as without Django.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, transaction

from durable_celery.runtime import Runtime
from durable_celery.store import starts
from durable_celery.store.connections import reading
from durable_celery.store.sql.executions import WHERE_AM_I
from durable_celery.store.starts import NewExecution

_same_database: dict[tuple[int, str], bool] = {}


def start_in_atomic_block(runtime: Runtime, new: NewExecution) -> str | None:
    """Start `new` as part of the Django transaction under way; None when there is none
    (the caller starts it as usual)."""
    alias = next((a for a in connections if connections[a].in_atomic_block), None)
    if alias is None:
        return None
    connection = connections[alias]
    if _is_durable_database(runtime, alias, connection):
        with connection.cursor() as cursor:
            started = starts.start_on_cursor(cursor, new, runtime.codec)
        wakeups = started.wakeup(new)
        if wakeups:
            transaction.on_commit(lambda: runtime.publish(wakeups), using=alias)
        return started.id
    transaction.on_commit(lambda: runtime.start(new), using=alias)
    return new.id


def _is_durable_database(runtime: Runtime, alias: str, connection: Any) -> bool:
    key = (id(runtime), alias)
    if key not in _same_database:
        _same_database[key] = (
            connection.vendor == "postgresql"
            and getattr(connection.Database, "__name__", "") == "psycopg"
            and not runtime.settings.schema
            and _where(connection) == _where_durable(runtime)
        )
    return _same_database[key]


def _where(connection: Any) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(WHERE_AM_I.text)
        return tuple(cursor.fetchone())


def _where_durable(runtime: Runtime) -> tuple[Any, ...]:
    with reading(runtime.database) as conn:
        return tuple(conn.execute(WHERE_AM_I).one())
