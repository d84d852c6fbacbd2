"""Messages waiting in the broker's queues, as far as the broker says: a passive queue
declaration per queue (it creates nothing), on a connection of the runtime's Celery app,
given a short time in all. A queue it cannot count is None ("-" on screen)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import Any

from celery import Celery

DEFAULT_TIMEOUT = 2.0


def message_counts(
    app: Celery, queues: Iterable[str], timeout: float = DEFAULT_TIMEOUT
) -> dict[str, int | None]:
    names = list(queues)
    counts: dict[str, int | None] = dict.fromkeys(names)

    def probe() -> None:
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        with app.connection_for_read(
            connect_timeout=timeout, transport_options=options
        ) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            for name in names:
                counts[name] = _count(connection, name)

    # In a thread with a deadline: some transports retry connecting for far longer than a
    # status line can wait, whatever their options say.
    thread = threading.Thread(target=_quietly, args=(probe,), daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return dict(counts)


def _quietly(work: Any) -> None:
    try:
        work()
    except Exception:  # an unreachable broker: the counts stay unknown
        return


def _count(connection: Any, queue: str) -> int | None:
    channel = connection.channel()
    try:
        _, message_count, _ = channel.queue_declare(queue=queue, passive=True)
        return int(message_count)
    except Exception as exc:
        # No such queue: nothing was ever left in it (Redis drops an emptied list, and
        # publishing declares the queue on AMQP brokers).
        return 0 if _not_found(exc) else None
    finally:
        # An AMQP broker closes the channel itself after a 404.
        with contextlib.suppress(Exception):
            channel.close()


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "code", None) or getattr(exc, "reply_code", None)
    return code == 404 or "NOT_FOUND" in str(exc) or "404" in [str(arg) for arg in exc.args]
