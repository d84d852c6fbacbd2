"""Prometheus metrics of the engine, from its signals.

A worker with `durable_metrics_port` serves them at http://<host>:<port>/metrics from its
main process. Celery's prefork children each count in their own process, so the worker
runs prometheus_client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR (a fresh temporary
directory unless set) is set before the pool forks, the children (which run the steps
and the poll and recovery tasks) write their values there, and the main process's server
sums them (MultiProcessCollector). A directory it made is removed when the worker stops.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from celery.signals import worker_init, worker_process_shutdown, worker_shutdown

from durable_celery import signals

logger = logging.getLogger("durable_celery.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Durable steps run from milliseconds to hours; timers are due to the second.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str  # "counter" or "histogram"
    labels: tuple[str, ...]
    doc: str
    buckets: tuple[float, ...] = ()


SPECS = (
    MetricSpec("durable_executions_started", "counter", ("workflow",), "Executions started"),
    MetricSpec(
        "durable_executions_finished",
        "counter",
        ("workflow", "status"),
        "Executions ended, by final status",
    ),
    MetricSpec(
        "durable_step_attempts",
        "counter",
        ("workflow", "step", "status"),
        "Step attempts recorded, by status (completed, failed)",
    ),
    MetricSpec(
        "durable_step_duration_seconds",
        "histogram",
        ("workflow", "step", "status"),
        "Duration of step attempts",
        DURATION_BUCKETS,
    ),
    MetricSpec(
        "durable_step_retries",
        "counter",
        ("workflow", "step"),
        "Failed step attempts that the retry policy runs again",
    ),
    MetricSpec(
        "durable_waits_suspended",
        "counter",
        ("workflow", "reason"),
        "Executions that released their claim to wait (sleep, event, input, child, fanout)",
    ),
    MetricSpec(
        "durable_waits_resumed",
        "counter",
        ("workflow", "reason"),
        "Waiting executions claimed again",
    ),
    MetricSpec(
        "durable_wake_lag_seconds",
        "histogram",
        ("workflow",),
        "Seconds from an execution becoming due to its claim",
        LAG_BUCKETS,
    ),
    MetricSpec(
        "durable_claims_lost", "counter", ("target",), "Claims taken back while a worker ran"
    ),
    MetricSpec(
        "durable_sweep_duration_seconds",
        "histogram",
        ("sweep",),
        "Duration of the poller's and stale recovery's runs",
        DURATION_BUCKETS,
    ),
    MetricSpec(
        "durable_sweep_rows",
        "counter",
        ("sweep",),
        "Wake-ups the poller sent, executions and items stale recovery took back",
    ),
)


def step_labels(workflow: str, step: str, status: Any) -> tuple[str, str, str]:
    """The labels of a step attempt: status as its enum's value ("completed")."""
    return workflow, step, str(getattr(status, "value", status))


def finished_labels(workflow: str, status: Any) -> tuple[str, str]:
    return workflow, str(getattr(status, "value", status))


