"""`run_inline`: start an execution and run it in the test's process until it ends or
waits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_celery.client import ExecutionHandle, start_execution
from durable_celery.dsl import Workflow, get_workflow
from durable_celery.testing.clock import VirtualClock
from durable_celery.testing.inline import inline_runtime


class InlineHandle(ExecutionHandle):
    """The handle run_inline returns. Nothing runs in the background inline, so
    `result()` does not wait by default: an execution that has not ended raises
    ResultTimeout at once."""

    def result(self, timeout: float | None = 0, poll_interval: float = 0.05) -> Any:
        return super().result(timeout, poll_interval)


def run_inline(
    workflow: type[Workflow] | str,
    input: Mapping[str, Any] | None = None,
    *,
    clock: VirtualClock | None = None,
    **options: Any,
) -> InlineHandle:
    """Start `workflow` (a class or a registered name) with `input` and the options of
    `start_durable` (queue, delay, idempotency_key, ...) and run it here, through the real
    engine and database, until it ends or waits: the handle's status() is then final
    (COMPLETED, FAILED, ...), WAITING (a sleep, an event, an input, a child) or PENDING (a
    retry timer or a delayed start). `clock.advance(...)`, send_event, provide_input,
    cancel... then drive it on, in this process too. From then on, until the test ends,
    the current runtime runs inline."""
    runtime = inline_runtime()
    if clock is not None:
        clock.bind(runtime)
    if isinstance(workflow, str):
        runtime.import_workflows()
        workflow = get_workflow(workflow)
    started = start_execution(workflow, input, runtime=runtime, **options)
    return InlineHandle(started.id, runtime)
