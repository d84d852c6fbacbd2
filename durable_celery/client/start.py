"""Starting executions: validated, idempotent, and transactional with the caller's session.

The wake-up is published only after the execution row is committed. If publishing fails,
the start still succeeds: the row is the truth and the poller re-sends the wake-up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from durable_celery.client.handle import ExecutionHandle
from durable_celery.dsl import Workflow, get_workflow, task_workflow, use_starter
from durable_celery.errors import InvalidOption, InvalidPayload
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.store import starts
from durable_celery.store.after_commit import publish_after_commit
from durable_celery.store.starts import NewExecution
from durable_celery.time import Duration


class AmbientTransaction(Protocol):
    """Starts `new` inside a transaction the caller has open without passing it (Django's
    atomic block); returns its id, or None when there is none."""

    def __call__(self, runtime: Runtime, new: NewExecution) -> str | None: ...


_ambient_transactions: list[AmbientTransaction] = []


def use_ambient_transaction(hook: AmbientTransaction) -> None:
    if hook not in _ambient_transactions:
        _ambient_transactions.append(hook)


def start(
    workflow: str,
    input: Mapping[str, Any] | None = None,
    *,
    queue: str | None = None,
    priority: int = 0,
    delay: Duration | None = None,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    debounce: Duration | None = None,
    debounce_key: str | None = None,
    debounce_max: Duration | None = None,
    session: Session | Connection | None = None,
    runtime: Runtime | None = None,
) -> ExecutionHandle:
    """Start the workflow registered as `workflow`. See `Workflow.start_durable`."""
    if not isinstance(workflow, str):
        raise InvalidOption(f"workflow must be a registered name (str), got {workflow!r}")
    runtime = runtime or current_runtime()
    runtime.import_workflows()
    return start_execution(
        get_workflow(workflow),
        input,
        queue=queue,
        priority=priority,
        delay=delay,
        run_at=run_at,
        idempotency_key=idempotency_key,
        debounce=debounce,
        debounce_key=debounce_key,
        debounce_max=debounce_max,
        session=session,
        runtime=runtime,
    )


def start_execution(
    workflow: type[Workflow],
    input: Mapping[str, Any] | None,
    *,
    queue: str | None = None,
    priority: int = 0,
    delay: Duration | None = None,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    debounce: Duration | None = None,
    debounce_key: str | None = None,
    debounce_max: Duration | None = None,
    session: Session | Connection | None = None,
    runtime: Runtime | None = None,
) -> ExecutionHandle:
    """Persist a new execution of `workflow` and wake a worker for it once committed."""
    runtime = runtime or current_runtime()
    new = runtime.new_execution(
        workflow,
        input,
        queue=queue,
        priority=priority,
        delay=delay,
        run_at=run_at,
        idempotency_key=idempotency_key,
        debounce=debounce,
        debounce_key=debounce_key,
        debounce_max=debounce_max,
    )
    if session is None:
        for ambient in _ambient_transactions:
            execution_id = ambient(runtime, new)
            if execution_id is not None:
                return ExecutionHandle(execution_id, runtime)
        return ExecutionHandle(runtime.start(new), runtime)
    if not isinstance(session, (Session, Connection)):
        raise InvalidOption(
            f"session must be a SQLAlchemy Session or Connection, got {type(session).__name__}"
        )
    started = starts.start(session, new, runtime.codec)
    wakeups = started.wakeup(new)
    if wakeups:
        publish_after_commit(session, wakeups, runtime.publish)
    return ExecutionHandle(started.id, runtime)


def start_many(
    workflow: str | type[Workflow],
    inputs: Iterable[Mapping[str, Any] | None],
    *,
    queue: str | None = None,
    priority: int = 0,
    delay: Duration | None = None,
    run_at: datetime | None = None,
    idempotency_keys: Sequence[str | None] | None = None,
    debounce: Duration | None = None,
    debounce_key: str | None = None,
    session: Session | Connection | None = None,
    runtime: Runtime | None = None,
) -> list[ExecutionHandle]:
    """Start one execution of `workflow` (a registered name or a Workflow class) per input:
    one INSERT per thousand executions and one batch of wake-ups. Every input and key is
    checked before anything is written; `idempotency_keys` has one key (or None) per
    input, and a known key returns the execution it names, as `start` does."""
    if debounce is not None or debounce_key is not None:
        # Many inputs for one window would keep only the last: start them one by one.
        raise InvalidOption(
            "start_many does not debounce: start each input with start(..., debounce=...)"
        )
    runtime = runtime or current_runtime()
    if isinstance(workflow, str):
        runtime.import_workflows()
        workflow = get_workflow(workflow)
    batch = list(inputs) if not isinstance(inputs, (Mapping, str, bytes)) else None
    if batch is None:
        raise InvalidPayload(f"start_many takes a list of inputs, got {type(inputs).__name__}")
    keys: list[str | None] = [None] * len(batch)
    if idempotency_keys is not None:
        keys = list(idempotency_keys)
        if len(keys) != len(batch):
            raise InvalidOption(
                f"idempotency_keys has {len(keys)} keys for {len(batch)} inputs: give one "
                f"per input (None for none)"
            )
    news = [
        runtime.new_execution(
            workflow,
            input,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            idempotency_key=key,
        )
        for input, key in zip(batch, keys, strict=True)
    ]
    if not news:
        return []
    if session is None:
        return [ExecutionHandle(execution_id, runtime) for execution_id in runtime.start_many(news)]
    if not isinstance(session, (Session, Connection)):
        raise InvalidOption(
            f"session must be a SQLAlchemy Session or Connection, got {type(session).__name__}"
        )
    started = starts.start_many(session, news, runtime.codec)
    wakeups = [wakeup for new, one in zip(news, started, strict=True) for wakeup in one.wakeup(new)]
    if wakeups:
        publish_after_commit(session, wakeups, runtime.publish)
    return [ExecutionHandle(one.id, runtime) for one in started]


def start_task(
    task: Any,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    **options: Any,
) -> ExecutionHandle:
    """Run a Celery task durably: a one-step execution of `task:<task name>`, retried by
    the task's own policy (`task.start_durable` / `task.apply_durable` call this)."""
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise InvalidPayload(f"args of {task.name} must be a list or tuple, got {args!r}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise InvalidPayload(f"kwargs of {task.name} must be a dict, got {kwargs!r}")
    task_input = {"args": list(args), "kwargs": dict(kwargs or {})}
    return start_execution(task_workflow(task), task_input, **options)


def _start_many_of_class(workflow: type[Workflow], inputs: Any, **options: Any) -> Any:
    return start_many(workflow, inputs, **options)


use_starter(start_execution, _start_many_of_class)
