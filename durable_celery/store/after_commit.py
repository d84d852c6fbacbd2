"""Acting after the caller's own transaction commits (a start with `session=`).

The wake-ups of executions written in a caller's Session or Connection are held until
that transaction commits, then published; a rollback drops them, so a rolled-back start
wakes nothing. The wake-ups wait on the Session or Connection object itself (never on the
pooled DBAPI connection, which outlives it), so every transaction of every checkout gets
its own hook, and what a closed connection held goes with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from durable_celery.store.records import Wakeup

Publish = Callable[[list[Wakeup]], None]

_waiting: WeakKeyDictionary[Session | Connection, list[Wakeup]] = WeakKeyDictionary()


def publish_after_commit(
    session: Session | Connection, wakeups: list[Wakeup], publish: Publish
) -> None:
    pending = _waiting.get(session)
    if pending is None:
        pending = _waiting[session] = []
        _hook(session, pending, publish)
    pending.extend(wakeups)


def _hook(session: Session | Connection, pending: list[Wakeup], publish: Publish) -> None:
    def discard(*_: Any) -> None:
        pending.clear()

    def flush() -> None:
        ready = list(pending)
        pending.clear()
        if ready:
            publish(ready)

    if isinstance(session, Session):
        event.listen(session, "after_commit", lambda _session: flush())
        event.listen(session, "after_rollback", discard)
        return

    def commit_then_publish(conn: Connection) -> None:
        if not pending:
            return
        # Connections have no after-commit hook: commit the DBAPI transaction here, so the
        # wake-up can never reach a worker before the row is visible. SQLAlchemy's own
        # commit that follows finds nothing left to commit.
        conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]
        flush()

    event.listen(session, "commit", commit_then_publish)
    event.listen(session, "rollback", discard)
