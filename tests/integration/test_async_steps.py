"""Async steps on real workers: many executions awaiting concurrently on one process's
event loop (threads pool) and on prefork, timeouts that cancel, sync and async mixed in
one workflow with decisions, items and compensations, and awaited event waits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows_async import AsyncEventWaits, AsyncHangs, AsyncMixed, AsyncNaps

THREADS_QUEUE = "tests-async-threads"
LOOP_THREAD = "durable-celery-event-loop"


@pytest.fixture(scope="module")
def threads_worker(worker: WorkerProcess) -> Iterator[WorkerProcess]:
    """One worker process, `-P threads -c 100`, on a queue of its own (the session
    worker's beat sends the polls)."""
    with WorkerProcess(
        queues=[THREADS_QUEUE], pool="threads", concurrency=100, cwd=ROOT, name="async-threads"
    ) as process:
        yield process


def most_at_once(db: Any, ids: list[str]) -> int:
    """The most step attempts of these executions that were running at one moment, from
    their recorded start and duration (the worker's clock)."""
    rows = db.execute(
        text(
            "SELECT started_at, duration_ms FROM step_executions "
            "WHERE execution_id = ANY(CAST(:ids AS uuid[]))"
        ),
        {"ids": ids},
    ).all()
    db.rollback()
    moments = sorted(
        [(row.started_at, 1) for row in rows]
        + [(row.started_at + timedelta(milliseconds=row.duration_ms), -1) for row in rows]
    )
    running = most = 0
    for _, change in moments:
        running += change
        most = max(most, running)
    return most


def all_finished(handles: list[dc.ExecutionHandle]) -> bool:
    return all(handle.status().finished for handle in handles)


@pytest.mark.timeout(120)
def test_100_async_executions_await_together_on_one_threads_worker_process(
    threads_worker: WorkerProcess, runtime: Any, db: Any
) -> None:
    handles = dc.start_many(AsyncNaps.name, [{} for _ in range(100)], queue=THREADS_QUEUE)
    assert wait_until(lambda: all_finished(handles), 90, interval=0.2), threads_worker.log_tail()

    executions = [handle.execution() for handle in handles]
    assert {execution.status for execution in executions} == {"completed"}
    places = {
        (step.output["pid"], step.output["thread"])
        for execution in executions
        for step in execution.steps or ()
    }
    # Every step of every execution ran in one process, on its event loop's thread...
    assert len(places) == 1 and next(iter(places))[1] == LOOP_THREAD, places
    # ...and they awaited their sleeps together, not one after the other.
    most = most_at_once(db, [handle.id for handle in handles])
    assert most >= 20, most


def test_async_executions_complete_on_prefork(worker: WorkerProcess) -> None:
    handles = dc.start_many(AsyncNaps.name, [{} for _ in range(6)])
    assert wait_until(lambda: all_finished(handles), 60, interval=0.2), worker.log_tail()
    for handle in handles:
        execution = handle.execution()
        assert execution.status == "completed"
        assert [step.output["thread"] for step in execution.steps or ()] == [LOOP_THREAD] * 3


def test_an_async_step_timeout_cancels_it_and_its_retry_follows(worker: WorkerProcess) -> None:
    handle = AsyncHangs.start_durable({})
    assert wait_until(lambda: handle.status().finished, 60), worker.log_tail()
    execution = handle.execution()
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["type"] == "durable_celery.errors.StepTimeout"
    attempts = execution.steps or []
    assert [(step.attempt, step.status) for step in attempts] == [(1, "failed"), (2, "failed")]
    for attempt in attempts:
        assert attempt.error is not None
        assert attempt.error["type"] == "durable_celery.errors.StepTimeout"
        # The coroutine saw its cancellation (what it printed then is kept).
        assert "STDOUT cancelled at the timeout" in attempt.logs


def test_sync_and_async_steps_decisions_items_and_compensations_mix(
    worker: WorkerProcess,
) -> None:
    done = AsyncMixed.start_durable({"n": 3})
    failing = AsyncMixed.start_durable({"n": 2, "fail": True})

    assert done.result(timeout=60) == {"doubled": [0, 2, 4], "fetched": 3}
    ran = [step.step for step in done.execution().steps or ()]
    assert ran == ["prepare", "fetch", "route", "doubled", "finish"]  # 'skipped' skipped

    assert wait_until(lambda: failing.status().finished, 60), worker.log_tail()
    execution = failing.execution()
    assert execution.status == "compensated"
    undo = [step for step in execution.steps or () if step.step == "unfetch"]
    assert [(step.status, step.output) for step in undo] == [("completed", "unfetched")]
    assert any("undone after finish failed" in line for line in undo[0].logs), undo[0].logs


def test_an_awaited_event_wait_resumes_on_send_event_and_times_out(
    worker: WorkerProcess,
) -> None:
    resumed = AsyncEventWaits.start_durable({"timeout": 60})
    late = AsyncEventWaits.start_durable({"timeout": 1, "timeout_value": "too late"})
    failed = AsyncEventWaits.start_durable({"timeout": 1})

    assert wait_until(lambda: resumed.status() == "waiting", 30), worker.log_tail()
    dc.send_event(resumed.id, "go", {"paid": 42})
    assert resumed.result(timeout=30) == {"paid": 42}
    assert late.result(timeout=30) == "too late"

    assert wait_until(lambda: failed.status().finished, 30), worker.log_tail()
    execution = failed.execution()
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["type"] == "durable_celery.errors.WaitTimeout"
