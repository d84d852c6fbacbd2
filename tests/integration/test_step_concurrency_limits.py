"""Step-level concurrency limits across real worker processes: 200 executions whose
middle step is limited to 2 on one key (4 processes, a sampler every 10 ms, and the
recorded attempts' intervals), a SIGKILLed holder of a step slot whose slot comes back
through stale recovery, the hand-over in the statement that ends an attempt, and what a
step limit costs."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from benchmarks.explain_poller import explain
from durable_celery.config import Settings
from durable_celery.runtime import Runtime, bundled_app
from durable_celery.states import ExecutionStatus, StepStatus, Suspension
from durable_celery.store import control, executions, step_slots
from durable_celery.store.connections import autocommit, dispose_engines
from durable_celery.store.executions import Advance, Finish, RetryAfter, StepRun
from durable_celery.store.sql import concurrency as concurrency_sql
from durable_celery.store.sql import executions as executions_sql
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import (
    BROKER_DB,
    ROOT,
    RUN,
    clone_database,
    drop_database,
    servers,
)
from tests.integration.flows_limits import OneStepAtATime, StepLimited, Unlimited
from tests.integration.test_concurrency_limits import (
    FAST_RECOVERY,
    RunningSampler,
    _completed,
    _count,
    _dsn,
    _held,
    _statements_to_run,
)

pytestmark = pytest.mark.timeout(300)


def _most_at_once(db: Any, ids: list[str], step: str) -> int:
    """The most recorded attempts of `step` whose intervals (start to checkpoint) overlap
    at one instant: every attempt is checked, not only sampled ones."""
    rows = db.execute(
        text(
            "SELECT started_at, completed_at FROM step_executions "
            "WHERE execution_id = ANY(CAST(:ids AS uuid[])) AND step_name = :step"
        ),
        {"ids": ids, "step": step},
    ).all()
    db.rollback()
    # Ends sort before starts at the same instant: touching intervals do not overlap.
    events = sorted(
        [(row.started_at, 1) for row in rows] + [(row.completed_at, -1) for row in rows]
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def test_200_executions_never_run_more_than_two_attempts_of_the_limited_step(runtime, worker, db):
    api = f"maps-{uuid.uuid4().hex[:6]}"
    key = f"step-key:{api}"
    with (
        RunningSampler(_dsn(runtime), key, column="step_slot_key") as sampler,
        WorkerProcess(queues=["step-limits"], concurrency=4, cwd=ROOT, name="steplimits4"),
    ):
        began = time.monotonic()
        handles = StepLimited.start_many(
            # The first ones prepare for longer: all 4 processes are in `prepare` at once
            # even when a loaded machine starts them a moment apart.
            [
                {"api": api, "n": n, "pause": 0.02, **({"prepare_pause": 0.4} if n < 8 else {})}
                for n in range(200)
            ],
            queue="step-limits",
        )
        ids = [handle.id for handle in handles]
        assert wait_until(lambda: _completed(db, ids) == 200, timeout=240, interval=0.5), (
            f"{_completed(db, ids)} of 200 completed"
        )
        took = time.monotonic() - began
    call = _most_at_once(db, ids, "call")
    prepare = _most_at_once(db, ids, "prepare")
    after = _most_at_once(db, ids, "after")
    print(
        f"\n200 executions, step limited to 2 on one key (4 processes): {took:.1f} s; "
        f"{sampler.samples} samples, at most {sampler.highest} slot holders; recorded "
        f"attempts at once: call {call}, prepare {prepare}, after {after}"
    )
    assert sampler.samples > 100
    assert sampler.highest <= 2, f"{sampler.highest} attempts of one step key held slots"
    assert call <= 2, f"{call} attempts of the limited step ran at once"
    # The limit was the bottleneck: 4 processes held both slots at once.
    assert sampler.highest == 2 or call == 2
    # The other steps are not throttled: more of them than the limit ran at once.
    assert prepare > 2
    assert _held(db, key) == 0
    # One recorded attempt per step: an attempt queued for a slot records nothing.
    runs = "SELECT sum(step_runs) FROM workflow_executions WHERE id = ANY(CAST(:ids AS uuid[]))"
    assert _count(db, runs, ids=ids) == 600
    assert [handle.result(timeout=5) for handle in handles[:3]] == [0, 1, 2]


def _worker(name: str, queues: list[str], beat: bool = False) -> WorkerProcess:
    return WorkerProcess(
        queues=queues,
        concurrency=1,
        beat=beat,
        cwd=ROOT,
        name=name,
        env={**os.environ, **FAST_RECOVERY},
    )


def test_a_sigkilled_holder_gives_its_step_slot_back_through_stale_recovery(runtime, worker, db):
    key = f"step:{OneStepAtATime.name}.only"
    with _worker("step-limits-beat", ["limits-maintenance"], beat=True):
        doomed = _worker("step-limits-doomed", ["step-limits-solo"]).start()
        try:
            holder = OneStepAtATime.start_durable({"first_pause": 120}, queue="step-limits-solo")
            holding = (
                "SELECT count(*) FROM workflow_executions WHERE id = :id AND step_slot_key = :key"
            )
            assert wait_until(lambda: _count(db, holding, id=holder.id, key=key) == 1, timeout=30)
            with _worker("step-limits-survivor", ["step-limits-solo", "step-limits-solo-b"]):
                waiter = OneStepAtATime.start_durable({}, queue="step-limits-solo-b")
                queued = (
                    "SELECT count(*) FROM workflow_executions WHERE id = :id "
                    "AND status = 'pending' AND step_queue_key = :key"
                )
                assert wait_until(
                    lambda: _count(db, queued, id=waiter.id, key=key) == 1, timeout=30
                )
                assert _held(db, key) == 1
                doomed.kill()
                # Stale recovery gives the slot back; the poller wakes the waiter for it,
                # and the holder runs its attempt again (attempt 2), before or after it.
                assert wait_until(
                    lambda: _completed(db, [holder.id, waiter.id]) == 2, timeout=60
                ), doomed.log_tail()
                assert holder.result(timeout=5) == 2
                assert waiter.result(timeout=5) == 1
                assert _held(db, key) == 0
        finally:
            doomed.kill()


# --- in one process: the hand-over, and what a step limit costs ---------------------------

COST_DB = f"durable_step_limits_{RUN}"


@pytest.fixture(scope="module")
def private_runtime(session_database: str) -> Iterator[Runtime]:
    """A runtime on a database of its own, with no worker and no poller on it."""
    url = clone_database(COST_DB)
    app = bundled_app()
    app.conf.broker_url = servers().redis.url(BROKER_DB)
    yield Runtime(
        app, Settings(database_url=url, workflow_modules=("tests.integration.flows_limits",))
    )
    dispose_engines()
    drop_database(COST_DB)


def test_a_step_limit_costs_one_statement_per_attempt(private_runtime):
    _statements_to_run(private_runtime, Unlimited, {})
    _statements_to_run(private_runtime, OneStepAtATime, {})
    unlimited = _statements_to_run(private_runtime, Unlimited, {})
    limited = _statements_to_run(private_runtime, OneStepAtATime, {})
    print(f"statements per two-step execution: unlimited {unlimited}, one step limited {limited}")
    assert limited == unlimited + 1


def test_the_statement_that_ends_an_attempt_hands_the_step_slot_over(private_runtime):
    """A checkpoint, a retry timer, a wait and the end each give the step slot back and
    return the wake-up of the next execution queued for it: highest priority first, then
    FIFO. Executions queued for the slot are pending, hold no claim, and are not woken by
    the poller's due sweep."""
    rt = private_runtime
    key = f"step-key:{uuid.uuid4().hex}"

    def start(priority: int = 0) -> str:
        new = rt.new_execution(OneStepAtATime, {}, queue="limits-nobody", priority=priority)
        return rt.start(new)

    holder = start()
    low, high, later = start(), start(priority=5), start()
    run = StepRun("only", 1, 1, StepStatus.COMPLETED, datetime.now(UTC), 1.0, "test", "1")
    held = "SELECT held FROM concurrency_slots WHERE key = :key"
    queued = "SELECT count(*) FROM workflow_executions WHERE step_queue_key = :key"
    with autocommit(rt.database) as conn:

        def claim(execution_id: str) -> executions.Fence:
            claimed = executions.claim(conn, execution_id, "test")
            assert claimed is not None
            return claimed.fence

        def take(fence: executions.Fence) -> bool:
            return step_slots.take(conn, fence, key, 1).taken

        first = claim(holder)
        assert take(first)
        for waiting in (low, high, later):
            assert not take(claim(waiting))
        assert conn.execute(text(queued), {"key": key}).scalar() == 3
        assert conn.execute(text(held), {"key": key}).scalar() == 1

        def handed(wakeups: list[Any]) -> list[str]:
            return [wakeup.id for wakeup in wakeups]

        advance = Advance("only", None, None)
        assert handed(executions.checkpoint(conn, first, run, advance, key).wakeups) == [high]
        assert conn.execute(text(held), {"key": key}).scalar() == 0
        second = claim(high)
        assert take(second)
        retry = RetryAfter(60.0, "{}", None)
        assert handed(executions.checkpoint(conn, second, run, retry, key).wakeups) == [low]
        third = claim(low)
        assert take(third)
        assert handed(executions.suspend(conn, third, Suspension.SLEEP, None, key).wakeups) == [
            later
        ]
        fourth = claim(later)
        assert take(fourth)
        finish = Finish(ExecutionStatus.COMPLETED, None, "1", None)
        assert handed(executions.checkpoint(conn, fourth, run, finish, key).wakeups) == []
        assert conn.execute(text(held), {"key": key}).scalar() == 0
        assert conn.execute(text(queued), {"key": key}).scalar() == 0
        # The holder went on under its claim: the checkpoint cleared the slot it held.
        slot_key = "SELECT step_slot_key FROM workflow_executions WHERE id = :id"
        assert conn.execute(text(slot_key), {"id": holder}).scalar() is None
        # Any statement that ends a running execution (here a cancel, as the worker
        # records one) gives its step slot back: the trigger does, not the caller.
        cancelled = start()
        fifth = claim(cancelled)
        assert take(fifth)
        assert conn.execute(text(held), {"key": key}).scalar() == 1
        control.stop_executions(
            conn,
            [cancelled],
            ExecutionStatus.CANCELLED,
            {"type": "Cancelled", "message": "test"},
            include_running=True,
            token=fifth.token,
        )
        assert conn.execute(text(held), {"key": key}).scalar() == 0
        assert conn.execute(text(slot_key), {"id": cancelled}).scalar() is None


