"""The poller: wakes what is due, re-sends lost wake-ups, and ends expired executions.

Each sweep runs in one short transaction with SKIP LOCKED, so two beats polling at once
split the work instead of doubling it; a wake-up sent twice is harmless anyway.
"""

from __future__ import annotations

import logging

from durable_celery import sql
from durable_celery.control import stop_executions
from durable_celery.db import retry_on_disconnect
from durable_celery.runtime import ITEM_TASK, Runtime

logger = logging.getLogger("durable_celery.poller")


def poll_once(runtime: Runtime) -> int:
    """One poll: returns how many wake-ups it sent. A connection that died with the
    database is replaced once: every sweep is a transaction, so trying again is safe."""
    return retry_on_disconnect(lambda: _poll(runtime))


def _poll(runtime: Runtime) -> int:
    settings = runtime.settings
    params = {"grace_seconds": settings.dispatch_grace, "batch_size": settings.poll_batch_size}
    with runtime.engine.begin() as conn:
        expired = [str(row.id) for row in conn.execute(sql.EXPIRED_DEADLINES, params)]
        timeout_wakeups = stop_executions(
            conn,
            expired,
            "timed_out",
            {
                "type": "durable_celery.errors.WorkflowTimedOut",
                "message": "the workflow deadline passed",
            },
            include_running=True,
        )
    with runtime.engine.begin() as conn:
        executions = conn.execute(sql.DISPATCH_DUE, params).all()
    with runtime.engine.begin() as conn:
        items = conn.execute(sql.DISPATCH_DUE_ITEMS, params).all()
    runtime.send_wakeups(timeout_wakeups)
    ordered = sorted(executions, key=lambda row: -row.priority)
    runtime.send_wakeups((str(row.id), row.queue) for row in ordered)
    runtime.send_wakeups(((str(row.id), row.queue) for row in items), task=ITEM_TASK)
    sent = len(timeout_wakeups) + len(executions) + len(items)
    if expired:
        logger.info("poller: %d executions passed their deadline", len(expired))
    return sent
