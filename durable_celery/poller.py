"""The poller: wakes executions whose timer is due and re-sends lost wake-ups."""

from __future__ import annotations

import logging

from durable_celery import sql
from durable_celery.runtime import Runtime

logger = logging.getLogger("durable_celery.poller")


def poll_once(runtime: Runtime) -> int:
    """Dispatch one batch of due executions; returns how many wake-ups were sent.

    The rows are marked in one short transaction with SKIP LOCKED, so two beats polling
    at once split the work instead of doubling it; a wake-up sent twice is harmless anyway.
    """
    settings = runtime.settings
    with runtime.engine.begin() as conn:
        rows = conn.execute(
            sql.DISPATCH_DUE,
            {"grace_seconds": settings.dispatch_grace, "batch_size": settings.poll_batch_size},
        ).all()
    if rows:
        ordered = sorted(rows, key=lambda row: -row.priority)
        runtime.send_wakeups((str(row.id), row.queue) for row in ordered)
        logger.debug("poller dispatched %d executions", len(rows))
    return len(rows)
