"""The Celery side: `install()` registers durable-celery's tasks on an app, adds the poll
and the recovery to its beat schedule, and makes it the current runtime.

Messages carry only an id (JSON); the tasks hand it to the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_ready

from durable_celery import engine, observability
from durable_celery.client import ExecutionHandle, apply_retention, start_task
from durable_celery.config import Settings
from durable_celery.dsl import Workflow, add_resolver, resolve_task_workflow
from durable_celery.errors import InvalidExecutionId
from durable_celery.ids import parse_execution_id
from durable_celery.runtime import (
    ITEM_TASK,
    POLL_TASK,
    RECOVER_TASK,
    RETENTION_TASK,
    WAKE_TASK,
    Runtime,
)
from durable_celery.startup import check_worker, start_schedule_sync

_NO_TIME_LIMIT = 10 * 365 * 24 * 3600  # seconds: ten years


def install(
    app: Celery,
    database_url: str | None = None,
    workflows: Iterable[str] | None = None,
    *,
    schema: str | None = None,
    poll_interval: float | None = None,
    stale_lock_timeout: float | None = None,
    heartbeat_interval: float | None = None,
    dispatch_grace: float | None = None,
    recovery_interval: float | None = None,
    maintenance_queue: str | None = None,
    poll_batch_size: int | None = None,
    dispatch_backoff_max: float | None = None,
    wake_time_budget: float | None = None,
    max_payload_bytes: int | None = None,
    max_error_bytes: int | None = None,
    max_log_bytes: int | None = None,
    max_buffered_events: int | None = None,
    max_queue_name_length: int | None = None,
    db_pool_size: int | None = None,
    event_retention: float | None = None,
    newer_version_delay: float | None = None,
    retention: str | Mapping[str, Any] | None = None,
    retention_batch_size: int | None = None,
    retention_interval: float | None = None,
    metrics_port: int | None = None,
    tracing: bool | None = None,
) -> Runtime:
    """Add durable workflows to an existing Celery app and make it the current runtime.
    Each argument overrides the Celery config key `durable_<name>` and the environment
    variable `DURABLE_<NAME>`. Installing again replaces the settings."""
    settings = Settings.resolve(
        app.conf,
        database_url=database_url,
        workflow_modules=tuple(workflows) if workflows is not None else None,
        schema=schema,
        poll_interval=poll_interval,
        stale_lock_timeout=stale_lock_timeout,
        heartbeat_interval=heartbeat_interval,
        dispatch_grace=dispatch_grace,
        recovery_interval=recovery_interval,
        maintenance_queue=maintenance_queue,
        poll_batch_size=poll_batch_size,
        dispatch_backoff_max=dispatch_backoff_max,
        wake_time_budget=wake_time_budget,
        max_payload_bytes=max_payload_bytes,
        max_error_bytes=max_error_bytes,
        max_log_bytes=max_log_bytes,
        max_buffered_events=max_buffered_events,
        max_queue_name_length=max_queue_name_length,
        db_pool_size=db_pool_size,
        event_retention=event_retention,
        newer_version_delay=newer_version_delay,
        retention=retention,
        retention_batch_size=retention_batch_size,
        retention_interval=retention_interval,
        metrics_port=metrics_port,
        tracing=tracing,
    )
    runtime = Runtime(app, settings)
    observability.enable(settings)
    _register_tasks(app)
    _make_tasks_durable(app)
    _quiet_maintenance_logs()
    _add_beat_schedule(app, settings)
    _include_workflow_modules(app, settings)
    app.conf.update({f"durable_{name}": value for name, value in vars(settings).items()})
    return runtime.activate()


def _register_tasks(app: Celery) -> None:
    """The tasks find the runtime on the app when they run, so installing again (new
    settings) takes effect without registering them twice."""
    if getattr(app, "durable_tasks_registered", False):
        return
    app.durable_tasks_registered = True
    options = {
        "ignore_result": True,
        "serializer": "json",
        "bind": True,
        "shared": False,
        # Out of reach of the app's task_time_limit / task_soft_time_limit (None or 0 would
        # fall back to them): a wake-up runs many steps inline, and a kill would leave the
        # execution claimed until stale recovery. Steps have their own timeouts, and a
        # wake-up hands over at a step boundary after its budget (durable_wake_time_budget).
        "time_limit": _NO_TIME_LIMIT,
        "soft_time_limit": _NO_TIME_LIMIT,
    }

    worker_ready.connect(partial(_on_worker_ready, app), weak=False)
    beat_init.connect(partial(_on_beat_init, app), weak=False)

    @app.task(name=WAKE_TASK, **options)  # type: ignore[untyped-decorator]
    def wake(task: Any, execution_id: Any) -> str | None:
        return _on_hint(engine.run_execution, task.app.durable_runtime, execution_id)

    @app.task(name=ITEM_TASK, **options)  # type: ignore[untyped-decorator]
    def run_item(task: Any, item_id: Any) -> str | None:
        return _on_hint(engine.run_item, task.app.durable_runtime, item_id)

    @app.task(name=POLL_TASK, **options)  # type: ignore[untyped-decorator]
    def poll(task: Any) -> int:
        return engine.poll_once(task.app.durable_runtime)

    @app.task(name=RECOVER_TASK, **options)  # type: ignore[untyped-decorator]
    def recover(task: Any) -> int:
        return engine.recover_once(task.app.durable_runtime)

    @app.task(name=RETENTION_TASK, **options)  # type: ignore[untyped-decorator]
    def retention(task: Any) -> int:
        return apply_retention(task.app.durable_runtime).total


def _make_tasks_durable(app: Celery) -> None:
    """Every task of the app gets `start_durable(*args, **kwargs)` and
    `apply_durable(args, kwargs, **options)`; workers find their one-step workflows."""
    task_class = app.Task
    if getattr(task_class, "apply_durable", None) is not None:
        return

    def apply_durable(
        task: Any, args: Any = (), kwargs: Any = None, **options: Any
    ) -> ExecutionHandle:
        """Like apply_async, durably: persisted, retried by the task's own autoretry
        policy on durable timers, recovered after a crash."""
        return start_task(task, args, kwargs, **options)

    def start_durable(task: Any, *args: Any, **kwargs: Any) -> ExecutionHandle:
        """Like delay, durably."""
        return start_task(task, args, kwargs)

    task_class.apply_durable = apply_durable
    task_class.start_durable = start_durable
    add_resolver(partial(_task_workflow_of, app))


def _task_workflow_of(app: Celery, name: str) -> type[Workflow] | None:
    return resolve_task_workflow(name, app.tasks)


def _on_worker_ready(app: Celery, sender: Any, **_: Any) -> None:
    runtime: Runtime = app.durable_runtime
    if getattr(sender, "app", None) is runtime.app:  # sent for the workers of every app
        check_worker(runtime, sender)


def _on_beat_init(app: Celery, sender: Any, **_: Any) -> None:
    runtime: Runtime = app.durable_runtime
    if getattr(sender, "app", None) is runtime.app:
        start_schedule_sync(runtime)


# Beat sends these every second or so: Celery's "received", "succeeded" and "Sending due
# task" lines for them would drown a worker's log at INFO. They show at DEBUG; the poller
# and recovery log what they did.
_MAINTENANCE = frozenset({POLL_TASK, RECOVER_TASK, RETENTION_TASK})


class _QuietMaintenance(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict):
            name = args.get("name")
        elif isinstance(args, tuple) and len(args) == 2:
            name = args[1]  # beat: (entry name, task name)
        else:
            return True
        # Beat's "Message Error" record (a failed send) has a stack (a list) as its second
        # argument: not a task name, and unhashable, so test the type before the set.
        if not isinstance(name, str) or name not in _MAINTENANCE or record.levelno != logging.INFO:
            return True
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _quiet_maintenance_logs() -> None:
    for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
        celery_logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietMaintenance) for f in celery_logger.filters):
            celery_logger.addFilter(_QuietMaintenance())


def _on_hint(
    handler: Callable[[Runtime, str], str | None], runtime: Runtime, raw_id: Any
) -> str | None:
    """A wake-up is only a hint: anything that is not the id of a due, pending row is
    claimed by nobody and changes nothing, malformed or forged ids included."""
    try:
        row_id = parse_execution_id(raw_id)
    except InvalidExecutionId:
        return None
    return handler(runtime, row_id)


def _add_beat_schedule(app: Celery, settings: Settings) -> None:
    schedule = dict(app.conf.beat_schedule or {})
    entries = [
        ("durable-celery-poll", POLL_TASK, settings.poll_interval),
        ("durable-celery-recover", RECOVER_TASK, settings.recovery_interval),
    ]
    # Installing again without retention takes its entry away.
    schedule.pop("durable-celery-retention", None)
    if settings.retention:
        entries.append(("durable-celery-retention", RETENTION_TASK, settings.retention_interval))
    for key, task, interval in entries:
        options: dict[str, Any] = {"expires": max(interval * 5, 5.0)}
        if settings.maintenance_queue:
            options["queue"] = settings.maintenance_queue
        schedule[key] = {"task": task, "schedule": interval, "options": options}
    app.conf.beat_schedule = schedule


def _include_workflow_modules(app: Celery, settings: Settings) -> None:
    # Workers import the workflow modules at start-up, before forking.
    include = list(app.conf.include or [])
    include += [module for module in settings.workflow_modules if module not in include]
    if include:
        app.conf.include = include
