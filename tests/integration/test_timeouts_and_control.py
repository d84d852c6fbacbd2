"""Workflow and step timeouts, cancel (with cascade) and retry of failed executions."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows import ThreeSteps, runs_of
from tests.integration.flows_control import (
    FailsOnceThenWorks,
    Parent,
    SlowStep,
    Steps,
    StepTimesOut,
    WaitsOnSlowChild,
)
from tests.integration.flows_failures import WideFanOut


def test_the_workflow_deadline_interrupts_a_running_step(worker):
    handle = SlowStep.start_durable({"pause": 30})
    with pytest.raises(dc.WorkflowTimedOut):
        handle.result(timeout=20)
    execution = dc.get_execution(handle.id)
    assert execution.status == "timed_out"
    assert execution.error["type"] == "durable_celery.errors.WorkflowTimedOut"
    # Interrupted about when the 1.5 s deadline passed, not after the 30 s step.
    assert (execution.completed_at - execution.created_at).total_seconds() < 10


def test_the_workflow_deadline_applies_while_waiting(worker, db):
    handle = WaitsOnSlowChild.start_durable({"pause": 3})
    with pytest.raises(dc.WorkflowTimedOut):
        handle.result(timeout=20)
    child = db.execute(
        text("SELECT id FROM workflow_executions WHERE parent_id = :id"), {"id": handle.id}
    ).scalar_one()
    db.rollback()
    # The waiting parent was timed out by the poller, and its child cancelled with it
    # (the child was running: it stops at its step boundary, its step recorded).
    assert wait_until(lambda: dc.get_execution(child).status == "cancelled", timeout=20)


def test_a_step_timeout_is_a_failed_attempt_and_the_retry_policy_applies(worker, redis_client):
    handle = StepTimesOut.start_durable({})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    assert raised.value.error["type"] == "durable_celery.errors.StepTimeout"
    steps = dc.get_execution(handle.id).steps
    assert [(s.attempt, s.status) for s in steps] == [(1, "failed"), (2, "failed")]
    assert all(s.duration_ms < 5000 for s in steps)
    assert runs_of(handle.id, "slow") == 2


def test_cancel_a_pending_execution_stops_it_at_once(runtime):
    handle = ThreeSteps.start_durable({"customer": "c"}, queue="nobody-listens")
    assert dc.cancel(handle.id, reason="changed my mind") == "cancelled"
    execution = dc.get_execution(handle.id)
    assert execution.status == "cancelled"
    assert execution.error["message"] == "changed my mind"
    with pytest.raises(dc.WorkflowCancelled, match="changed my mind"):
        handle.result(timeout=1)
    with pytest.raises(dc.ExecutionStateError, match="it is cancelled"):
        dc.cancel(handle.id)


def test_cancel_a_running_execution_stops_it_at_the_next_step_boundary(worker, redis_client):
    handle = Steps.start_durable({"pause": 1.5})
    assert wait_until(lambda: runs_of(handle.id, "one") == 1, timeout=30)

    assert dc.cancel(handle.id, reason="stop") == "running"

    with pytest.raises(dc.WorkflowCancelled) as cancelled:
        handle.result(timeout=30)
    assert cancelled.value.reason == "stop"
    execution = dc.get_execution(handle.id)
    # The step in flight finished and was recorded; no later step ever ran.
    assert [(s.step, s.status) for s in execution.steps] == [("one", "completed")]
    assert runs_of(handle.id, "two") == 0
    # Stopped at the boundary by its worker, it records the cancel as cancel() does.
    assert execution.error == {
        "type": "durable_celery.errors.WorkflowCancelled",
        "message": "stop",
    }


def test_cancel_a_waiting_parent_cancels_its_child(worker, db):
    handle = Parent.start_durable({"x": 1, "pause": 3})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    children = [
        str(row.id)
        for row in db.execute(
            text("SELECT id FROM workflow_executions WHERE parent_id = :id"), {"id": handle.id}
        )
    ]
    db.rollback()

    assert dc.cancel(handle.id) == "cancelled"

    assert handle.status() == "cancelled"
    for child in children:
        assert wait_until(
            lambda child=child: dc.get_execution(child).status in ("cancelled", "completed"),
            timeout=30,
        )
    slow_child = [c for c in children if dc.get_execution(c).input.get("pause") == 3]
    assert dc.get_execution(slow_child[0]).status == "cancelled"


def test_retry_resumes_a_failed_execution_from_its_failed_step(worker, redis_client):
    handle = FailsOnceThenWorks.start_durable({})
    redis_client.set(f"broken:{handle.id}", 1)
    with pytest.raises(dc.WorkflowFailed):
        handle.result(timeout=30)

    redis_client.delete(f"broken:{handle.id}")
    dc.retry(handle.id)

    assert handle.result(timeout=30) == "recovered"
    steps = dc.get_execution(handle.id).steps
    assert [(s.step, s.status) for s in steps] == [
        ("first", "completed"),
        ("second", "failed"),
        ("second", "completed"),
    ]
    assert runs_of(handle.id, "first") == 1
    with pytest.raises(dc.ExecutionStateError, match="cannot retry"):
        dc.retry(handle.id)


@pytest.mark.parametrize("call", [dc.cancel, dc.retry])
def test_control_calls_reject_bad_and_unknown_ids(call, runtime):
    with pytest.raises(dc.InvalidExecutionId):
        call("nope")
    with pytest.raises(dc.ExecutionNotFound):
        call("7e57c0de-0000-4000-8000-000000000000")


def test_cancel_during_a_fan_in_never_deadlocks_and_leaves_no_item_running(runtime, db):
    def items(execution_id: str, status: str) -> int:
        db.rollback()
        return db.execute(
            text("SELECT count(*) FROM step_items WHERE execution_id = :id AND status = :s"),
            {"id": execution_id, "s": status},
        ).scalar_one()

    failures: list[Exception] = []
    cancelled: list[str] = []
    with WorkerProcess(queues=["fanin"], concurrency=4, cwd=ROOT, name="fanin") as fanin:
        for round_number in range(12):
            handle = WideFanOut.start_durable({"n": 300}, queue="fanin")
            assert wait_until(lambda handle=handle: items(handle.id, "completed") >= 30, timeout=30)
            try:
                dc.cancel(handle.id, reason=f"round {round_number}")
            except dc.ExecutionStateError:
                continue  # the fan-out finished first: nothing to cancel
            except Exception as exc:  # DeadlockDetected when the lock orders disagreed
                failures.append(exc)
            else:
                cancelled.append(handle.id)
        assert failures == []
        assert len(cancelled) >= 6
        for execution_id in cancelled:
            assert wait_until(
                lambda execution_id=execution_id: (
                    dc.get_execution(execution_id).status == "cancelled"
                ),
                30,
            )
            # Items in flight were cancelled with their execution; none is left running.
            assert items(execution_id, "running") == 0
        assert "deadlock" not in fanin.log_tail(5_000).lower()
