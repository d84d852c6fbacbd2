"""Duplicate wake-ups run nothing twice; a worker that lost its claim writes nothing."""

from __future__ import annotations

import threading

from sqlalchemy import text

import durable_celery as dc
from durable_celery.engine import run_execution
from durable_celery.runtime import WAKE_TASK
from durable_celery.testing import wait_until
from tests.integration.flows import SlowSteps, StealsItsOwnClaim, ThreeSteps


def test_a_hundred_duplicate_wake_ups_run_each_step_once(worker, runtime, redis_client):
    handle = SlowSteps.start_durable({"pause": 0.2})
    for _ in range(100):
        runtime.app.send_task(WAKE_TASK, args=[handle.id], queue="default")

    assert handle.result(timeout=60) == 3
    # Let the duplicates drain: they must all find nothing to claim.
    assert wait_until(lambda: redis_client.llen("default") == 0, timeout=30)
    execution = dc.get_execution(handle.id)
    assert [(s.step, s.attempt, s.status) for s in execution.steps] == [
        ("one", 1, "completed"),
        ("two", 1, "completed"),
        ("three", 1, "completed"),
    ]
    for name in ("one", "two", "three"):
        assert int(redis_client.get(f"runs:{handle.id}:{name}")) == 1


def test_concurrent_claims_in_one_process_let_exactly_one_thread_run(runtime, redis_client):
    handle = ThreeSteps.start_durable({"customer": "threads"}, queue="nobody-listens")
    outcomes: list[str | None] = []
    barrier = threading.Barrier(16)

    def wake() -> None:
        barrier.wait()
        outcomes.append(run_execution(runtime, handle.id))

    threads = [threading.Thread(target=wake) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("completed") == 1 and outcomes.count(None) == 15
    for name in ("first", "second", "third"):
        assert int(redis_client.get(f"runs:{handle.id}:{name}")) == 1


def test_wake_ups_for_finished_unknown_or_forged_ids_change_nothing(worker, runtime, db):
    handle = ThreeSteps.start_durable({"customer": "done"})
    handle.result(timeout=30)
    before = dc.get_execution(handle.id)

    assert run_execution(runtime, handle.id) is None
    assert run_execution(runtime, "00000000-0000-0000-0000-000000000000") is None
    runtime.app.send_task(WAKE_TASK, args=["not-a-uuid"], queue="default")
    runtime.app.send_task(WAKE_TASK, args=[{"forged": True}], queue="default")

    after = dc.get_execution(handle.id)
    assert after == before


def test_a_stale_lock_token_cannot_write(runtime, db):
    handle = StealsItsOwnClaim.start_durable({}, queue="nobody-listens")

    # The step runs, but by checkpoint time its claim was taken: nothing is recorded.
    assert run_execution(runtime, handle.id) is None

    execution = dc.get_execution(handle.id)
    assert execution.steps == ()
    assert execution.context == {}
    assert execution.status == "running"  # still owned by the token's new holder
    assert execution.current_step == "first"
    row = db.execute(
        text("SELECT step_runs FROM workflow_executions WHERE id = :id"), {"id": handle.id}
    ).one()
    assert row.step_runs == 0


def test_a_wake_up_arriving_while_the_row_is_briefly_locked_is_not_lost(runtime):
    handle = ThreeSteps.start_durable({"customer": "locked"}, queue="nobody-listens")
    outcome: list[str | None] = []
    with runtime.database.connect() as holder:
        # What send_event, cancel or a fan-in do for a moment: hold the row's lock.
        holder.execute(
            text("SELECT 1 FROM workflow_executions WHERE id = :id FOR UPDATE"), {"id": handle.id}
        )
        waker = threading.Thread(target=lambda: outcome.append(run_execution(runtime, handle.id)))
        waker.start()
        waker.join(timeout=0.5)
        assert waker.is_alive()  # the claim waits for the lock instead of skipping the row
        holder.rollback()
    waker.join(timeout=30)
    assert outcome == ["completed"]


def test_heartbeats_refresh_held_claims_and_notice_lost_ones(runtime, db):
    from durable_celery.engine.heartbeat import Heartbeat
    from durable_celery.store.executions import claim

    handle = ThreeSteps.start_durable({"customer": "beat"}, queue="nobody-listens")
    with runtime.database.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        claimed = claim(conn, handle.id, "test-worker")
    assert claimed is not None
    heartbeat = Heartbeat(runtime.settings)

    def age() -> float:
        db.rollback()
        return db.execute(
            text(
                "SELECT extract(epoch FROM now() - heartbeat_at) FROM workflow_executions "
                "WHERE id = :id"
            ),
            {"id": handle.id},
        ).scalar_one()

    with heartbeat.hold("execution", handle.id, claimed.token):
        db.execute(
            text(
                "UPDATE workflow_executions SET heartbeat_at = now() - "
                "interval '1 hour' WHERE id = :id"
            ),
            {"id": handle.id},
        )
        db.commit()
        heartbeat.beat()
        assert age() < 5
        assert not heartbeat.lost("execution", handle.id)
        # Stale recovery (or a cancel) takes the claim back: the next round notices.
        db.execute(
            text("UPDATE workflow_executions SET lock_token = gen_random_uuid() WHERE id = :id"),
            {"id": handle.id},
        )
        db.commit()
        heartbeat.beat()
        assert heartbeat.lost("execution", handle.id)
