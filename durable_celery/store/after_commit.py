"""Acting after the caller's own transaction commits (a start with `session=`).

The wake-ups of executions written in a caller's Session or Connection are held until
that transaction commits, then published; a rollback drops them, so a rolled-back start
wakes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from durable_celery.store.records import Wakeup

_PENDING_KEY = "durable_celery_wakeups"
_HOOKED_KEY = "durable_celery_hooked"


def publish_after_commit(
    session: Session | Connection,
    wakeups: list[Wakeup],
    publish: Callable[[list[Wakeup]], None],
) -> None:
    pending: list[Wakeup] = session.info.setdefault(_PENDING_KEY, [])
    pending.extend(wakeups)
    if session.info.get(_HOOKED_KEY):
        return
    session.info[_HOOKED_KEY] = True

    def discard(*_: Any) -> None:
        session.info.get(_PENDING_KEY, []).clear()

    def flush() -> None:
        ready = list(session.info.get(_PENDING_KEY, []))
        session.info.get(_PENDING_KEY, []).clear()
        if ready:
            publish(ready)

    if isinstance(session, Session):
        event.listen(session, "after_commit", lambda _session: flush())
        event.listen(session, "after_rollback", discard)
        return

    def commit_then_publish(conn: Connection) -> None:
        if not session.info.get(_PENDING_KEY):
            return
        # Connections have no after-commit hook: commit the DBAPI transaction here, so the
        # wake-up can never reach a worker before the row is visible. SQLAlchemy's own
        # commit that follows finds nothing left to commit.
        conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]
        flush()

    event.listen(session, "commit", commit_then_publish)
    event.listen(session, "rollback", discard)
