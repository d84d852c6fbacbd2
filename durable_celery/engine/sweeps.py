"""The beat-scheduled sweeps: the poller (with the schedules' fires) and stale-claim
recovery.

Each sweep runs short transactions that take their batches with SKIP LOCKED (see
store.sweeps), so two beats at once split the work instead of doubling it; a wake-up
sent twice is harmless anyway. A connection that died with the database is replaced
once: every sweep is a transaction, so trying again is safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from durable_celery import signals
from durable_celery.engine import schedules
from durable_celery.errors import DatabaseUnavailable, SchemaNotReady
from durable_celery.runtime import Runtime
from durable_celery.states import WakeTarget
from durable_celery.store import sweeps
from durable_celery.store.connections import retry_on_disconnect, transaction
from durable_celery.store.records import Wakeup

logger = logging.getLogger("durable_celery.poller")
recovery_logger = logging.getLogger("durable_celery.recovery")


class _Outage:
    """While the database is unreachable or not migrated, the sweeps (which beat runs every
    second) skip their runs and say so in one ERROR line each time they try again, waiting
    twice as long each time, up to a minute: not a traceback a second."""

    def __init__(self) -> None:
        self.retry_at = 0.0
        self.wait = 1.0

    def skip(self) -> bool:
        return time.monotonic() < self.retry_at

    def failed(self, what: str, error: Exception) -> None:
        logger.error("%s skipped: %s (trying again in %.0f s)", what, error, self.wait)
        self.back_off()

    def back_off(self) -> None:
        self.retry_at = time.monotonic() + self.wait
        self.wait = min(self.wait * 2, 60.0)

    def recovered(
        self, message: str = "the durable-celery database is back; the sweeps run again"
    ) -> None:
        if self.retry_at:
            logger.warning(message)
        self.retry_at, self.wait = 0.0, 1.0


_outage = _Outage()


def _guarded(what: str, sweep: Callable[[], int]) -> int:
    if _outage.skip():
        return 0
    try:
        done = retry_on_disconnect(sweep)
    except (SchemaNotReady, DatabaseUnavailable) as error:
        _outage.failed(what, error)
        return 0
    _outage.recovered()
    return done


def _reported(sweep: str, run: Callable[[], int]) -> int:
    began = time.perf_counter()
    count = run()
    signals.sweep_finished.send(
        sender=sweep, sweep=sweep, duration=time.perf_counter() - began, count=count
    )
    return count


def poll_once(runtime: Runtime) -> int:
    """End executions past their deadline, make due timers runnable and (re)send their
    wake-ups, delete published events past their retention, fire due schedules; returns
    how many wake-ups it sent."""
    return _reported("poll", lambda: _guarded("durable-celery poll", lambda: _poll(runtime)))


# Share of the poll interval a poll may spend taking batches: a backlog (100,000 timers
# due at once) drains at the database's speed, not one batch per beat, and the poll
# still ends before beat sends the next one.
POLL_BUDGET_SHARE = 0.8


def poll_budget(poll_interval: float, dispatch_grace: float) -> float:
    """Seconds one poll may keep taking batches. Under the grace too: a wake-up sent by
    this poll is re-sent only `grace` later, so a poll never takes its own rows twice."""
    return POLL_BUDGET_SHARE * min(poll_interval, dispatch_grace)


def _poll(runtime: Runtime) -> int:
    settings = runtime.settings
    batch = settings.poll_batch_size
    poll = _Poll(runtime)
    drain(
        [
            poll.deadlines,
            poll.due,
            poll.due_items,
            poll.slot_queued,
            poll.step_queued,
            poll.expired_events,
        ],
        batch,
        time.monotonic() + poll_budget(settings.poll_interval, settings.dispatch_grace),
    )
    if poll.expired:
        logger.info("poller: %d executions passed their deadline", poll.expired)
    _warn_unclaimed(poll.unclaimed)
    return poll.sent + _fire_schedules(runtime, batch)


def drain(takers: list[Callable[[], int]], batch: int, budget_ends: float) -> None:
    """Call each taker (one batch of a sweep; it returns the rows it took) again while
    its batches come back full, in turns so that no sweep starves the others, until the
    budget is spent. Each batch is a transaction of its own whose wake-ups are sent
    right after its commit: pollers at once split a backlog batch by batch (SKIP
    LOCKED), and a poll that stops halfway has lost nothing."""
    while takers:
        takers = [take for take in takers if take() >= batch]
        if time.monotonic() >= budget_ends:
            return


class _Poll:
    """The poller's sweeps, one batch per call, and what they did; last, the deletion of
    published events past their retention (maintenance: no wake-ups)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.grace = settings.dispatch_grace
        self.backoff = settings.dispatch_backoff_max
        self.batch = settings.poll_batch_size
        self.sent = 0
        self.expired = 0
        self.unclaimed: list[sweeps.Dispatched] = []

    def deadlines(self) -> int:
        with transaction(self.runtime.database) as conn:
            expired, wakeups = sweeps.expire_deadlines(conn, self.grace, self.batch)
        self._publish(wakeups)
        self.expired += expired
        return expired

    def due(self) -> int:
        with transaction(self.runtime.database) as conn:
            due = sweeps.dispatch_due(conn, self.grace, self.backoff, self.batch)
        return self._dispatched(due)

    def due_items(self) -> int:
        with transaction(self.runtime.database) as conn:
            due = sweeps.dispatch_due_items(conn, self.grace, self.backoff, self.batch)
        return self._dispatched(due)

    def slot_queued(self) -> int:
        with transaction(self.runtime.database) as conn:
            woken = sweeps.dispatch_slot_queued(conn, self.batch)
        self._publish(woken)
        return len(woken)

    def step_queued(self) -> int:
        with transaction(self.runtime.database) as conn:
            woken = sweeps.dispatch_step_queued(conn, self.batch)
        self._publish(woken)
        return len(woken)

    def expired_events(self) -> int:
        with transaction(self.runtime.database) as conn:
            return sweeps.delete_expired_events(conn, self.batch)

    def _dispatched(self, due: list[sweeps.Dispatched]) -> int:
        self._publish([dispatched.wakeup for dispatched in due])
        self.unclaimed += [d for d in due if d.resends >= UNCLAIMED_RESENDS]
        return len(due)

    def _publish(self, wakeups: list[Wakeup]) -> None:
        self.runtime.publish(wakeups)
        self.sent += len(wakeups)


