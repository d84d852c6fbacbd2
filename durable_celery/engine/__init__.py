"""The engine: runs workflows on the workers.

Claims (one path for executions and items, with heartbeats and reconnects), the step
loop with its pure `outcomes`, waits, child workflows, fan-out and items, timeouts, and
the sweeps (poller, schedules and stale-claim recovery). It reads and writes only through
`durable_celery.store`, and never imports the client.
"""

from durable_celery.engine.items import run_item
from durable_celery.engine.loop import run_execution
from durable_celery.engine.schedules import sync_declared
from durable_celery.engine.sweeps import poll_once, recover_once

__all__ = ["poll_once", "recover_once", "run_execution", "run_item", "sync_declared"]
