"""Starting: idempotency keys, transactional starts, delayed starts."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import durable_celery as dc
from durable_celery.testing import wait_until
from tests.integration.flows import ThreeSteps


def _count(db, execution_id: str) -> int:
    db.rollback()
    return db.execute(
        text("SELECT count(*) FROM workflow_executions WHERE id = :id"), {"id": execution_id}
    ).scalar_one()


def test_same_idempotency_key_returns_the_first_execution(worker, db):
    key = f"order-{uuid.uuid4()}"
    first = ThreeSteps.start_durable({"customer": "a"}, idempotency_key=key)
    second = ThreeSteps.start_durable({"customer": "b"}, idempotency_key=key)
    by_name = dc.start("tests.three_steps", {"customer": "c"}, idempotency_key=key)

    assert first.id == second.id == by_name.id
    assert first.result(timeout=30)["seen"] == ["first", "second", "third"]
    rows = db.execute(
        text("SELECT input FROM workflow_executions WHERE idempotency_key = :key"), {"key": key}
    ).all()
    assert [row.input for row in rows] == [{"customer": "a"}]
    assert (
        ThreeSteps.start_durable({"customer": "d"}, idempotency_key=key + "-other").id != first.id
    )


def test_concurrent_starts_with_one_key_create_one_execution(runtime, db):
    key = f"race-{uuid.uuid4()}"
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        ids.append(
            ThreeSteps.start_durable(
                {"customer": "r"}, idempotency_key=key, queue="nobody-listens"
            ).id
        )

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    count = db.execute(
        text("SELECT count(*) FROM workflow_executions WHERE idempotency_key = :key"), {"key": key}
    ).scalar_one()
    assert count == 1


def test_start_in_a_committed_session_runs_after_commit(worker, runtime, db):
    with Session(runtime.database) as session:
        session.execute(text("SELECT 1"))
        handle = ThreeSteps.start_durable({"customer": "tx"}, session=session)
        # Not visible to anyone else before the caller commits.
        assert _count(db, handle.id) == 0
        session.commit()
    # The wake-up was sent after commit (the poller would wait out its 10 s grace).
    assert handle.result(timeout=8)["n"] == 3


def test_start_in_a_rolled_back_session_starts_nothing(worker, runtime, db):
    with Session(runtime.database) as session:
        handle = ThreeSteps.start_durable({"customer": "rollback"}, session=session)
        session.rollback()
        # A later commit of the same session must not publish the discarded start.
        session.execute(text("SELECT 1"))
        session.commit()
    assert _count(db, handle.id) == 0
    with pytest.raises(dc.ExecutionNotFound):
        handle.status()


def test_start_on_a_connection_is_transactional(worker, runtime, db):
    with runtime.database.connect() as conn:
        committed = ThreeSteps.start_durable({"customer": "conn"}, session=conn)
        assert _count(db, committed.id) == 0
        conn.commit()
        rolled_back = ThreeSteps.start_durable({"customer": "gone"}, session=conn)
        conn.rollback()
    assert committed.result(timeout=8)["n"] == 3
    assert _count(db, rolled_back.id) == 0


def test_starts_on_one_pooled_connection_are_each_woken_at_commit(worker, runtime):
    # One pooled DBAPI connection serves every checkout: each transaction's start must be
    # published when that transaction commits, not left to the poller's 10 s grace.
    engine = create_engine(runtime.settings.database_url, pool_size=1, max_overflow=0)
    try:
        for number in range(12):
            with engine.begin() as conn:
                handle = ThreeSteps.start_durable({"customer": f"pooled-{number}"}, session=conn)
            committed = time.monotonic()
            assert wait_until(
                lambda handle=handle: handle.status() != "pending", timeout=5, interval=0.02
            )
            assert time.monotonic() - committed < 1.0, f"start {number} waited for the poller"
    finally:
        engine.dispose()


def test_delayed_start_waits_for_its_time_and_is_woken_by_the_poller(worker):
    handle = ThreeSteps.start_durable({"customer": "later"}, delay=1.5)
    assert handle.status() == "pending"
    started = datetime.now(UTC)
    handle.result(timeout=30)
    execution = dc.get_execution(handle.id)
    assert execution.started_at >= started + timedelta(seconds=1)


def test_run_at_in_the_future_is_respected(worker):
    run_at = datetime.now(UTC) + timedelta(seconds=1)
    handle = ThreeSteps.start_durable({"customer": "at"}, run_at=run_at)
    assert wait_until(lambda: handle.status() == "completed", timeout=30)
    assert dc.get_execution(handle.id).started_at >= run_at
