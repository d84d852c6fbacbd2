"""A retry timer is a row, not a message: it survives every worker and the database
being restarted while it waits."""

from __future__ import annotations

import pytest

from durable_celery.store.connections import dispose_engines
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows_control import LongRetry
from tests.integration.restarts import restart_postgres

pytestmark = pytest.mark.faults


def test_a_retry_happens_after_all_workers_and_the_database_restarted(worker, runtime):
    first = WorkerProcess(queues=["timers"], concurrency=1, cwd=ROOT, name="timers-1").start()
    handle = LongRetry.start_durable({}, queue="timers")
    try:
        assert wait_until(lambda: len(handle.execution().steps) == 1, timeout=30)
        assert handle.execution().steps[0].status == "failed"
    finally:
        first.kill()

    restart_postgres()
    dispose_engines()

    # The session worker's beat keeps polling (its connections are replaced), and a fresh
    # worker for the queue picks the retry up when its timer is due.
    with WorkerProcess(queues=["timers"], concurrency=1, cwd=ROOT, name="timers-2"):
        assert handle.result(timeout=60) == 2
    steps = handle.execution().steps
    assert [(s.attempt, s.status) for s in steps] == [(1, "failed"), (2, "completed")]
    assert (steps[1].started_at - steps[0].completed_at).total_seconds() >= 3.9