_schedules_trouble = _Outage()


def _fire_schedules(runtime: Runtime, batch: int) -> int:
    """The schedules' sweep, last, and kept apart: an error it did not expect is logged
    (with a backoff, like an outage) and never stops the sweeps above."""
    if _schedules_trouble.skip():
        return 0
    try:
        fired = schedules.fire_due(runtime, batch)
    except (SchemaNotReady, DatabaseUnavailable, DBAPIError):
        raise  # the poll's own handling: a reconnect, or the outage backoff
    except Exception:
        logger.exception(
            "the schedules' sweep failed; it runs again in %.0f s", _schedules_trouble.wait
        )
        _schedules_trouble.back_off()
        return 0
    _schedules_trouble.recovered("the schedules' sweep runs again")
    runtime.publish(fired.wakeups)
    return len(fired.wakeups)


# Re-sends after which nobody claiming a wake-up is worth a warning: with the default grace
# of 10 s, the wake-up has then waited for 70 s.
UNCLAIMED_RESENDS = 3


def _warn_unclaimed(unclaimed: list[sweeps.Dispatched]) -> None:
    """Name what waits on a queue that no worker seems to consume (a typo'd queue, a worker
    started without `-Q`), grouped by queue."""
    by_queue: dict[str, list[str]] = {}
    for dispatched in unclaimed:
        wakeup = dispatched.wakeup
        by_queue.setdefault(wakeup.queue, []).append(f"{wakeup.target} {wakeup.id}")
    for queue, waiting in by_queue.items():
        logger.warning(
            "nobody claimed the wake-ups of %d on queue %r after %d re-sends: is a worker "
            "consuming it (celery worker -Q %s)? %s%s",
            len(waiting),
            queue,
            UNCLAIMED_RESENDS,
            queue,
            ", ".join(waiting[:10]),
            " ..." if len(waiting) > 10 else "",
        )


def recover_once(runtime: Runtime) -> int:
    """Take back executions and items whose worker stopped heartbeating; returns how many
    were given back and woken."""
    return _reported(
        "recovery", lambda: _guarded("durable-celery recovery", lambda: _recover(runtime))
    )


def _recover(runtime: Runtime) -> int:
    settings = runtime.settings
    with transaction(runtime.database) as conn:
        wakeups = sweeps.recover_stale(conn, settings.stale_lock_timeout, settings.poll_batch_size)
    if wakeups:
        items = sum(1 for wakeup in wakeups if wakeup.target is WakeTarget.ITEM)
        recovery_logger.warning(
            "recovered %d executions and %d items from workers that stopped heartbeating",
            len(wakeups) - items,
            items,
        )
    runtime.publish(wakeups)
    return len(wakeups)
