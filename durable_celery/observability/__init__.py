"""Metrics (Prometheus) and traces (OpenTelemetry), both optional extras.

Receivers of `durable_celery.signals`: the engine sends values, these turn them into
metrics and spans, so the engine imports neither library. `install()` calls `enable`
with its settings: `durable_metrics_port` makes a worker serve /metrics, and
`durable_tracing` traces executions and keeps each starter's trace context in the row.
"""

from __future__ import annotations

import importlib.util

from durable_celery.config import Settings
from durable_celery.errors import ConfigurationError


def enable(settings: Settings) -> None:
    """Turn on what the settings ask for; ConfigurationError when its extra is missing."""
    if settings.tracing:
        _require("opentelemetry.sdk", "tracing", "durable_tracing")
        from durable_celery.observability import tracing

        tracing.enable()
    if settings.metrics_port is not None:
        _require("prometheus_client", "metrics", "durable_metrics_port")
        from durable_celery.observability import metrics

        metrics.serve_from_worker(settings.metrics_port)


def _require(module: str, extra: str, setting: str) -> None:
    if importlib.util.find_spec(module.split(".")[0]) is None or (
        importlib.util.find_spec(module) is None
    ):
        raise ConfigurationError(
            f"{setting} needs the {extra!r} extra: pip install 'durable-celery[{extra}]'"
        )
