"""Prometheus metrics of a prefork worker (two children and an embedded beat), scraped over
HTTP after it ran executions that completed, failed after a retry, and slept."""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows_observe import (
    ObservedAlwaysFails,
    ObservedSleeper,
    ObservedTwoSteps,
)

QUEUE = "observed"
TWO = ObservedTwoSteps.name
FAILS = ObservedAlwaysFails.name
SLEEPER = ObservedSleeper.name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return float(samples.get((name, frozenset(labels.items())), 0.0))


EXPECTED = {
    ("durable_executions_started_total", (("workflow", TWO),)): 2,
    ("durable_executions_started_total", (("workflow", FAILS),)): 1,
    ("durable_executions_started_total", (("workflow", SLEEPER),)): 1,
    ("durable_executions_finished_total", (("workflow", TWO), ("status", "completed"))): 2,
    ("durable_executions_finished_total", (("workflow", FAILS), ("status", "failed"))): 1,
    ("durable_executions_finished_total", (("workflow", SLEEPER), ("status", "completed"))): 1,
    (
        "durable_step_attempts_total",
        (("workflow", TWO), ("step", "first"), ("status", "completed")),
    ): 2,
    (
        "durable_step_attempts_total",
        (("workflow", TWO), ("step", "second"), ("status", "completed")),
    ): 2,
    (
        "durable_step_duration_seconds_count",
        (("workflow", TWO), ("step", "second"), ("status", "completed")),
    ): 2,
    (
        "durable_step_attempts_total",
        (("workflow", FAILS), ("step", "flaky"), ("status", "failed")),
    ): 2,
    (
        "durable_step_duration_seconds_count",
        (("workflow", FAILS), ("step", "flaky"), ("status", "failed")),
    ): 2,
    ("durable_step_retries_total", (("workflow", FAILS), ("step", "flaky"))): 1,
    (
        "durable_step_attempts_total",
        (("workflow", SLEEPER), ("step", "after"), ("status", "completed")),
    ): 1,
    ("durable_waits_suspended_total", (("workflow", SLEEPER), ("reason", "sleep"))): 1,
    ("durable_waits_resumed_total", (("workflow", SLEEPER), ("reason", "sleep"))): 1,
    # One claim per execution that never waited; one more per retry timer and per wake.
    ("durable_wake_lag_seconds_count", (("workflow", TWO),)): 2,
    ("durable_wake_lag_seconds_count", (("workflow", FAILS),)): 2,
    ("durable_wake_lag_seconds_count", (("workflow", SLEEPER),)): 2,
}


def _observed(samples: dict) -> dict:  # type: ignore[type-arg]
    return {key: _value(samples, key[0], **dict(key[1])) for key in EXPECTED}


@pytest.mark.timeout(90)
def test_a_prefork_worker_serves_metrics_of_its_children(runtime, tmp_path):
    port = _free_port()
    # Its beat's sweeps go to its own queue: the test needs no other worker.
    env = {**os.environ, "DURABLE_METRICS_PORT": str(port), "DURABLE_MAINTENANCE_QUEUE": QUEUE}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "worker.log"
    with WorkerProcess(
        queues=[QUEUE], concurrency=2, beat=True, cwd=ROOT, env=env, name="metrics", log_path=log
    ):
        handles = [
            ObservedTwoSteps.start_durable({}, queue=QUEUE),
            ObservedTwoSteps.start_durable({}, queue=QUEUE),
            ObservedAlwaysFails.start_durable({}, queue=QUEUE),
            ObservedSleeper.start_durable({"seconds": 0.3}, queue=QUEUE),
        ]
        finished = wait_until(lambda: all(h.status().finished for h in handles), timeout=45)
        assert finished, log.read_text()[-5000:]
        # The counters move after the commit: wait for the scrape to catch up.
        # The sweeps count too once beat's first poll ran (beat starts after the worker).
        wait_until(
            lambda: (
                _observed(samples := _scrape(port)) == EXPECTED
                and _value(samples, "durable_sweep_duration_seconds_count", sweep="poll") >= 1
            ),
            timeout=20,
            interval=0.2,
        )
        samples = _scrape(port)

    assert _observed(samples) == EXPECTED
    # The sweeps count too: beat sends them as tasks, which the children run.
    assert _value(samples, "durable_sweep_duration_seconds_count", sweep="poll") >= 1
    assert ("durable_sweep_rows_total", frozenset({("sweep", "poll")})) in samples