class Metrics:
    """The metrics, and the signal receivers that update them."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Counter, Histogram

        registry = REGISTRY if registry is None else registry
        self.by_name: dict[str, Any] = {}
        for spec in SPECS:
            if spec.kind == "counter":
                metric: Any = Counter(spec.name, spec.doc, spec.labels, registry=registry)
            else:
                metric = Histogram(
                    spec.name, spec.doc, spec.labels, registry=registry, buckets=spec.buckets
                )
            self.by_name[spec.name] = metric
        self._receivers = (
            (signals.execution_started, self.on_started),
            (signals.execution_finished, self.on_finished),
            (signals.step_attempt_finished, self.on_attempt),
            (signals.step_failed, self.on_step_failed),
            (signals.execution_suspended, self.on_suspended),
            (signals.execution_resumed, self.on_resumed),
            (signals.execution_claimed, self.on_claimed),
            (signals.claim_lost, self.on_claim_lost),
            (signals.sweep_finished, self.on_sweep),
        )

    def connect(self) -> Metrics:
        for signal, receiver in self._receivers:
            signal.connect(receiver, weak=False, dispatch_uid=f"durable_metrics.{signal.name}")
        return self

    def disconnect(self) -> None:
        for signal, _ in self._receivers:
            signal.disconnect(dispatch_uid=f"durable_metrics.{signal.name}")

    def _get(self, name: str, *labels: str) -> Any:
        return self.by_name[name].labels(*labels)

    def on_started(self, workflow: str, **_: Any) -> None:
        self._get("durable_executions_started", workflow).inc()

    def on_finished(self, workflow: str, status: Any, **_: Any) -> None:
        self._get("durable_executions_finished", *finished_labels(workflow, status)).inc()

    def on_attempt(self, workflow: str, step: str, status: Any, duration: float, **_: Any) -> None:
        labels = step_labels(workflow, step, status)
        self._get("durable_step_attempts", *labels).inc()
        self._get("durable_step_duration_seconds", *labels).observe(duration)

    def on_step_failed(self, workflow: str, step: str, will_retry: bool, **_: Any) -> None:
        if will_retry:
            self._get("durable_step_retries", workflow, step).inc()

    def on_suspended(self, workflow: str, reason: Any, **_: Any) -> None:
        self._get("durable_waits_suspended", *finished_labels(workflow, reason)).inc()

    def on_resumed(self, workflow: str, reason: Any, **_: Any) -> None:
        self._get("durable_waits_resumed", *finished_labels(workflow, reason)).inc()

    def on_claimed(self, workflow: str, lag: float, **_: Any) -> None:
        self._get("durable_wake_lag_seconds", workflow).observe(lag)

    def on_claim_lost(self, target: Any, **_: Any) -> None:
        self._get("durable_claims_lost", str(getattr(target, "value", target))).inc()

    def on_sweep(self, sweep: str, duration: float, count: int, **_: Any) -> None:
        self._get("durable_sweep_duration_seconds", sweep).observe(duration)
        self._get("durable_sweep_rows", sweep).inc(count)


# --- the worker's endpoint ------------------------------------------------------------------

_port: int | None = None
_made_dir: str | None = None  # the multiprocess directory this process made, if it did


def serve_from_worker(port: int) -> None:
    """Serve /metrics on `port` from the main process of each Celery worker started in
    this process from now on (its worker_init); idempotent."""
    global _port
    _port = port
    worker_init.connect(_on_worker_init, weak=False, dispatch_uid="durable_metrics.serve")
    worker_process_shutdown.connect(
        _on_process_shutdown, weak=False, dispatch_uid="durable_metrics.dead"
    )
    worker_shutdown.connect(_on_worker_shutdown, weak=False, dispatch_uid="durable_metrics.end")


def _on_worker_init(**_: Any) -> None:
    if _port is None:
        return
    use_multiprocess_dir()
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(_port, registry=registry)
    # Connected before the pool forks: the children and the embedded beat inherit it.
    Metrics(CollectorRegistry()).connect()
    logger.info("durable-celery metrics at http://0.0.0.0:%d/metrics", _port)


def use_multiprocess_dir() -> str:
    """PROMETHEUS_MULTIPROC_DIR, a new temporary directory unless set; returned."""
    global _made_dir
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        directory = _made_dir = tempfile.mkdtemp(prefix="durable-metrics-")
        os.environ[MULTIPROC_ENV] = directory
    values: Any = sys.modules.get("prometheus_client.values")
    if values is not None:
        # Imported before the variable was set (by the app): the kind of value it
        # chose at import is per process; metrics made from now on share the directory.
        values.ValueClass = values.get_value_class()
    return directory


def _on_process_shutdown(pid: int | None = None, **_: Any) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


def _on_worker_shutdown(**_: Any) -> None:
    # Sent in the main process once the pool's children have stopped.
    if _made_dir is not None and os.environ.get(MULTIPROC_ENV) == _made_dir:
        shutil.rmtree(_made_dir, ignore_errors=True)


def exposition() -> tuple[bytes, str]:
    """The metrics of this process, or of every process writing to PROMETHEUS_MULTIPROC_DIR
    (a worker's children, on this host) when it is set: (body, content type). For a web
    app's own /metrics view (the dashboard serves it)."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
