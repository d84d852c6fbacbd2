"""Databases for tests (durable_celery.testing): a migrated template, cloned per test.
Run on a maintenance connection (the server's `postgres` database) in autocommit: CREATE
and DROP DATABASE cannot run in a transaction. Identifiers are quoted here."""

from __future__ import annotations

from sqlalchemy import TextClause, text

DATABASE_EXISTS = text("SELECT EXISTS (SELECT FROM pg_database WHERE datname = :name)")
"""Whether a database of that name exists (a template built by an earlier session)."""

TEMPLATE_LOCK = text("SELECT pg_advisory_lock(:space, hashtext(CAST(:name AS text)))")
"""Held by the session that builds a template, so that two test sessions at once build it
once: the second waits, then finds it. Session-level: released by TEMPLATE_UNLOCK or when
the connection closes."""

TEMPLATE_UNLOCK = text("SELECT pg_advisory_unlock(:space, hashtext(CAST(:name AS text)))")
"""Releases TEMPLATE_LOCK."""

TEMPLATE_LOCK_SPACE = 1_685_217_646


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def create_database(name: str, template: str | None = None) -> TextClause:
    """A new database, empty or a copy of `template`. Copying takes a share lock on the
    template and fails while anybody is connected to it: the template is never used."""
    source = f" TEMPLATE {_quoted(template)}" if template else ""
    return text(f"CREATE DATABASE {_quoted(name)}{source}")


def rename_database(name: str, new_name: str) -> TextClause:
    """Publishes a template built under a temporary name: one that exists is complete."""
    return text(f"ALTER DATABASE {_quoted(name)} RENAME TO {_quoted(new_name)}")


def drop_database(name: str) -> TextClause:
    """Drop a test's database, ending the connections still open to it."""
    return text(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")


def empty_tables(tables: list[str], schema: str | None) -> TextClause:
    """Empty a used test database for the next test: every durable table at once, their
    sequences restarted, so it is as the template left it. TRUNCATE waits for the
    transactions of workers still running on it (the lock_timeout set beside it bounds
    that wait; a copy that cannot be emptied is dropped instead)."""
    prefix = f"{_quoted(schema)}." if schema else ""
    names = ", ".join(prefix + _quoted(table) for table in tables)
    return text(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


LOCK_TIMEOUT = text("SELECT set_config('lock_timeout', :timeout, true)")
"""How long emptying a used copy waits for the locks of what still runs on it."""
