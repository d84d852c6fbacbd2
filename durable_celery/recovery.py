"""Stale-claim recovery: take back executions and items whose worker stopped heartbeating."""

from __future__ import annotations

import logging

from durable_celery import sql
from durable_celery.db import retry_on_disconnect
from durable_celery.runtime import ITEM_TASK, Runtime

logger = logging.getLogger("durable_celery.recovery")


def recover_once(runtime: Runtime) -> int:
    """One sweep; returns how many executions and items were given back and woken."""
    return retry_on_disconnect(lambda: _recover(runtime))


def _recover(runtime: Runtime) -> int:
    settings = runtime.settings
    params = {
        "stale_seconds": settings.stale_lock_timeout,
        "batch_size": settings.poll_batch_size,
    }
    with runtime.engine.begin() as conn:
        executions = conn.execute(sql.RECOVER_STALE_EXECUTIONS, params).all()
        items = conn.execute(sql.RECOVER_STALE_ITEMS, params).all()
    if executions or items:
        logger.warning(
            "recovered %d executions and %d items from workers that stopped heartbeating",
            len(executions),
            len(items),
        )
    runtime.send_wakeups((str(row.id), row.queue) for row in executions)
    runtime.send_wakeups(((str(row.id), row.queue) for row in items), task=ITEM_TASK)
    return len(executions) + len(items)
