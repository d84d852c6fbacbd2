"""The Celery side: the tasks durable_celery registers on an app, and its beat schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from durable_celery.runtime import ITEM_TASK, POLL_TASK, RECOVER_TASK, WAKE_TASK, Runtime

if TYPE_CHECKING:
    from celery import Celery


def register_tasks(app: Celery, runtime: Runtime) -> None:
    """Register the wake-up and poll tasks on `app` and add the poll to its beat schedule.

    The tasks find the runtime on the app when they run, so installing again (new
    settings) takes effect without registering the tasks twice."""
    _add_beat_schedule(app, runtime)
    _include_workflow_modules(app, runtime)
    if getattr(app, "durable_tasks_registered", False):
        return
    app.durable_tasks_registered = True

    options = {"ignore_result": True, "serializer": "json", "bind": True, "shared": False}

    @app.task(name=WAKE_TASK, **options)  # type: ignore[untyped-decorator]
    def wake(task: Any, execution_id: Any) -> str | None:
        from durable_celery.executor import run_execution

        return _on_hint(run_execution, task.app.durable_runtime, execution_id)

    @app.task(name=ITEM_TASK, **options)  # type: ignore[untyped-decorator]
    def run_item(task: Any, item_id: Any) -> str | None:
        from durable_celery.fanout import run_item as run_one_item

        return _on_hint(run_one_item, task.app.durable_runtime, item_id)

    @app.task(name=POLL_TASK, **options)  # type: ignore[untyped-decorator]
    def poll(task: Any) -> int:
        from durable_celery.poller import poll_once

        return poll_once(task.app.durable_runtime)

    @app.task(name=RECOVER_TASK, **options)  # type: ignore[untyped-decorator]
    def recover(task: Any) -> int:
        from durable_celery.recovery import recover_once

        return recover_once(task.app.durable_runtime)


def _on_hint(
    handler: Callable[[Runtime, str], str | None], runtime: Runtime, raw_id: Any
) -> str | None:
    """A wake-up is only a hint: anything that is not the id of a due, pending row is
    claimed by nobody and changes nothing, malformed or forged ids included."""
    from durable_celery.errors import InvalidExecutionId
    from durable_celery.query import parse_execution_id

    try:
        row_id = parse_execution_id(raw_id)
    except InvalidExecutionId:
        return None
    return handler(runtime, row_id)


def _add_beat_schedule(app: Celery, runtime: Runtime) -> None:
    settings = runtime.settings
    schedule = dict(app.conf.beat_schedule or {})
    for key, task, interval in (
        ("durable-celery-poll", POLL_TASK, settings.poll_interval),
        ("durable-celery-recover", RECOVER_TASK, settings.recovery_interval),
    ):
        options: dict[str, Any] = {"expires": max(interval * 5, 5.0)}
        if settings.maintenance_queue:
            options["queue"] = settings.maintenance_queue
        schedule[key] = {"task": task, "schedule": interval, "options": options}
    app.conf.beat_schedule = schedule


def _include_workflow_modules(app: Celery, runtime: Runtime) -> None:
    if runtime.settings.workflow_modules:
        # Workers import the workflow modules at start-up, before forking.
        include = list(app.conf.include or [])
        for module in runtime.settings.workflow_modules:
            if module not in include:
                include.append(module)
        app.conf.include = include
