"""What a Celery operator relies on: time limits that do not kill workflows, a quiet log
that shows failures, start-up checks, and signals for error trackers."""

from __future__ import annotations

import os
import uuid

import pytest
from celery import Celery

import durable_celery as dc
from durable_celery import signals
from durable_celery.client import start_execution
from durable_celery.config import Settings
from durable_celery.engine import run_execution
from durable_celery.runtime import Runtime
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT, RUN, create_database, drop_database
from tests.integration.flows import FailsInSecond, ThreeSteps
from tests.integration.flows_faults import CrashMe, FiveSteps


def test_celery_time_limits_neither_kill_nor_stall_a_workflow(runtime):
    env = {**os.environ, "CELERY_CONFIG_MODULE": "tests.integration.time_limited_config"}
    with WorkerProcess(
        queues=["limited"],
        concurrency=1,
        beat=True,
        loglevel="info",
        cwd=ROOT,
        env=env,
        name="limited",
    ) as worker:
        # A 3 s step under task_time_limit=2: the wake-up is not SIGKILLed mid-step.
        slow = CrashMe.start_durable({"pause": 3}, queue="limited")
        slow.result(timeout=60)
        # Five 0.4 s steps under task_soft_time_limit=1: wake-ups hand over between steps.
        steps = FiveSteps.start_durable({"pause": 0.4}, queue="limited")
        steps.result(timeout=60)
        beat_lines = ("durable_celery.poll[", "durable_celery.recover[", "due task durable-celery")
        assert not wait_until(
            lambda: any(line in worker.log_tail(20) for line in beat_lines), timeout=3
        ), worker.log_tail(20)
        log = worker.log_tail(5_000)
    assert [s.status for s in slow.execution().steps] == ["completed"] * 3
    assert [s.status for s in steps.execution().steps] == ["completed"] * 5
    received = [line for line in log.splitlines() if "five_steps" in line and "received" in line]
    assert len(received) >= 2  # handed over at least once, not one task for all five steps
    # Quiet: Celery's lines for the poll and recovery beat tasks stay at DEBUG.
    assert not any(line in log for line in beat_lines)
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert warnings and all("does not consume queue" in line for line in warnings), warnings
    # Loud where it matters: the queues this worker leaves unserved are named.
    assert "this worker does not consume queue 'default'" in log


def test_a_worker_on_an_unmigrated_database_says_so_once_and_backs_off(runtime):
    name = f"durable_unmigrated_{RUN}"
    url = create_database(name)
    try:
        env = {
            **os.environ,
            "DURABLE_DATABASE_URL": url,
            "DURABLE_POLL_INTERVAL": "0.2",
            "DURABLE_MAINTENANCE_QUEUE": "unmigrated",
        }
        with WorkerProcess(
            queues=["unmigrated"],
            concurrency=1,
            beat=True,
            loglevel="info",
            cwd=ROOT,
            env=env,
            name="unmigrated",
        ) as worker:
            assert wait_until(lambda: "tables are missing" in worker.log_tail(200), timeout=30)
            assert wait_until(lambda: "poll skipped" in worker.log_tail(200), timeout=30), (
                worker.log_tail(60)
            )
            log_before = worker.log_tail(5_000)
            assert not wait_until(
                lambda: (
                    worker.log_tail(5_000).count("poll skipped")
                    > log_before.count("poll skipped") + 3
                ),
                timeout=4,
            )  # 20 polls in 4 s, at most a few lines: the skips back off
            log = worker.log_tail(5_000)
        assert "run `durable-celery -A APP migrate`" in log
        assert "Traceback" not in log
        missing = Runtime(Celery("unmigrated", broker="memory://"), Settings(database_url=url))
        with pytest.raises(dc.SchemaNotReady, match="durable-celery -A APP migrate"):
            start_execution(ThreeSteps, {}, runtime=missing)
    finally:
        drop_database(name)


def test_a_wake_up_hands_over_after_its_time_budget(runtime):
    budgeted = Runtime(
        runtime.app,
        Settings(database_url=runtime.settings.database_url, wake_time_budget=0.5),
    )
    handle = FiveSteps.start_durable({"pause": 0.3}, queue="nobody-listens")
    assert run_execution(budgeted, handle.id) == "pending"  # handed over after two steps
    assert len(handle.execution().steps) == 2
    while (status := run_execution(budgeted, handle.id)) == "pending":
        pass
    assert status == "completed"
    assert [s.status for s in handle.execution().steps] == ["completed"] * 5


def test_signals_tell_error_trackers_what_failed(runtime):
    heard: list[tuple[str, dict[str, object]]] = []

    def listener(name: str):  # type: ignore[no-untyped-def]
        def receive(sender, **kwargs):  # type: ignore[no-untyped-def]
            heard.append((name, {"sender": sender, **kwargs}))

        return receive

    receivers = {
        signal: listener(name)
        for name, signal in (
            ("started", signals.execution_started),
            ("finished", signals.execution_finished),
            ("failed", signals.execution_failed),
            ("step_failed", signals.step_failed),
        )
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        handle = FailsInSecond.start_durable({"customer": uuid.uuid4().hex}, queue="nobody-listens")
        assert run_execution(runtime, handle.id) == "failed"
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    names = [name for name, _ in heard]
    assert names == ["started", "step_failed", "finished", "failed"]
    step_failed, failed = heard[1][1], heard[3][1]
    assert (step_failed["step"], step_failed["attempt"], step_failed["will_retry"]) == (
        "boom",
        1,
        False,
    )
    assert failed["sender"] == "tests.fails_in_second"
    assert failed["execution_id"] == handle.id
    assert failed["status"] == "failed"
    assert type(failed["exception"]).__name__ == "ChargeFailure"
    assert failed["error"]["type"] == "tests.integration.flows.ChargeFailure"
