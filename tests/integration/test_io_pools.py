"""I/O-bound workloads on `-P threads` (and `-P gevent` when gevent is installed): step
timeouts interrupt the step, many claims run at once on a connection pool sized for the
worker's concurrency, and one heartbeat statement refreshes all of a process's claims.

These tests use a database and a broker database of their own, and workers that import
only tests.integration.flows_io, so that counting the connections to that database
counts only their worker's.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import durable_celery as dc
from durable_celery.client.start import start_execution
from durable_celery.config import POOL_MARGIN, Settings
from durable_celery.runtime import Runtime, bundled_app
from durable_celery.store.connections import dispose_engines
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT, RUN, clone_database, drop_database, servers
from tests.integration.flows_io import (
    HoldsItsClaim,
    LoopsPastItsTimeout,
    LoopsPastTheDeadline,
    ThreeShortWaits,
)

IO_DB = f"durable_io_{RUN}"
BROKER_DB = 11
MODULE = "tests.integration.flows_io"
THREADS = 50


@dataclass
class Io:
    url: str
    runtime: Runtime

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DURABLE_DATABASE_URL=self.url,
            CELERY_BROKER_URL=servers().redis.url(BROKER_DB),
            DURABLE_WORKFLOW_MODULES=MODULE,
            DURABLE_HEARTBEAT_INTERVAL="0.5",
        )
        env.pop("DURABLE_DB_POOL_SIZE", None)  # the default: the worker's concurrency
        return env

    def start(
        self, workflow: type[dc.Workflow], input: dict[str, Any] | None = None, **options: Any
    ) -> str:
        return start_execution(workflow, input or {}, runtime=self.runtime, **options).id

    def execution(self, execution_id: str) -> dc.Execution:
        return dc.get_execution(execution_id, runtime=self.runtime)

    def statuses(self, workflow: type[dc.Workflow]) -> dict[str, int]:
        with self.runtime.database.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT status, count(*) AS n FROM workflow_executions "
                    "WHERE workflow = :w GROUP BY status"
                ),
                {"w": workflow.name},
            )
            return {row.status: row.n for row in rows}


@pytest.fixture(scope="module")
def io(session_database: str) -> Iterator[Io]:
    url = clone_database(IO_DB)
    app = bundled_app()
    # CELERY_BROKER_URL (the session's broker) would win over broker_url; these do not.
    app.conf.broker_write_url = app.conf.broker_read_url = servers().redis.url(BROKER_DB)
    runtime = Runtime(app, Settings(database_url=url, workflow_modules=(MODULE,)))
    yield Io(url, runtime)
    dispose_engines()
    drop_database(IO_DB)


@pytest.fixture(scope="module")
def threads_worker(io: Io) -> Iterator[WorkerProcess]:
    with WorkerProcess(
        queues=["default"],
        pool="threads",
        concurrency=THREADS,
        env=io.env(),
        cwd=ROOT,
        name="io-threads",
    ) as worker:
        yield worker


def finished(io: Io, execution_id: str, timeout: float, worker: WorkerProcess) -> dc.Execution:
    assert wait_until(lambda: io.execution(execution_id).finished, timeout), worker.log_tail()
    return io.execution(execution_id)


# --- step timeouts ------------------------------------------------------------------------


def test_a_step_timeout_interrupts_a_looping_step_in_the_threads_pool(
    io: Io, threads_worker: WorkerProcess
) -> None:
    execution = finished(io, io.start(LoopsPastItsTimeout), 60, threads_worker)
    assert execution.status == "failed"
    assert execution.error is not None
    assert execution.error["type"] == "durable_celery.errors.StepTimeout"
    (attempt,) = execution.steps or ()
    assert attempt.status == "failed"
    # Interrupted at about its 1 s timeout, well before the 10 s its loop would take.
    assert attempt.duration_ms is not None and attempt.duration_ms < 6000


def test_the_workflow_deadline_interrupts_a_looping_step_in_the_threads_pool(
    io: Io, threads_worker: WorkerProcess
) -> None:
    execution = finished(io, io.start(LoopsPastTheDeadline), 60, threads_worker)
    assert execution.status == "timed_out"
    assert execution.error is not None
    assert execution.error["type"] == "durable_celery.errors.WorkflowTimedOut"
    assert execution.completed_at is not None
    assert (execution.completed_at - execution.created_at).total_seconds() < 8


# --- many claims at once ------------------------------------------------------------------


def worker_connections(watch: psycopg.Connection[Any]) -> int:
    """Connections to the test's database other than `watch`: its worker's only (this
    process's own pool is closed while this is read)."""
    row = watch.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def watcher(io: Io) -> psycopg.Connection[Any]:
    dsn = make_url(io.url).set(drivername="postgresql").render_as_string(False)
    return psycopg.connect(dsn, autocommit=True)


@pytest.mark.timeout(300)
def test_200_executions_on_50_threads_all_complete_on_a_pool_sized_for_50(
    io: Io, threads_worker: WorkerProcess
) -> None:
    ids = [io.start(ThreeShortWaits, {"pause": 0.2}) for _ in range(200)]
    io.runtime.database.dispose()  # from here on, only the worker is connected
    seen: list[int] = []
    with watcher(io) as watch:

        def all_completed() -> bool:
            seen.append(worker_connections(watch))
            row = watch.execute(
                "SELECT count(*) FROM workflow_executions WHERE workflow = %s "
                "AND status = 'completed'",
                (ThreeShortWaits.name,),
            ).fetchone()
            return row is not None and row[0] == len(ids)

        assert wait_until(all_completed, 240, interval=0.02), (
            io.statuses(ThreeShortWaits),
            threads_worker.log_tail(),
        )
        seen.append(worker_connections(watch))
    # Never more than the pool (50 claims + the margin)...
    assert max(seen) <= THREADS + POOL_MARGIN, seen
    # ...and more than the fixed 5 + 10 of before: the claims did not queue on the pool.
    # (Connections stay open in the pool once made, so the last count is the most made.)
    assert seen[-1] > 15, seen


def test_one_heartbeat_statement_refreshes_every_claim_of_the_process(
    io: Io, threads_worker: WorkerProcess
) -> None:
    claims = 40
    for _ in range(claims):
        io.start(HoldsItsClaim, {"seconds": 6})

    def snapshot() -> Any:
        with io.runtime.database.connect() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) AS running, "
                    "count(*) FILTER (WHERE heartbeat_at > locked_at) AS refreshed, "
                    "count(DISTINCT heartbeat_at) AS beats "
                    "FROM workflow_executions WHERE workflow = :w AND status = 'running'"
                ),
                {"w": HoldsItsClaim.name},
            ).one()

    rows: list[Any] = []

    def all_refreshed() -> bool:
        rows.append(snapshot())
        return rows[-1].running == claims and rows[-1].refreshed == claims

    assert wait_until(all_refreshed, 30, interval=0.05), (rows[-3:], threads_worker.log_tail())
    # All 40 claims carry the timestamp of one statement (one transaction's now()): one
    # UPDATE per interval for the process, not one per claim.
    assert rows[-1].beats == 1, rows[-1]
    assert wait_until(lambda: io.statuses(HoldsItsClaim) == {"completed": claims}, 60)


# --- gevent -------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("gevent") is None, reason="gevent is not installed")
@pytest.mark.timeout(300)
def test_under_gevent_a_step_timeout_interrupts_the_step_and_many_claims_complete(
    io: Io,
) -> None:
    queue = "io_gevent"
    with WorkerProcess(
        queues=[queue], pool="gevent", concurrency=50, env=io.env(), cwd=ROOT, name="io-gevent"
    ) as worker:
        timed = io.start(LoopsPastItsTimeout, queue=queue)
        deadline = io.start(LoopsPastTheDeadline, queue=queue)
        many = [io.start(ThreeShortWaits, {"pause": 0.05}, queue=queue) for _ in range(100)]
        execution = finished(io, timed, 60, worker)
        assert execution.status == "failed"
        assert execution.error is not None
        assert execution.error["type"] == "durable_celery.errors.StepTimeout"
        (attempt,) = execution.steps or ()
        assert attempt.duration_ms is not None and attempt.duration_ms < 6000
        assert finished(io, deadline, 60, worker).status == "timed_out"
        assert wait_until(lambda: all(io.execution(i).status == "completed" for i in many), 120), (
            worker.log_tail()
        )
