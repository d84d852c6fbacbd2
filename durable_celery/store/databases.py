"""Databases for tests (durable_celery.testing): one migrated template per migration
head, built once and kept on the server, and a copy of it per test (CREATE DATABASE ...
TEMPLATE copies files: far faster than migrating every time), emptied after the test
for the next one (TRUNCATE: far faster than copying again).

The template is built under a temporary name and renamed when complete, under an
advisory lock: a template that exists is whole, and two test sessions at once build it
once. Its name carries the head revision and a digest of the revisions' files, so a new
migration (or an edited one) gets a new template; old ones can be dropped by hand.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from durable_celery.config import Settings
from durable_celery.errors import ConfigurationError
from durable_celery.store.connections import dispose_engine
from durable_celery.store.migrate import head_revision, upgrade
from durable_celery.store.sql import databases as sql
from durable_celery.store.tables import metadata

_NAME_ROOM = 63 - 30  # PostgreSQL names have 63 bytes; the suffixes take up to 30


def migrations_digest(schema: str | None = None) -> str:
    """Eight hex digits that change with any revision file (and the schema)."""
    spec = importlib.util.find_spec("durable_celery.migrations")
    assert spec is not None and spec.submodule_search_locations
    versions = Path(spec.submodule_search_locations[0]) / "versions"
    digest = hashlib.sha256((schema or "").encode())
    for path in sorted(versions.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:8]


def template_name(url: str, schema: str | None = None) -> str:
    base = (make_url(url).database or "durable")[:_NAME_ROOM]
    return f"{base}_tpl_{head_revision()}_{migrations_digest(schema)}"


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _maintenance(url: str) -> Iterator[Connection]:
    """An autocommit connection to the server's `postgres` database."""
    engine = create_engine(
        with_database(url, "postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            yield conn
    except OperationalError as error:
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigurationError(
            f"cannot reach PostgreSQL at {shown} to create test databases: "
            f"{str(error.orig).strip() or error}"
        ) from None
    finally:
        engine.dispose()


def ensure_template(url: str, schema: str | None = None) -> str:
    """The name of the migrated template for `url`'s server, built if missing."""
    name = template_name(url, schema)
    lock = {"space": sql.TEMPLATE_LOCK_SPACE, "name": name}
    with _maintenance(url) as conn:
        if conn.execute(sql.DATABASE_EXISTS, {"name": name}).scalar_one():
            return name
        conn.execute(sql.TEMPLATE_LOCK, lock)
        try:
            if conn.execute(sql.DATABASE_EXISTS, {"name": name}).scalar_one():
                return name  # built by another session while this one waited
            building = f"{name[:_NAME_ROOM]}_b{os.getpid()}_{uuid.uuid4().hex[:6]}"
            conn.execute(sql.create_database(building))
            settings = Settings(database_url=with_database(url, building), schema=schema)
            try:
                upgrade(settings)
                dispose_engine(settings)
                conn.execute(sql.rename_database(building, name))
            except BaseException:
                conn.execute(sql.drop_database(building))
                raise
        finally:
            conn.execute(sql.TEMPLATE_UNLOCK, lock)
    return name


def clone(url: str, template: str, name: str | None = None) -> str:
    """A new database copied from `template` on `url`'s server; returns its URL."""
    if name is None:
        base = (make_url(url).database or "durable")[:_NAME_ROOM]
        name = f"{base}_t{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _maintenance(url) as conn:
        conn.execute(sql.create_database(name, template))
    return with_database(url, name)


def empty(url: str, schema: str | None = None) -> None:
    """Empty every durable table of the test database `url` names: what a fresh copy of
    the template holds (migrations write no rows but the version, which stays)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sql.LOCK_TIMEOUT, {"timeout": "5s"})
            conn.execute(sql.empty_tables([t.name for t in metadata.sorted_tables], schema))
    finally:
        engine.dispose()


def drop(url: str) -> None:
    """Drop the database `url` names, closing this process's connections to it first."""
    dispose_engine(Settings(database_url=url))
    name = make_url(url).database
    assert name, url
    with _maintenance(url) as conn:
        conn.execute(sql.drop_database(name))
