"""Running executions in the test's own process: a runtime whose wake-ups go to a queue
in memory instead of a broker, and a driver that runs them through the real engine and
the real database.

Eager, like Celery's task_always_eager: a wake-up published by the test itself (start,
send_event, provide_input, cancel, retry) runs at once, before the call returns. A
wake-up published by the engine while it runs (a child, fan-out items, a parent resumed
by its child) is queued and run by the same driver after the current claim is let go:
never inside it. When the queue is empty the driver runs the poller's sweeps
(`poll_once`: due timers, deadlines, due items, slot queues), runs what they found, and
stops when nothing is due.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable

from celery import Celery

from durable_celery import engine
from durable_celery.config import Settings
from durable_celery.errors import DurableError
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import WakeTarget
from durable_celery.store.clock import anything_due
from durable_celery.store.connections import reading
from durable_celery.store.records import Wakeup

logger = logging.getLogger("durable_celery.testing")

# Wake-ups one drive may run: more means executions that wake each other forever.
MAX_WAKEUPS_PER_DRIVE = 10_000


class InlineRuntime(Runtime):
    """A runtime that runs its wake-ups in this process (see the module's docstring)."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        super().__init__(app, settings)
        self.queued: deque[Wakeup] = deque()
        self.driving = False

    def publish(self, wakeups: Iterable[Wakeup]) -> None:
        self.queued.extend(wakeups)
        if not self.driving:
            self.drive()

    def drive(self) -> int:
        """Run the queued wake-ups, then whatever the poller finds due, until nothing is
        due now; returns how many wake-ups ran. Called inside a drive, it does nothing:
        the outer one runs what was queued."""
        if self.driving:
            return 0
        self.driving = True
        ran = 0
        try:
            while True:
                while self.queued:
                    wakeup = self.queued.popleft()
                    ran += 1
                    if ran > MAX_WAKEUPS_PER_DRIVE:
                        self.queued.clear()
                        raise DurableError(
                            f"run inline: more than {MAX_WAKEUPS_PER_DRIVE} wake-ups without "
                            f"settling (executions that keep waking each other?); the last "
                            f"was {wakeup.target} {wakeup.id}"
                        )
                    if wakeup.target is WakeTarget.ITEM:
                        engine.run_item(self, wakeup.id)
                    else:
                        engine.run_execution(self, wakeup.id)
                # Most drives end here: one statement instead of the poll's sweeps.
                with reading(self.database) as conn:
                    if not anything_due(conn):
                        return ran
                engine.poll_once(self)
                if not self.queued:
                    return ran
        finally:
            self.driving = False


def _inline_app(source: Celery) -> Celery:
    """An app of its own, routed like `source` (a wake-up's queue is recorded), so that
    making the inline runtime current never changes the runtime of `source`'s tasks."""
    app = Celery(source.main or "durable_celery", set_as_current=False)
    app.conf.update(
        task_routes=source.conf.task_routes,
        task_default_queue=source.conf.task_default_queue,
    )
    return app


def inline_runtime() -> InlineRuntime:
    """The current runtime if it runs inline, else an inline runtime on the current
    runtime's database (and settings), made current."""
    current = current_runtime()
    if isinstance(current, InlineRuntime):
        return current
    inline = InlineRuntime(_inline_app(current.app), current.settings)
    inline.activate()
    return inline
