"""The runtime: which Celery app carries wake-ups and which database holds the state.

`install(app, ...)` (durable_celery.tasks) builds one and makes it current. Client calls
use the current runtime. A process that never installed one gets a runtime built from
the environment when DURABLE_DATABASE_URL is set there, and a ConfigurationError that
says how to configure it otherwise: never a silently chosen database.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from celery import Celery
from sqlalchemy import Engine

from durable_celery import signals
from durable_celery.config import Settings, bundled_celery_config, database_url_configured
from durable_celery.errors import ConfigurationError
from durable_celery.states import WakeTarget
from durable_celery.store import starts
from durable_celery.store.codec import Codec
from durable_celery.store.connections import autocommit, engine_for, transaction
from durable_celery.store.records import Wakeup
from durable_celery.store.starts import NewExecution, StartsAs

logger = logging.getLogger("durable_celery")

WAKE_TASK = "durable_celery.wake"
ITEM_TASK = "durable_celery.run_item"
POLL_TASK = "durable_celery.poll"
RECOVER_TASK = "durable_celery.recover"
RETENTION_TASK = "durable_celery.retention"
TASK_OF = {WakeTarget.EXECUTION: WAKE_TASK, WakeTarget.ITEM: ITEM_TASK}

_current: Runtime | None = None


class Runtime:
    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._worker_id: tuple[int, str] | None = None
        self._workflows_imported = False

    def activate(self) -> Runtime:
        """Make this the runtime of its app's tasks and of client calls in this process."""
        global _current
        self.app.durable_runtime = self
        _current = self
        return self

    @property
    def database(self) -> Engine:
        # Looked up each time: a forked worker child gets engines of its own.
        return engine_for(self.settings)

    @cached_property
    def codec(self) -> Codec:
        settings = self.settings
        return Codec(settings.max_payload_bytes, settings.max_error_bytes, settings.max_log_bytes)

    @property
    def wake_time_budget(self) -> float | None:
        """Seconds after which a wake-up hands its execution over to a fresh task at the next
        step boundary: durable_wake_time_budget, else the app's task_soft_time_limit (the
        limit the app wants its tasks under, e.g. to stay below visibility_timeout)."""
        budget = self.settings.wake_time_budget or self.app.conf.task_soft_time_limit
        return float(budget) if budget else None

    @property
    def worker_id(self) -> str:
        """host:pid, written on every step row: computed once per process (a fork gets its
        own)."""
        pid = os.getpid()
        if self._worker_id is None or self._worker_id[0] != pid:
            self._worker_id = (pid, f"{socket.gethostname()}:{pid}")
        return self._worker_id[1]

    def import_workflows(self) -> None:
        if self._workflows_imported:
            return
        for module in self.settings.workflow_modules:
            importlib.import_module(module)
        self._workflows_imported = True

    def queue_for(self, workflow: StartsAs, queue: str | None = None) -> str:
        """The queue of an execution's wake-ups: the one given, else the workflow's own,
        else what the app's routing says for "durable:<workflow name>" (its task_routes;
        a task run durably goes where the task goes),
        else the app's task_default_queue, like for any task of the app."""
        if queue is not None:
            return queue
        if workflow.queue is not None:
            return workflow.queue
        route = self.app.amqp.router.route({}, workflow.route_name(), (), {})
        routed = route.get("queue")
        return str(routed.name) if routed is not None else str(self.app.conf.task_default_queue)

    def new_execution(
        self, workflow: StartsAs, input: Mapping[str, Any] | None, **options: Any
    ) -> NewExecution:
        """A checked execution to start, routed like the app routes its tasks. Its trace
        context: the current one (with tracing on), else `trace_context` (a parent's)."""
        queue = self.queue_for(workflow, options.pop("queue", None))
        inherited = options.pop("trace_context", None)
        return NewExecution.of(
            workflow,
            input,
            queue=queue,
            max_queue_name_length=self.settings.max_queue_name_length,
            trace_context=signals.trace_context() or inherited,
            **options,
        )

    def start(self, new: NewExecution) -> str:
        """Insert an execution on its own and publish its wake-up once committed; returns
        its id (or the id of the execution its idempotency key already names). One
        statement in autocommit: one round trip instead of BEGIN, INSERT, COMMIT."""
        with autocommit(self.database) as conn:
            started = starts.start(conn, new, self.codec)
        self.publish(started.wakeup(new))
        return started.id

    def start_many(self, news: list[NewExecution]) -> list[str]:
        """`start` for many executions of one workflow: one statement per thousand, in
        one transaction, then their wake-ups in one batch."""
        with transaction(self.database) as conn:
            started = starts.start_many(conn, news, self.codec)
        self.publish(
            [wakeup for new, one in zip(news, started, strict=True) for wakeup in one.wakeup(new)]
        )
        return [one.id for one in started]

    def publish(self, wakeups: Iterable[Wakeup]) -> None:
        """Publish one wake-up message per execution or item, on one producer. A failure is
        logged, never raised: the rows are committed, and the poller re-sends wake-ups
        never claimed. After a failure the rest are left to the poller too, so a broker
        that is down costs one publish timeout, not one per wake-up."""
        pending = list(wakeups)
        if not pending:
            return
        sent = 0
        try:
            with self.app.producer_or_acquire() as producer:
                for wakeup in pending:
                    self.app.send_task(
                        TASK_OF[wakeup.target],
                        args=[wakeup.id],
                        queue=wakeup.queue,
                        serializer="json",
                        ignore_result=True,
                        shadow=f"durable:{wakeup.label}" if wakeup.label else None,
                        producer=producer,
                    )
                    sent += 1
        except Exception:
            unsent = pending[sent:]
            logger.warning(
                "could not publish the wake-ups of %d executions or items (%s %s%s); the "
                "poller will re-send them",
                len(unsent),
                unsent[0].target,
                unsent[0].id,
                ", ..." if len(unsent) > 1 else "",
                exc_info=True,
            )


def bundled_app() -> Celery:
    """A Celery app configured like the bundled one (celeryconfig, or the defaults)."""
    app = Celery("durable_celery")
    app.config_from_object(bundled_celery_config())
    return app


def from_environment(
    *,
    require_database_url: bool = True,
    database_url: str | None = None,
    schema: str | None = None,
) -> Runtime:
    """A runtime for client calls, configured like the bundled app and the environment,
    made current. With require_database_url, a database URL must be set somewhere."""
    app = bundled_app()
    if require_database_url and not (database_url or database_url_configured(app.conf)):
        raise ConfigurationError(
            "durable-celery is not configured in this process: call "
            "durable_celery.install(app, database_url=...) on your Celery app (your workers "
            "and the code that starts workflows both load it), or set DURABLE_DATABASE_URL "
            "(and CELERY_BROKER_URL) in the environment"
        )
    settings = Settings.resolve(app.conf, database_url=database_url, schema=schema)
    return Runtime(app, settings).activate()


@contextmanager
def activated(runtime: Runtime) -> Iterator[Runtime]:
    """Make `runtime` current for a block (a test), then make current again what was: the
    runtime of the process and the one of `runtime`'s app."""
    global _current
    previous, app_previous = _current, getattr(runtime.app, "durable_runtime", None)
    runtime.activate()
    try:
        yield runtime
    finally:
        _current = previous
        if app_previous is not None:
            runtime.app.durable_runtime = app_previous


def current_runtime() -> Runtime:
    return _current if _current is not None else from_environment()
