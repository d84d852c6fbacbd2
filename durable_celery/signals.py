"""Signals for error trackers and metrics, Celery `Signal` objects like `task_failure`.

    from durable_celery.signals import execution_failed

    @execution_failed.connect
    def report(sender, execution_id, workflow, error, exception, **_):
        sentry_sdk.capture_exception(exception)  # None when there is no Python exception

`sender` is the workflow's name. They are sent in the worker process that runs the
execution (the poller's, for deadlines it enforces), after the state is recorded; an
error raised by a receiver is logged by Celery and never stops the engine.
"""

from __future__ import annotations

from celery.utils.dispatch import Signal

execution_started = Signal(
    name="durable_execution_started", providing_args={"execution_id", "workflow"}
)
"""A worker began an execution's first step."""

execution_finished = Signal(
    name="durable_execution_finished",
    providing_args={"execution_id", "workflow", "status"},
)
"""An execution ended, whatever its status (completed, failed, cancelled, ...)."""

execution_failed = Signal(
    name="durable_execution_failed",
    providing_args={"execution_id", "workflow", "status", "error", "exception"},
)
"""An execution ended failed, compensated, compensation_failed or timed_out; `error` is
the recorded error, `exception` the Python exception when there is one."""

step_failed = Signal(
    name="durable_step_failed",
    providing_args={"execution_id", "workflow", "step", "attempt", "exception", "will_retry"},
)
"""An attempt of a step failed; `will_retry` says whether the retry policy runs it again."""
