"""Workflow-level concurrency limits across real worker processes: the bar (500
executions of one key, limit 3, 4 processes, a sampler every 10 ms), a SIGKILLed slot
holder whose slot comes back through stale recovery, and what a limit costs a claim."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from durable_celery import engine
from durable_celery.config import Settings
from durable_celery.runtime import Runtime, bundled_app
from durable_celery.states import ExecutionStatus, StepStatus, Suspension
from durable_celery.store import executions
from durable_celery.store.connections import autocommit, dispose_engines
from durable_celery.store.executions import Finish, RetryAfter, StepRun
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import (
    BROKER_DB,
    ROOT,
    RUN,
    clone_database,
    drop_database,
    servers,
)
from tests.integration.flows_limits import OneAtATime, PerTenant, Unlimited

pytestmark = pytest.mark.timeout(300)

FAST_RECOVERY = {
    "DURABLE_STALE_LOCK_TIMEOUT": "2",
    "DURABLE_HEARTBEAT_INTERVAL": "0.3",
    "DURABLE_RECOVERY_INTERVAL": "0.5",
    "DURABLE_POLL_INTERVAL": "0.3",
    "DURABLE_DISPATCH_GRACE": "2",
    "DURABLE_MAINTENANCE_QUEUE": "limits-maintenance",
}


class RunningSampler:
    """Reads how many running executions hold a slot of one key, every 10 ms, on a
    connection of its own, and keeps the highest count seen. `column`: the execution's
    workflow-level key (concurrency_key) or the key of its step attempt (step_slot_key)."""

    def __init__(self, dsn: str, key: str, column: str = "concurrency_key") -> None:
        assert column in ("concurrency_key", "step_slot_key"), column
        self.dsn = dsn
        self.key = key
        self.column = column
        self.samples = 0
        self.highest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    f"SELECT count(*) FROM workflow_executions "
                    f"WHERE {self.column} = %s AND status = 'running'",
                    (self.key,),
                ).fetchone()
                assert row is not None
                self.samples += 1
                self.highest = max(self.highest, int(row[0]))
                self._stop.wait(0.01)

    def __enter__(self) -> RunningSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _dsn(runtime: Runtime) -> str:
    return runtime.settings.database_url.replace("postgresql+psycopg://", "postgresql://")


def _count(db: Any, sql: str, **params: Any) -> int:
    value = db.execute(text(sql), params).scalar()
    db.rollback()
    return int(value or 0)


def _completed(db: Any, ids: list[str]) -> int:
    return _count(
        db,
        "SELECT count(*) FROM workflow_executions "
        "WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'completed'",
        ids=ids,
    )


def _held(db: Any, key: str) -> int:
    return _count(db, "SELECT held FROM concurrency_slots WHERE key = :key", key=key)


def test_500_executions_of_one_key_never_run_more_than_three_at_once(runtime, worker, db):
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    key = f"{PerTenant.name}/{tenant}"
    other = f"other-{uuid.uuid4().hex[:6]}"
    with (
        RunningSampler(_dsn(runtime), key) as sampler,
        WorkerProcess(queues=["limits"], concurrency=4, cwd=ROOT, name="limits4"),
    ):
        began = time.monotonic()
        handles = PerTenant.start_many(
            [{"tenant": tenant, "n": n, "pause": 0.002} for n in range(500)], queue="limits"
        )
        # Another key is not held back by the first one's queue.
        others = PerTenant.start_many([{"tenant": other, "n": n} for n in range(3)], queue="limits")
        ids = [handle.id for handle in handles]
        assert wait_until(lambda: _completed(db, [h.id for h in others]) == 3, timeout=60)
        assert wait_until(lambda: _completed(db, ids) == 500, timeout=240, interval=0.5), (
            f"{_completed(db, ids)} of 500 completed"
        )
        took = time.monotonic() - began
    print(
        f"\n500 executions of one key (limit 3, 4 processes): {took:.1f} s; "
        f"{sampler.samples} samples, at most {sampler.highest} running"
    )
    assert sampler.samples > 100
    assert sampler.highest <= 3, f"{sampler.highest} executions of one key ran at once"
    # The limit was the bottleneck, not a lack of work: 4 processes held 3 slots.
    assert sampler.highest == 3
    assert _held(db, key) == 0
    runs = "SELECT sum(step_runs) FROM workflow_executions WHERE id = ANY(CAST(:ids AS uuid[]))"
    assert _count(db, runs, ids=ids) == 1000


def _worker(name: str, queues: list[str], beat: bool = False) -> WorkerProcess:
    return WorkerProcess(
        queues=queues,
        concurrency=1,
        beat=beat,
        cwd=ROOT,
        name=name,
        env={**os.environ, **FAST_RECOVERY},
    )


def test_a_sigkilled_holder_gives_its_slot_back_through_stale_recovery(runtime, worker, db):
    key = OneAtATime.name
    with _worker("limits-beat", ["limits-maintenance"], beat=True):
        doomed = _worker("limits-doomed", ["limits-solo"]).start()
        try:
            holder = OneAtATime.start_durable({"first_pause": 120}, queue="limits-solo")
            assert wait_until(lambda: holder.status() == "running", timeout=30)
            with _worker("limits-survivor", ["limits-solo", "limits-solo-b"]):
                waiter = OneAtATime.start_durable({}, queue="limits-solo-b")
                queued = (
                    "SELECT count(*) FROM workflow_executions WHERE id = :id "
                    "AND status = 'pending' AND slot_queued AND started_at IS NULL"
                )
                assert wait_until(lambda: _count(db, queued, id=waiter.id) == 1, timeout=30)
                assert _held(db, key) == 1
                doomed.kill()
                # Stale recovery frees the slot; the holder runs again (attempt 2) and
                # the waiter gets the slot after it, or before it.
                assert wait_until(
                    lambda: _completed(db, [holder.id, waiter.id]) == 2, timeout=60
                ), doomed.log_tail()
                assert holder.result(timeout=5) == 2
                assert waiter.result(timeout=5) == 1
                assert _held(db, key) == 0
        finally:
            doomed.kill()


# --- what a limit costs ------------------------------------------------------------------

COST_DB = f"durable_limits_cost_{RUN}"


@pytest.fixture(scope="module")
def private_runtime(session_database: str) -> Iterator[Runtime]:
    """A runtime on a database of its own, with no worker and no poller on it: every
    statement counted below is one the claim itself ran."""
    url = clone_database(COST_DB)
    app = bundled_app()
    app.conf.broker_url = servers().redis.url(BROKER_DB)
    yield Runtime(
        app, Settings(database_url=url, workflow_modules=("tests.integration.flows_limits",))
    )
    dispose_engines()
    drop_database(COST_DB)


def _statements_to_run(runtime: Runtime, workflow: Any, input: dict[str, Any]) -> int:
    """Start an execution and run it in this process; count the statements the run sent."""
    execution_id = runtime.start(runtime.new_execution(workflow, input, queue="limits-nobody"))
    counted = 0
    original = psycopg.Cursor.execute
    me = threading.get_ident()

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal counted
        if threading.get_ident() == me:
            counted += 1
        return original(self, *args, **kwargs)

    psycopg.Cursor.execute = counting  # type: ignore[method-assign]
    try:
        assert engine.run_execution(runtime, execution_id) == "completed"
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]
    return counted


def test_a_limit_costs_one_statement_per_claim(private_runtime):
    # Warm the connection pool and the prepared statements first.
    _statements_to_run(private_runtime, Unlimited, {})
    _statements_to_run(private_runtime, PerTenant, {"tenant": "warm"})
    unlimited = _statements_to_run(private_runtime, Unlimited, {})
    limited = _statements_to_run(private_runtime, PerTenant, {"tenant": "alone"})
    print(f"statements per two-step execution: unlimited {unlimited}, limited {limited}")
    assert limited == unlimited + 1


def test_a_freed_slot_goes_to_the_next_queued_execution_in_the_same_statement(
    private_runtime,
):
    """Each statement that gives a slot back (a wait, the end, a retry timer) returns the
    wake-up of the next execution queued for the key: highest priority first, then FIFO."""
    rt = private_runtime
    tenant = uuid.uuid4().hex

    def start(priority: int = 0) -> str:
        new = rt.new_execution(
            PerTenant, {"tenant": tenant}, queue="limits-nobody", priority=priority
        )
        return rt.start(new)

    holders = [start() for _ in range(3)]
    low, high, later = start(), start(priority=5), start()
    run = StepRun("first", 1, 1, StepStatus.COMPLETED, datetime.now(UTC), 1.0, "test", "1")
    with autocommit(rt.database) as conn:
        claims = [executions.claim(conn, holder, "test") for holder in holders]
        assert all(claims)
        assert [executions.claim(conn, waiting, "test") for waiting in (low, high, later)] == [
            None
        ] * 3
        queued = "SELECT count(*) FROM workflow_executions WHERE slot_queued AND id = ANY(:ids)"
        assert conn.execute(text(queued), {"ids": [low, high, later]}).scalar() == 3

        def handed(wakeups: list[Any]) -> list[str]:
            return [wakeup.id for wakeup in wakeups]

        first, second, third = (claim.fence for claim in claims if claim is not None)
        assert handed(executions.suspend(conn, first, Suspension.SLEEP, None).wakeups) == [high]
        finish = Finish(ExecutionStatus.COMPLETED, None, "1", None)
        assert handed(executions.checkpoint(conn, second, run, finish).wakeups) == [low]
        retry = RetryAfter(60.0, "{}", None)
        assert handed(executions.checkpoint(conn, third, run, retry).wakeups) == [later]
        assert conn.execute(text(queued), {"ids": [low, high, later]}).scalar() == 0
        # The three slots are free: the executions they were handed to take them.
        assert all(executions.claim(conn, woken, "test") for woken in (high, low, later))
        slots = "SELECT held FROM concurrency_slots WHERE key = :key"
        assert conn.execute(text(slots), {"key": f"{PerTenant.name}/{tenant}"}).scalar() == 3
