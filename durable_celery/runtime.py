"""The installed runtime: which Celery app carries wake-ups, and which database holds state.

`install(app, ...)` makes a runtime current. Client calls (`start`, `send_event`, queries)
use the current runtime; when none was installed, the bundled app is loaded, which
installs itself from `celeryconfig` and the environment.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from durable_celery.config import Settings
from durable_celery.db import engine_for

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger("durable_celery")

WAKE_TASK = "durable_celery.wake"
POLL_TASK = "durable_celery.poll"
ITEM_TASK = "durable_celery.run_item"
RECOVER_TASK = "durable_celery.recover"

_current: Runtime | None = None


class Runtime:
    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._workflows_imported = False

    def activate(self) -> Runtime:
        """Make this the runtime of its app's tasks and of client calls in this process."""
        global _current
        self.app.durable_runtime = self
        _current = self
        return self

    @property
    def engine(self) -> Engine:
        return engine_for(self.settings)

    @property
    def worker_id(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def import_workflows(self) -> None:
        if self._workflows_imported:
            return
        for module in self.settings.workflow_modules:
            importlib.import_module(module)
        self._workflows_imported = True

    def send_wakeups(self, wakeups: Iterable[tuple[str, str]], task: str = WAKE_TASK) -> None:
        """Publish one wake-up per (id, queue) to `task` (executions, or fan-out items).
        A failure is logged, never raised: the row is committed, and the poller re-sends
        wake-ups that were never claimed."""
        for execution_id, queue in wakeups:
            try:
                self.app.send_task(
                    task,
                    args=[execution_id],
                    queue=queue,
                    serializer="json",
                    ignore_result=True,
                )
            except Exception:
                logger.warning(
                    "could not publish the wake-up of execution %s; the poller will re-send it",
                    execution_id,
                    exc_info=True,
                )


def install(
    app: Celery,
    database_url: str | None = None,
    workflows: Iterable[str] | None = None,
    *,
    schema: str | None = None,
    poll_interval: float | None = None,
    stale_lock_timeout: float | None = None,
    heartbeat_interval: float | None = None,
    max_payload_bytes: int | None = None,
) -> Runtime:
    """Add durable workflows to an existing Celery app and make it the current runtime."""
    settings = Settings.resolve(
        app.conf,
        database_url=database_url,
        workflow_modules=tuple(workflows) if workflows is not None else None,
        schema=schema,
        poll_interval=poll_interval,
        stale_lock_timeout=stale_lock_timeout,
        heartbeat_interval=heartbeat_interval,
        max_payload_bytes=max_payload_bytes,
    )
    runtime = Runtime(app, settings)
    from durable_celery.tasks import register_tasks

    register_tasks(app, runtime)
    app.conf.update({f"durable_{name}": value for name, value in vars(settings).items()})
    return runtime.activate()


def current_runtime() -> Runtime:
    if _current is None:
        # Loading the bundled app installs it (see durable_celery/celery.py).
        importlib.import_module("durable_celery.celery")
    assert _current is not None
    return _current
