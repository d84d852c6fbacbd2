"""The trace context kept in an execution's row: encoded, decoded, and asked for at start."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from durable_celery import signals
from durable_celery.observability import tracing
from durable_celery.observability.tracing import decode_context, encode_context

tracer = TracerProvider().get_tracer("test")


def test_no_current_span_keeps_nothing():
    assert encode_context() is None


def test_a_context_round_trips_as_w3c_trace_context():
    with tracer.start_as_current_span("caller") as span:
        text = encode_context()
    assert text is not None
    expected = span.get_span_context()
    assert json.loads(text)["traceparent"].startswith(
        f"00-{expected.trace_id:032x}-{expected.span_id:016x}-"
    )
    restored = trace.get_current_span(decode_context(text)).get_span_context()
    assert (restored.trace_id, restored.span_id, restored.is_remote) == (
        expected.trace_id,
        expected.span_id,
        True,
    )


@pytest.mark.parametrize(
    "text", [None, "", "not json", "[1, 2]", '{"traceparent": "00-junk"}', '{"other": "x"}']
)
def test_an_unreadable_context_starts_a_new_trace(text):
    assert decode_context(text) is None


def test_a_start_asks_for_the_context_only_while_tracing_is_on():
    with tracer.start_as_current_span("caller"):
        assert signals.trace_context() is None
        tracing.enable(TracerProvider())
        try:
            assert signals.trace_context() == encode_context()
            assert signals.trace_context() is not None
        finally:
            tracing.disable()
        assert signals.trace_context() is None
