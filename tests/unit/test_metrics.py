"""The metrics' receivers and settings, without services: signals sent by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from durable_celery import signals
from durable_celery.config import Settings
from durable_celery.errors import ConfigurationError
from durable_celery.observability.metrics import SPECS, Metrics, finished_labels, step_labels
from durable_celery.states import ExecutionStatus, StepStatus, Suspension, WakeTarget


@pytest.fixture()
def metrics():
    registry = CollectorRegistry()
    connected = Metrics(registry).connect()
    yield registry
    connected.disconnect()


def test_labels_are_the_enums_values():
    assert step_labels("wf", "charge", StepStatus.FAILED) == ("wf", "charge", "failed")
    assert finished_labels("wf", ExecutionStatus.TIMED_OUT) == ("wf", "timed_out")
    assert finished_labels("wf", Suspension.SLEEP) == ("wf", "sleep")


def test_every_metric_is_named_and_documented():
    names = [spec.name for spec in SPECS]
    assert len(names) == len(set(names))
    assert all(spec.name.startswith("durable_") and spec.doc for spec in SPECS)
    assert all(spec.buckets for spec in SPECS if spec.kind == "histogram")


def test_the_receivers_count_by_label(metrics):
    common = {"sender": "wf", "workflow": "wf", "execution_id": "e1"}
    signals.execution_started.send(**common)
    signals.execution_claimed.send(**common, lag=0.2, first_claim=True, trace_context=None)
    for status in (StepStatus.FAILED, StepStatus.COMPLETED):
        signals.step_attempt_finished.send(
            **common,
            step="charge",
            attempt=1,
            status=status,
            started_at=datetime.now(UTC),
            duration=0.05,
            exception=None,
        )
    signals.step_failed.send(**common, step="charge", attempt=1, exception=None, will_retry=True)
    signals.step_failed.send(**common, step="charge", attempt=2, exception=None, will_retry=False)
    signals.execution_suspended.send(**common, reason=Suspension.EVENT)
    signals.execution_resumed.send(**common, reason=Suspension.EVENT)
    signals.execution_finished.send(**common, status=ExecutionStatus.COMPLETED)
    signals.claim_lost.send(sender=WakeTarget.ITEM, target=WakeTarget.ITEM, row_id="i1")
    signals.sweep_finished.send(sender="poll", sweep="poll", duration=0.01, count=7)

    def value(name: str, **labels: str) -> float | None:
        return metrics.get_sample_value(name, labels)

    assert value("durable_executions_started_total", workflow="wf") == 1
    assert value("durable_executions_finished_total", workflow="wf", status="completed") == 1
    step = {"workflow": "wf", "step": "charge"}
    assert value("durable_step_attempts_total", **step, status="failed") == 1
    assert value("durable_step_attempts_total", **step, status="completed") == 1
    assert value("durable_step_duration_seconds_count", **step, status="completed") == 1
    assert value("durable_step_retries_total", **step) == 1
    assert value("durable_waits_suspended_total", workflow="wf", reason="event") == 1
    assert value("durable_waits_resumed_total", workflow="wf", reason="event") == 1
    assert value("durable_wake_lag_seconds_sum", workflow="wf") == pytest.approx(0.2)
    assert value("durable_claims_lost_total", target="item") == 1
    assert value("durable_sweep_rows_total", sweep="poll") == 7
    assert value("durable_sweep_duration_seconds_count", sweep="poll") == 1


def test_disconnected_receivers_count_nothing():
    registry = CollectorRegistry()
    Metrics(registry).connect().disconnect()
    signals.execution_started.send(sender="wf", workflow="wf", execution_id="e1")
    assert registry.get_sample_value("durable_executions_started_total", {"workflow": "wf"}) is None


@pytest.mark.parametrize("port", ["0", "70000", "http", "80.5"])
def test_a_metrics_port_is_a_tcp_port(port):
    with pytest.raises(ConfigurationError, match="durable_metrics_port"):
        Settings.resolve(environ={"DURABLE_METRICS_PORT": port})


def test_settings_from_the_environment():
    settings = Settings.resolve(environ={"DURABLE_METRICS_PORT": "9464", "DURABLE_TRACING": "on"})
    assert (settings.metrics_port, settings.tracing) == (9464, True)
    assert Settings.resolve(environ={}).tracing is False
    with pytest.raises(ConfigurationError, match="durable_tracing"):
        Settings.resolve(environ={"DURABLE_TRACING": "maybe"})
