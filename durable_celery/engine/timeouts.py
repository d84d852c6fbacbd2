"""Interrupting a step that runs too long.

In the main thread of a worker process (Celery's prefork children and the solo pool)
a SIGALRM timer interrupts the step at its timeout or at the workflow deadline,
whichever comes first: the step's code gets an exception at the next Python bytecode
(blocking calls such as sleep or socket reads are interrupted too). Elsewhere (the
threads pool) signals cannot be used: the step runs to its end, and an attempt that
overran is then recorded as failed all the same.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Limit(StrEnum):
    STEP_TIMEOUT = "step_timeout"
    DEADLINE = "deadline"  # the workflow's


class Interrupted(BaseException):
    """Raised inside the step by the timer. A BaseException, so that a step's own
    `except Exception` cannot swallow it."""

    def __init__(self, limit: Limit) -> None:
        super().__init__(limit)
        self.limit = limit


def limit_for(
    step_timeout: timedelta | None, deadline: datetime | None
) -> tuple[float | None, Limit]:
    """Seconds until the first of the step timeout and the workflow deadline, and which."""
    candidates: list[tuple[float, Limit]] = []
    if step_timeout is not None:
        candidates.append((step_timeout.total_seconds(), Limit.STEP_TIMEOUT))
    if deadline is not None:
        candidates.append(((deadline - datetime.now(UTC)).total_seconds(), Limit.DEADLINE))
    if not candidates:
        return None, Limit.STEP_TIMEOUT
    return min(candidates)


@contextmanager
def time_limit(seconds: float | None, limit: Limit) -> Iterator[None]:
    if seconds is None:
        yield
        return
    if seconds <= 0:
        raise Interrupted(limit)
    if threading.current_thread() is not threading.main_thread():
        started = time.monotonic()
        yield
        if time.monotonic() - started > seconds:
            raise Interrupted(limit)
        return

    def fire(signum: int, frame: object) -> None:
        raise Interrupted(limit)

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
