"""OpenTelemetry traces: one trace from the caller through every step of an execution that
slept in between, run in this process through the real engine and database (run_inline)
with an in-memory exporter. The resumed run finds the caller's context in the row: the
caller's span has ended by then, and nothing else carries it."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from durable_celery import ExecutionStatus
from durable_celery.observability import tracing
from durable_celery.testing import VirtualClock, run_inline
from durable_celery.time import seconds
from tests.integration.flows_observe import (
    ObservedAlwaysFails,
    ObservedChild,
    ObservedParent,
    ObservedSleeper,
)


@pytest.fixture()
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    yield provider, exporter
    tracing.disable()


def _named(finished: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [span for span in finished if span.name.startswith(prefix)]


def test_one_trace_from_the_caller_through_a_sleep(durable_db, spans):
    provider, exporter = spans
    clock = VirtualClock()
    with provider.get_tracer("shop").start_as_current_span("checkout") as caller:
        run = run_inline(ObservedSleeper, {"seconds": 30}, clock=clock)
    assert run.status() is ExecutionStatus.WAITING
    clock.advance(seconds(30))  # outside the caller's span: only the row knows its trace
    assert run.result() == "after"

    finished = exporter.get_finished_spans()
    trace_id = caller.get_span_context().trace_id
    assert {span.context.trace_id for span in finished} == {trace_id}

    runs = _named(finished, "durable run ")
    assert len(runs) == 2  # before the sleep, and after it
    assert all(span.parent.span_id == caller.get_span_context().span_id for span in runs)
    assert [span.attributes["durable.first_claim"] for span in runs] == [True, False]
    assert [event.name for event in runs[0].events] == ["suspended"]
    assert [event.name for event in runs[1].events] == ["resumed"]
    assert runs[1].attributes["durable.status"] == "completed"

    steps = _named(finished, "durable step ")
    assert [span.attributes["durable.step"] for span in steps] == ["before", "nap", "after"]
    parents = [span.parent.span_id for span in steps]
    assert parents == [runs[0].context.span_id, runs[1].context.span_id, runs[1].context.span_id]
    assert all(span.attributes["durable.execution_id"] == run.id for span in steps + runs)
    assert all(span.attributes["durable.status"] == "completed" for span in steps)


def test_failed_attempts_record_their_error(durable_db, spans):
    provider, exporter = spans
    clock = VirtualClock()
    with provider.get_tracer("shop").start_as_current_span("refund") as caller:
        run = run_inline(ObservedAlwaysFails, clock=clock)
    clock.advance(seconds(1))
    assert run.status() is ExecutionStatus.FAILED

    finished = exporter.get_finished_spans()
    steps = _named(finished, "durable step ")
    assert [span.attributes["durable.attempt"] for span in steps] == [1, 2]
    assert all(span.status.status_code is StatusCode.ERROR for span in steps)
    assert all(span.events[0].name == "exception" for span in steps)
    assert {span.context.trace_id for span in finished} == {caller.get_span_context().trace_id}
    assert _named(finished, "durable run ")[-1].status.status_code is StatusCode.ERROR


def test_without_a_current_trace_an_execution_starts_its_own(durable_db, spans):
    run_inline(ObservedSleeper, {"seconds": 30})
    _, exporter = spans
    runs = _named(exporter.get_finished_spans(), "durable run ")
    assert runs and runs[0].parent is None  # a trace of its own


def test_a_child_joins_its_parents_trace(durable_db, spans):
    provider, exporter = spans
    clock = VirtualClock()
    with provider.get_tracer("shop").start_as_current_span("import") as caller:
        run = run_inline(ObservedParent, clock=clock)
    clock.advance(seconds(30))  # the child starts now, outside the caller's span
    assert run.result() == "child done"

    finished = exporter.get_finished_spans()
    assert {span.context.trace_id for span in finished} == {caller.get_span_context().trace_id}
    child_runs = [
        span for span in _named(finished, "durable run ") if span.name.endswith(ObservedChild.name)
    ]
    assert child_runs and all(span.parent is not None for span in child_runs)
