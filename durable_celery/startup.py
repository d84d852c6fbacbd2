"""What a worker checks when it starts (Celery's `worker_ready`), in its main process:
that the database is reachable and migrated, and that it consumes the queues of the
workflows it runs. Problems are logged once, plainly, with what to do; the worker keeps
running (the sweeps wait for the database with a backoff). And what beat does when it
starts (`beat_init`): store the schedules declared in code.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy.exc import OperationalError

from durable_celery.dsl import Workflow, registered_workflows
from durable_celery.engine import sync_declared
from durable_celery.errors import DatabaseUnavailable, SchemaNotReady
from durable_celery.runtime import Runtime
from durable_celery.store.migrate import schema_status

logger = logging.getLogger("durable_celery.worker")


def check_worker(runtime: Runtime, consumer: Any) -> None:
    _check_database(runtime)
    consumed = {queue.name for queue in getattr(consumer.task_consumer, "queues", [])}
    if consumed:
        _warn_unconsumed(runtime, consumed)


def _check_database(runtime: Runtime) -> None:
    where = runtime.database.url.render_as_string(hide_password=True)
    try:
        status = schema_status(runtime.settings)
    except Exception as error:
        logger.error("durable-celery cannot reach its database %s: %s", where, error)
        return
    if status.current is None:
        logger.error(
            "durable-celery's tables are missing from %s: run `durable-celery -A APP migrate`",
            where,
        )
    elif not status.ready:
        logger.error(
            "durable-celery's tables in %s are at revision %s, this version needs %s: run "
            "`durable-celery -A APP migrate`",
            where,
            status.current,
            status.head,
        )


def _warn_unconsumed(runtime: Runtime, consumed: set[str]) -> None:
    runtime.import_workflows()
    waiting: dict[str, list[str]] = {}
    for workflow in registered_workflows().values():
        for queue in _queues_of(runtime, workflow):
            if queue not in consumed:
                waiting.setdefault(queue, []).append(workflow.name)
    for queue, names in sorted(waiting.items()):
        workflows = sorted(set(names))
        shown = ", ".join(workflows[:5]) + (
            f" and {len(workflows) - 5} more" * (len(workflows) > 5)
        )
        logger.warning(
            "this worker does not consume queue %r, where the wake-ups of %s go; unless "
            "another worker does (celery worker -Q %s), their executions wait",
            queue,
            shown,
            queue,
        )


def _queues_of(runtime: Runtime, workflow: type[Workflow]) -> set[str]:
    queue = runtime.queue_for(workflow)
    steps = workflow.__steps__
    return (
        {queue}
        | {spec.queue for spec in steps if spec.queue}
        | {branch_queue for spec in steps for _, branch_queue in spec.branch_queues}
    )


def start_schedule_sync(runtime: Runtime) -> threading.Thread:
    """When beat starts: store the schedules the code declares, disable those it no longer
    declares. In a thread that tries again (waiting up to a minute) while the database is
    unreachable or not migrated, so beat starts ticking meanwhile."""
    thread = threading.Thread(
        target=_sync_until_done, args=(runtime,), name="durable-schedule-sync", daemon=True
    )
    thread.start()
    return thread


def _sync_until_done(runtime: Runtime) -> None:
    wait = 1.0
    while True:
        try:
            sync_declared(runtime)
            return
        except (DatabaseUnavailable, SchemaNotReady, OperationalError) as error:
            logger.error(
                "durable-celery could not store the declared schedules: %s (trying again in "
                "%.0f s)",
                error,
                wait,
            )
        except Exception:
            logger.exception("durable-celery could not store the declared schedules")
            return
        time.sleep(wait)
        wait = min(wait * 2, 60.0)
