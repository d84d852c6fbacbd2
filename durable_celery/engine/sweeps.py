"""The beat-scheduled sweeps: the poller and stale-claim recovery.

Each sweep runs short transactions that take their batches with SKIP LOCKED (see
store.sweeps), so two beats at once split the work instead of doubling it; a wake-up
sent twice is harmless anyway. A connection that died with the database is replaced
once: every sweep is a transaction, so trying again is safe.
"""

from __future__ import annotations

import logging

from durable_celery.runtime import Runtime
from durable_celery.states import WakeTarget
from durable_celery.store import sweeps
from durable_celery.store.connections import retry_on_disconnect, transaction

logger = logging.getLogger("durable_celery.poller")
recovery_logger = logging.getLogger("durable_celery.recovery")


def poll_once(runtime: Runtime) -> int:
    """End executions past their deadline, make due timers runnable and (re)send their
    wake-ups; returns how many wake-ups it sent."""
    return retry_on_disconnect(lambda: _poll(runtime))


def _poll(runtime: Runtime) -> int:
    settings = runtime.settings
    grace, batch = settings.dispatch_grace, settings.poll_batch_size
    with transaction(runtime.database) as conn:
        expired, timeout_wakeups = sweeps.expire_deadlines(conn, grace, batch)
    with transaction(runtime.database) as conn:
        due = sweeps.dispatch_due(conn, grace, batch)
    with transaction(runtime.database) as conn:
        due_items = sweeps.dispatch_due_items(conn, grace, batch)
    wakeups = timeout_wakeups + due + due_items
    runtime.publish(wakeups)
    if expired:
        logger.info("poller: %d executions passed their deadline", expired)
    return len(wakeups)


def recover_once(runtime: Runtime) -> int:
    """Take back executions and items whose worker stopped heartbeating; returns how many
    were given back and woken."""
    return retry_on_disconnect(lambda: _recover(runtime))


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
