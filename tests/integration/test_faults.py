"""Fault injection: real `celery -A durable_celery worker` subprocesses killed, paused and
cut off from their database and broker, on real PostgreSQL and Redis.

Each test runs its own workers on queues of its own, with quick stale recovery (2 s) and
a maintenance worker that runs the beat (poller and recovery) and is never killed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.store.connections import dispose_engines
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows import runs_of
from tests.integration.flows_failures import ItemKillsItsWorker
from tests.integration.flows_faults import CrashMe, FiveSteps, KillsItsWorker
from tests.integration.restarts import restart_postgres, restart_redis

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

FAST_RECOVERY = {
    "DURABLE_STALE_LOCK_TIMEOUT": "2",
    "DURABLE_HEARTBEAT_INTERVAL": "0.3",
    "DURABLE_RECOVERY_INTERVAL": "0.5",
    "DURABLE_POLL_INTERVAL": "0.3",
    "DURABLE_DISPATCH_GRACE": "2",
    "DURABLE_MAINTENANCE_QUEUE": "faults-maintenance",
}


def fault_worker(
    name: str, queue: str = "faults", concurrency: int = 1, beat: bool = False
) -> WorkerProcess:
    queues = ["faults-maintenance"] if beat else [queue]
    return WorkerProcess(
        queues=queues,
        concurrency=concurrency,
        beat=beat,
        cwd=ROOT,
        name=name,
        env={**os.environ, **FAST_RECOVERY},
    )


@contextmanager
def maintenance(beats: int = 1) -> Iterator[list[WorkerProcess]]:
    with ExitStack() as stack:
        yield [stack.enter_context(fault_worker(f"beat{i}", beat=True)) for i in range(beats)]


def completed_once(db, execution_ids: list[str]) -> dict[tuple[str, str], int]:
    """How many completed rows each (execution, step) has: must be exactly one."""
    rows = db.execute(
        text(
            "SELECT execution_id, step_name, count(*) AS n FROM step_executions "
            "WHERE execution_id = ANY(CAST(:ids AS uuid[])) AND status = 'completed' GROUP BY 1, 2"
        ),
        {"ids": execution_ids},
    ).all()
    db.rollback()
    return {(str(row.execution_id), row.step_name): row.n for row in rows}


def test_sigkill_in_the_middle_of_a_step(runtime, worker, db):
    with maintenance():
        doomed = fault_worker("doomed").start()
        handle = CrashMe.start_durable({"pause": 3}, queue="faults")
        try:
            assert wait_until(lambda: runs_of(handle.id, "slow") == 1, timeout=30)
        finally:
            doomed.kill()
        with fault_worker("survivor"):
            result = handle.result(timeout=60)

    steps = handle.execution().steps
    assert [(s.step, s.attempt, s.status) for s in steps] == [
        ("first", 1, "completed"),
        ("slow", 1, "abandoned"),
        ("slow", 2, "completed"),
        ("last", 1, "completed"),
    ]
    assert result == steps[3].output
    # The completed step did not run again; the interrupted one did, on another worker.
    assert (
        runs_of(handle.id, "first"),
        runs_of(handle.id, "slow"),
        runs_of(handle.id, "last"),
    ) == (1, 2, 1)
    assert steps[1].worker != steps[2].worker


def test_postgres_restart_while_executions_run(runtime, worker, db):
    with (
        maintenance(),
        fault_worker("pg-a", concurrency=2) as first,
        fault_worker("pg-b", concurrency=2) as second,
    ):
        handles = [FiveSteps.start_durable({"pause": 0.05}, queue="faults") for _ in range(40)]
        ids = [h.id for h in handles]
        assert wait_until(lambda: len(completed_once(db, ids)) >= 20, timeout=30)
        restart_postgres()
        dispose_engines()
        db.invalidate()
        for handle in handles:
            handle.result(timeout=120)
        assert first.alive() and second.alive()  # the workers lived through it
    counts = completed_once(db, [h.id for h in handles])
    assert len(counts) == 40 * 5 and set(counts.values()) == {1}


def test_redis_restart_while_executions_wait_and_run(runtime, worker, db):
    with maintenance(), fault_worker("redis-a", concurrency=2):
        sleeping = [FiveSteps.start_durable({"sleep": 2}, queue="faults") for _ in range(10)]
        running = [FiveSteps.start_durable({"pause": 0.1}, queue="faults") for _ in range(10)]
        assert wait_until(lambda: all(h.status() == "waiting" for h in sleeping), timeout=30)
        restart_redis()
        queued = [FiveSteps.start_durable({}, queue="faults") for _ in range(5)]
        handles = sleeping + running + queued
        for handle in handles:
            handle.result(timeout=120)
    counts = completed_once(db, [h.id for h in handles])
    assert len(counts) == 25 * 5 and set(counts.values()) == {1}


def test_four_worker_processes_and_500_executions_of_5_steps(runtime, worker, db):
    with (
        maintenance(),
        fault_worker("many-a", concurrency=2),
        fault_worker("many-b", concurrency=2),
    ):
        handles = [FiveSteps.start_durable({}, queue="faults") for _ in range(500)]
        for handle in handles:
            handle.result(timeout=180)
    ids = [h.id for h in handles]
    counts = completed_once(db, ids)
    assert len(counts) == 500 * 5 and set(counts.values()) == {1}
    workers = db.execute(
        text(
            "SELECT count(DISTINCT worker) FROM step_executions WHERE execution_id = "
            "ANY(CAST(:ids AS uuid[]))"
        ),
        {"ids": ids},
    ).scalar_one()
    db.rollback()
    assert workers == 4


def test_a_paused_worker_whose_claim_was_recovered_writes_nothing(runtime, worker, db):
    with maintenance():
        paused = fault_worker("paused").start()
        handle = CrashMe.start_durable({"pause": 3}, queue="faults")
        try:
            assert wait_until(lambda: runs_of(handle.id, "slow") == 1, timeout=30)
            paused.signal_group(signal.SIGSTOP)
            with fault_worker("taker"):
                handle.result(timeout=60)
                before = handle.execution()
                paused.signal_group(signal.SIGCONT)
                # The paused step finishes its sleep and tries to checkpoint: fenced out.
                assert wait_until(lambda: "claim lost" in paused.log_tail(200), timeout=30)
        finally:
            paused.signal_group(signal.SIGCONT)
            paused.stop()
    after = handle.execution()
    assert after == before
    assert [(s.step, s.status) for s in after.steps] == [
        ("first", "completed"),
        ("slow", "abandoned"),
        ("slow", "completed"),
        ("last", "completed"),
    ]
    assert runs_of(handle.id, "slow") == 2  # it ran twice (at least once), recorded once


def test_two_beats_at_once_run_nothing_twice(runtime, worker, db):
    with maintenance(beats=2), fault_worker("two-beats", concurrency=2):
        handles = [
            CrashMe.start_durable({"pause": 0}, queue="faults", delay=0.5) for _ in range(30)
        ]
        for handle in handles:
            handle.result(timeout=60)
    counts = completed_once(db, [h.id for h in handles])
    assert len(counts) == 30 * 3 and set(counts.values()) == {1}
    for handle in handles:
        assert (
            runs_of(handle.id, "first"),
            runs_of(handle.id, "slow"),
            runs_of(handle.id, "last"),
        ) == (1, 1, 1)


def test_a_step_longer_than_the_stale_timeout_keeps_its_claim(runtime, worker, db):
    # Stale timeout 2 s, step 5 s: only the heartbeat keeps recovery from taking it.
    with maintenance(), fault_worker("long-step"):
        handle = CrashMe.start_durable({"pause": 5}, queue="faults")
        handle.result(timeout=60)
    steps = handle.execution().steps
    assert [(s.step, s.attempt, s.status) for s in steps] == [
        ("first", 1, "completed"),
        ("slow", 1, "completed"),
        ("last", 1, "completed"),
    ]
    assert runs_of(handle.id, "slow") == 1


def test_a_step_that_kills_its_worker_every_time_fails_after_a_bounded_number_of_tries(
    runtime, worker, db
):
    with maintenance(), fault_worker("poisoned", concurrency=1):
        handle = KillsItsWorker.start_durable({}, queue="faults")
        with pytest.raises(dc.WorkflowFailed) as failed:
            handle.result(timeout=120)
    assert failed.value.error["type"] == "durable_celery.errors.StepLimitExceeded"
    # One attempt of its budget plus MAX_ABANDONED_ATTEMPTS (3) abandoned by dead workers.
    assert runs_of(handle.id, "poison") == 4
    assert [s.status for s in handle.execution().steps] == ["abandoned"] * 4


def test_an_item_that_kills_its_worker_every_time_fails_after_a_bounded_number_of_tries(
    runtime, worker, db
):
    with maintenance(), fault_worker("poisoned-items", concurrency=1):
        handle = ItemKillsItsWorker.start_durable({}, queue="faults")
        with pytest.raises(dc.WorkflowFailed) as failed:
            handle.result(timeout=120)
    assert failed.value.error["type"] == "durable_celery.errors.FanoutFailed"
    assert "StepLimitExceeded" in failed.value.error["message"]
    assert runs_of(handle.id, "run") == 4
    statuses = db.execute(
        text("SELECT status FROM step_items WHERE execution_id = :id ORDER BY item_index"),
        {"id": handle.id},
    ).scalars()
    assert list(statuses) == ["completed", "failed"]
    db.rollback()
