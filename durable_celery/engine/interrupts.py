"""Exceptions the engine raises inside a step's code to unwind it. They are
BaseExceptions, so a step's own `except Exception` does not swallow them."""

from __future__ import annotations

from datetime import datetime

from durable_celery.states import Suspension
from durable_celery.store.records import Wakeup


class Suspend(BaseException):
    """Release the claim until something happens (a child ends, a timer, an event, the
    items of a fan-out)."""

    def __init__(
        self,
        reason: Suspension,
        wake_at: datetime | None = None,
        wakeups: list[Wakeup] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wake_at = wake_at
        # Fan-out: START_FANOUT already released the claim; these items go out now.
        self.wakeups = wakeups or []


class ClaimLost(BaseException):
    """The claim was taken while the step waited for the database: stop, write nothing."""
