"""Signals for error trackers and metrics, Celery `Signal` objects like `task_failure`.

    from durable_celery.signals import execution_failed

    @execution_failed.connect
    def report(sender, execution_id, workflow, error, exception, **_):
        sentry_sdk.capture_exception(exception)  # None when there is no Python exception

`sender` is the workflow's name. They are sent in the worker process that runs the
execution (the poller's, for deadlines it enforces), after the state is recorded; an
error raised by a receiver is logged by Celery and never stops the engine. A signal
nobody listens to costs one check: the step path sends them freely.
"""

from __future__ import annotations

from collections.abc import Callable

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

step_attempt_finished = Signal(
    name="durable_step_attempt_finished",
    providing_args={
        "execution_id",
        "workflow",
        "step",
        "attempt",
        "status",
        "started_at",
        "duration",
        "exception",
    },
)
"""An attempt of a step ended and is recorded: `status` a StepStatus (completed or
failed), `started_at` an aware datetime, `duration` in seconds, `exception` the Python
exception of a failed attempt (None when completed)."""

execution_claimed = Signal(
    name="durable_execution_claimed",
    providing_args={"execution_id", "workflow", "lag", "first_claim", "trace_context"},
)
"""A worker claimed an execution to run it: `lag`, the seconds from the row becoming due
(its start, its timer, its wake) to this claim; `trace_context`, the starting caller's
trace context kept in the row (None without tracing). Sent before its first step runs."""

execution_released = Signal(
    name="durable_execution_released",
    providing_args={"execution_id", "workflow", "status"},
)
"""A worker stopped running an execution it claimed: `status`, the ExecutionStatus it
left it in, None when the claim was lost or the run raised. Paired with
`execution_claimed`, in the same thread."""

execution_suspended = Signal(
    name="durable_execution_suspended",
    providing_args={"execution_id", "workflow", "reason"},
)
"""An execution released its claim to wait; `reason`, a Suspension (sleep, event, input,
child, fanout)."""

execution_resumed = Signal(
    name="durable_execution_resumed",
    providing_args={"execution_id", "workflow", "reason"},
)
"""A worker claimed an execution that was waiting (`reason`, what it waited for)."""

claim_lost = Signal(name="durable_claim_lost", providing_args={"target", "row_id"})
"""A worker found its claim taken back (stale recovery, a control call) and stopped;
`target`, a WakeTarget (execution or item)."""

sweep_finished = Signal(
    name="durable_sweep_finished", providing_args={"sweep", "duration", "count"}
)
"""A beat-scheduled sweep ran: `sweep` "poll" or "recovery", `duration` in seconds,
`count` the wake-ups it sent (poll) or the claims it took back (recovery)."""


# --- the trace context an execution keeps -----------------------------------------------

TraceContextSource = Callable[[], "str | None"]
_trace_context_source: TraceContextSource | None = None


def set_trace_context_source(source: TraceContextSource | None) -> None:
    """Set what `trace_context` asks: durable_celery.observability.tracing sets it when
    tracing is on. A start keeps the answer in the execution's row."""
    global _trace_context_source
    _trace_context_source = source


def trace_context() -> str | None:
    """The caller's trace context to keep in a new execution's row; None without tracing."""
    source = _trace_context_source
    return None if source is None else source()