# --- plans: the step slots' statements read live rows only ------------------------------

_ANY_ID = {"id": str(uuid.uuid4()), "token": str(uuid.uuid4())}
_STEP_ROW = {
    "step_name": "s",
    "sequence": 1,
    "attempt": 1,
    "step_status": "completed",
    "output": None,
    "error": None,
    "logs": None,
    "started_at": datetime.now(UTC),
    "duration_ms": 1.0,
    "worker": "explain",
}
PLANS = {
    "poller: queued for a step slot (DISPATCH_STEP_QUEUED)": (
        concurrency_sql.DISPATCH_STEP_QUEUED,
        {"batch_size": 500},
        "ix_workflow_executions_step_queue",
    ),
    "take a step slot (TAKE_STEP_SLOT)": (
        concurrency_sql.TAKE_STEP_SLOT,
        {**_ANY_ID, "key": "step-key:explain", "limit": 2},
        "pk_workflow_executions",
    ),
    "checkpoint handing a step slot over (ADVANCE_FROM_SLOT)": (
        executions_sql.ADVANCE_FROM_SLOT,
        {
            **_ANY_ID,
            **_STEP_ROW,
            "context": None,
            "next_step": "t",
            "compensations": None,
            "execution_error": None,
            "step_slot_key": "step-key:explain",
        },
        "ix_workflow_executions_step_queue",
    ),
}


@pytest.fixture()
def history_database(finished_history: Any) -> Any:
    return finished_history


@pytest.mark.parametrize("title", list(PLANS))
def test_the_step_slot_statements_scan_live_rows_only(history_database, title):
    statement, params, index = PLANS[title]
    with history_database.connect() as conn:
        plan = explain(conn, statement.text, params, analyze=False)
    # The queued-for-a-slot lookups read the partial step-queue index or, when the planner
    # counts few pending rows (it flips between the two as the statistics age), the
    # pending rows through the status index: live rows either way, never the history.
    live_instead = "Index Cond: (status = 'pending'::text)"
    if index == "ix_workflow_executions_step_queue" and f"using {index}" not in plan:
        assert "using ix_workflow_executions_status_created" in plan, plan
        assert live_instead in plan, plan
    else:
        assert f"using {index}" in plan, plan
    assert "Seq Scan on workflow_executions" not in plan, plan
