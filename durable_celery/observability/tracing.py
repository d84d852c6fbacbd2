"""OpenTelemetry spans of executions and step attempts, from the engine's signals.

A start keeps the caller's trace context (W3C traceparent/tracestate, through the global
propagator, as JSON text) in the execution's row; every claim reads it back. So each run
of an execution, on any worker and after a wait of days, joins the caller's trace:

    caller span
      durable run <workflow>       one per claim: from the claim to its release
        durable step <workflow>.<step>   one per attempt, with its real start and end

A run span per claim rather than one span for the whole execution: a span cannot stay
open across processes and days, and its parent must exist before its children are
exported. Waits show as "suspended"/"resumed" events on the run spans.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from durable_celery import signals
from durable_celery.states import FAILED_ENDINGS, ExecutionStatus

TRACER_NAME = "durable_celery"
# A context that cannot be kept whole is not kept: half a traceparent joins no trace.
MAX_CONTEXT_CHARS = 4096


def encode_context(context: Context | None = None) -> str | None:
    """The trace context of `context` (the current one by default) as JSON text; None when
    there is no trace to join."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    if "traceparent" not in carrier:
        return None
    text = json.dumps(carrier, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= MAX_CONTEXT_CHARS else None


def decode_context(text: str | None) -> Context | None:
    """The context kept by `encode_context`; None for nothing or anything unreadable (a
    broken context starts a new trace rather than failing the execution)."""
    if not text:
        return None
    try:
        carrier = json.loads(text)
    except ValueError:
        return None
    if not isinstance(carrier, dict):
        return None
    carrier = {str(key): str(value) for key, value in carrier.items()}
    context = propagate.extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


class Tracing:
    """The signal receivers that make spans; `tracer_provider` None: the global one."""

    def __init__(self, tracer_provider: Any = None) -> None:
        self.tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
        # The open run span of each execution this process holds a claim of.
        self.runs: dict[str, Span] = {}
        self._receivers = (
            (signals.execution_claimed, self.on_claimed),
            (signals.execution_released, self.on_released),
            (signals.step_attempt_finished, self.on_attempt),
            (signals.execution_suspended, self.on_suspended),
            (signals.execution_resumed, self.on_resumed),
        )

    def connect(self) -> Tracing:
        for signal, receiver in self._receivers:
            signal.connect(receiver, weak=False, dispatch_uid=f"durable_tracing.{signal.name}")
        signals.set_trace_context_source(encode_context)
        return self

    def disconnect(self) -> None:
        for signal, _ in self._receivers:
            signal.disconnect(dispatch_uid=f"durable_tracing.{signal.name}")
        signals.set_trace_context_source(None)
        for span in self.runs.values():
            span.end()
        self.runs.clear()

    def on_claimed(
        self,
        execution_id: str,
        workflow: str,
        lag: float,
        first_claim: bool,
        trace_context: str | None,
        **_: Any,
    ) -> None:
        self.runs[execution_id] = self.tracer.start_span(
            f"durable run {workflow}",
            context=decode_context(trace_context),
            kind=SpanKind.CONSUMER,
            attributes={
                "durable.workflow": workflow,
                "durable.execution_id": execution_id,
                "durable.first_claim": first_claim,
                "durable.wake_lag_seconds": lag,
            },
        )

    def on_released(self, execution_id: str, status: ExecutionStatus | None, **_: Any) -> None:
        span = self.runs.pop(execution_id, None)
        if span is None:
            return
        span.set_attribute("durable.status", "claim_lost" if status is None else str(status))
        if status is None or status in FAILED_ENDINGS or status is ExecutionStatus.TIMED_OUT:
            span.set_status(Status(StatusCode.ERROR, f"execution {status or 'claim lost'}"))
        span.end()

    def on_attempt(
        self,
        execution_id: str,
        workflow: str,
        step: str,
        attempt: int,
        status: Any,
        started_at: datetime,
        duration: float,
        exception: BaseException | None,
        **_: Any,
    ) -> None:
        run = self.runs.get(execution_id)
        start = _ns(started_at)
        span = self.tracer.start_span(
            f"durable step {workflow}.{step}",
            context=None if run is None else trace.set_span_in_context(run),
            start_time=start,
            attributes={
                "durable.workflow": workflow,
                "durable.execution_id": execution_id,
                "durable.step": step,
                "durable.attempt": attempt,
                "durable.status": str(getattr(status, "value", status)),
            },
        )
        if exception is not None:
            span.record_exception(exception)
            span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}: {exception}"))
        span.end(end_time=start + int(duration * 1_000_000_000))

    def on_suspended(self, execution_id: str, reason: Any, **_: Any) -> None:
        self._event(execution_id, "suspended", reason)

    def on_resumed(self, execution_id: str, reason: Any, **_: Any) -> None:
        self._event(execution_id, "resumed", reason)

    def _event(self, execution_id: str, name: str, reason: Any) -> None:
        span = self.runs.get(execution_id)
        if span is not None:
            span.add_event(name, {"durable.reason": str(getattr(reason, "value", reason))})


_enabled: Tracing | None = None


def enable(tracer_provider: Any = None) -> Tracing:
    """Trace executions from now on, in this process (a worker or a starter); once. Give
    `tracer_provider` to use one other than the global provider."""
    global _enabled
    if _enabled is not None:
        _enabled.disconnect()
    _enabled = Tracing(tracer_provider).connect()
    return _enabled


def disable() -> None:
    global _enabled
    if _enabled is not None:
        _enabled.disconnect()
        _enabled = None
