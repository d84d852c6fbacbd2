"""Existing Celery tasks as durable steps, with the retry policy the task already declares.

`task_step(task, ...)` makes a step of a workflow out of a task; `task_workflow(task)` is
the one-step workflow behind `task.start_durable(...)`. Either runs the task inline (its
function, with Celery's own call semantics) in the worker that runs the execution, and
retries it on durable timers by its `autoretry_for`, `max_retries`, `retry_backoff`,
`retry_backoff_max`, `retry_jitter` and `default_retry_delay`. Nothing here imports
Celery: a task is read by its attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from durable_celery.dsl.context import StepContext
from durable_celery.dsl.retry import NO_RETRY, Retry
from durable_celery.dsl.steps import StepSpec, step
from durable_celery.dsl.workflow import Workflow, registered_workflows

TASK_WORKFLOW_PREFIX = "task:"
# Celery's max_retries=None means "retry forever"; a durable budget needs a number.
UNBOUNDED_RETRIES = 10_000


def retry_of(task: Any) -> Retry:
    """The Retry policy a Celery task declares. Celery counts retries after the first run
    (`max_retries=3`: four runs); durable-celery counts attempts (`max_attempts=4`)."""
    retry_on = tuple(getattr(task, "autoretry_for", ()) or ())
    if not retry_on:
        return NO_RETRY
    retry_kwargs = dict(getattr(task, "retry_kwargs", None) or {})
    max_retries = retry_kwargs.get("max_retries", getattr(task, "max_retries", 3))
    attempts = (UNBOUNDED_RETRIES if max_retries is None else int(max_retries)) + 1
    give_up_on = tuple(getattr(task, "dont_autoretry_for", ()) or ())
    backoff = getattr(task, "retry_backoff", False)
    if backoff:
        return Retry(
            max_attempts=attempts,
            backoff="exponential",
            base=timedelta(seconds=1 if backoff is True else float(backoff)),
            max_delay=timedelta(seconds=float(getattr(task, "retry_backoff_max", 600))),
            jitter=bool(getattr(task, "retry_jitter", True)),
            retry_on=retry_on,
            give_up_on=give_up_on,
        )
    countdown = retry_kwargs.get("countdown", getattr(task, "default_retry_delay", 180))
    delay = timedelta(seconds=float(countdown))
    return Retry(
        max_attempts=attempts,
        backoff="constant",
        base=delay,
        max_delay=delay,
        jitter=False,
        retry_on=retry_on,
        give_up_on=give_up_on,
    )


def task_step(
    task: Any,
    *,
    args: Callable[[StepContext], Sequence[Any]] | None = None,
    kwargs: Callable[[StepContext], Mapping[str, Any]] | None = None,
    timeout: Any = None,
    queue: str | None = None,
    compensate: str | None = None,
) -> StepSpec:
    """A step that calls an existing Celery task inline, retried by the task's own policy:

        charge = task_step(tasks.charge_card, kwargs=lambda ctx: {"order": ctx.input["id"]})

    Without `args` or `kwargs`, the task is called with the execution's input as keyword
    arguments. The step is named by its attribute; its output is the task's return value."""

    def call(ctx: StepContext) -> Any:
        positional = tuple(args(ctx)) if args is not None else ()
        named = dict(kwargs(ctx)) if kwargs is not None else ({} if args else dict(ctx.input))
        return task(*positional, **named)

    spec = step(retry=retry_of(task), timeout=timeout, queue=queue, compensate=compensate)(call)
    return replace(spec, named_by_attribute=True)


def task_workflow(task: Any) -> type[Workflow]:
    """The one-step workflow that runs `task` durably: `task:<task name>`, its input
    `{"args": [...], "kwargs": {...}}`. Built once per task name."""
    name = TASK_WORKFLOW_PREFIX + str(task.name)
    existing = registered_workflows().get(name)
    if existing is not None:
        return existing

    def run(ctx: StepContext) -> Any:
        return task(*ctx.input.get("args", ()), **ctx.input.get("kwargs", {}))

    body: dict[str, Any] = {
        "name": name,
        "__module__": __name__,
        # Its wake-ups go where the app routes the task itself.
        "route_name": classmethod(lambda cls: str(task.name)),
        "run": step(retry=retry_of(task))(run),
    }
    return type(f"Task_{_function_name(task)}", (Workflow,), body)


def resolve_task_workflow(name: str, tasks: Mapping[str, Any]) -> type[Workflow] | None:
    """The workflow of `task:<name>` for a task of `tasks` (an app's registry), built on
    first use: a worker needs it before anyone in its process started one."""
    if not name.startswith(TASK_WORKFLOW_PREFIX):
        return None
    task = tasks.get(name[len(TASK_WORKFLOW_PREFIX) :])
    return None if task is None else task_workflow(task)


def _function_name(task: Any) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(task.name).rsplit(".", 1)[-1])
