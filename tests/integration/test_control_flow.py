"""Retries, decisions, fan-out, parallel branches, sagas and child workflows, each on the
session's `celery -A durable_celery worker` subprocess (two pool processes, embedded beat)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.testing import wait_until
from tests.integration.flows import runs_of
from tests.integration.flows_control import (
    BadTarget,
    Checks,
    ChecksContinue,
    Countdown,
    EmptyFanOut,
    FanOut,
    FanOutContinue,
    FanOutOneAtATime,
    FlakyThenOk,
    GivesUp,
    LongRetry,
    LoopsForever,
    Parent,
    Saga,
)

# --- retries ---------------------------------------------------------------------------


def test_a_failing_step_is_retried_on_a_durable_timer_until_it_succeeds(worker, db, redis_client):
    handle = FlakyThenOk.start_durable({"failures": 2})

    assert handle.result(timeout=30) == {"attempt": 3}

    steps = dc.get_execution(handle.id).steps
    assert [(s.step, s.attempt, s.status) for s in steps] == [
        ("prepare", 1, "completed"),
        ("call_api", 1, "failed"),
        ("call_api", 2, "failed"),
        ("call_api", 3, "completed"),
    ]
    assert steps[1].error["type"] == "tests.integration.flows_control.Flaky"
    # Each retry waited for its backoff after the failed attempt ended.
    for failed, retried in itertools.pairwise(steps[1:]):
        assert (retried.started_at - failed.completed_at).total_seconds() >= 0.25
    assert runs_of(handle.id, "prepare") == 1


def test_while_a_retry_waits_the_worker_is_released(worker, db):
    handle = LongRetry.start_durable({})
    assert wait_until(lambda: len(dc.get_execution(handle.id).steps) == 1, timeout=30)
    row = db.execute(
        text(
            "SELECT status, lock_token, locked_by, run_at > now() AS later, step_attempt "
            "FROM workflow_executions WHERE id = :id"
        ),
        {"id": handle.id},
    ).one()
    db.rollback()
    # A timer row, not a held claim: no lock, due later, the attempt count kept.
    assert (row.status, row.lock_token, row.locked_by, row.later, row.step_attempt) == (
        "pending",
        None,
        None,
        True,
        1,
    )
    assert handle.result(timeout=30) == 2


def test_retries_stop_when_the_budget_is_spent(worker):
    handle = FlakyThenOk.start_durable({"failures": 10})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    assert raised.value.error["attempt"] == 4
    assert [s.attempt for s in dc.get_execution(handle.id).steps if s.step == "call_api"] == [
        1,
        2,
        3,
        4,
    ]


def test_give_up_on_exceptions_are_not_retried(worker, redis_client):
    handle = GivesUp.start_durable({})
    with pytest.raises(dc.WorkflowFailed, match="not worth retrying"):
        handle.result(timeout=30)
    assert runs_of(handle.id, "only") == 1


# --- decisions -------------------------------------------------------------------------


def test_a_decision_can_loop_back(worker):
    handle = Countdown.start_durable({"times": 3})
    assert handle.result(timeout=30) == {"ticks": 3, "last": 3}
    names = [s.step for s in dc.get_execution(handle.id).steps]
    assert names == ["tick", "again", "tick", "again", "tick", "again", "done"]


def test_a_loop_past_max_step_runs_fails_clearly(worker):
    handle = LoopsForever.start_durable({})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    assert raised.value.error["type"] == "durable_celery.errors.StepLimitExceeded"
    assert "max_step_runs=10" in raised.value.error["message"]
    assert len(dc.get_execution(handle.id).steps) == 10


def test_an_unknown_decision_target_fails_naming_the_allowed_steps(worker):
    handle = BadTarget.start_durable({"target": "nowhere"})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    message = raised.value.error["message"]
    assert raised.value.error["type"] == "durable_celery.errors.DecisionError"
    assert "returned 'nowhere'" in message and "allowed: choose, fine or None" in message


# --- each --------------------------------------------------------------------------------


def test_each_runs_200_items_across_both_worker_processes_in_item_order(worker, db, redis_client):
    handle = FanOut.start_durable({"n": 200})

    assert handle.result(timeout=120) == sum(i * 2 for i in range(200))

    execution = dc.get_execution(handle.id)
    each_rows = [s for s in execution.steps if s.step == "double"]
    assert len(each_rows) == 1 and each_rows[0].status == "completed"
    outputs = each_rows[0].output
    assert [entry["v"] for entry in outputs] == [i * 2 for i in range(200)]
    assert [entry["index"] for entry in outputs] == list(range(200))
    assert len({entry["pid"] for entry in outputs}) == 2  # both pool processes took items
    for item in range(200):
        assert int(redis_client.get(f"runs:{handle.id}:item:{item}")) == 1
    statuses = db.execute(
        text("SELECT status, count(*) FROM step_items WHERE execution_id = :id GROUP BY 1"),
        {"id": handle.id},
    ).all()
    db.rollback()
    assert dict(statuses) == {"completed": 200}


def test_each_keeps_at_most_concurrency_items_in_flight(worker):
    handle = FanOutOneAtATime.start_durable({"n": 6, "pause": 0.1})
    outputs = dc.get_execution(handle.id).steps if handle.result(timeout=60) else None
    intervals = sorted((entry["start"], entry["end"]) for entry in outputs[0].output)
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end  # concurrency=1: no two items overlapped


def test_each_items_retry_with_the_step_policy(worker):
    handle = FanOut.start_durable({"n": 5, "flaky": [1, 3]})
    handle.result(timeout=60)
    outputs = next(s for s in dc.get_execution(handle.id).steps if s.step == "double").output
    assert [entry["attempt"] for entry in outputs] == [1, 2, 1, 2, 1]


def test_each_fail_fast_fails_the_step_and_cancels_what_has_not_started(worker, db, redis_client):
    handle = FanOutOneAtATime.start_durable({"n": 5, "fail": [1]})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=60)
    assert raised.value.error["type"] == "durable_celery.errors.FanoutFailed"
    assert (
        "item 1 of step 'double' failed: ValueError: item 1 is bad" in raised.value.error["message"]
    )
    rows = db.execute(
        text("SELECT item_index, status FROM step_items WHERE execution_id = :id ORDER BY 1"),
        {"id": handle.id},
    ).all()
    db.rollback()
    assert [tuple(row) for row in rows] == [
        (0, "completed"),
        (1, "failed"),
        (2, "cancelled"),
        (3, "cancelled"),
        (4, "cancelled"),
    ]
    assert all(redis_client.get(f"runs:{handle.id}:item:{i}") is None for i in (2, 3, 4))


def test_each_continue_records_failed_items_as_errors(worker):
    handle = FanOutContinue.start_durable({"fail": [2]})
    assert handle.result(timeout=60) == {"ok": 3, "failed": 1}
    outputs = next(s for s in dc.get_execution(handle.id).steps if s.step == "double").output
    assert outputs[2] == {"error": {"type": "ValueError", "message": "item 2 is bad"}}
    assert outputs[3]["v"] == 6


def test_each_with_no_items_outputs_an_empty_list(worker):
    assert EmptyFanOut.start_durable({}).result(timeout=30) == []


# --- parallel ----------------------------------------------------------------------------


def test_parallel_branches_run_as_separate_units_and_collect_by_name(worker):
    handle = Checks.start_durable({"customer": "ada"})
    assert handle.result(timeout=60) == "approve"
    output = next(s for s in dc.get_execution(handle.id).steps if s.step == "checks").output
    assert set(output) == {"credit_check", "fraud_check", "kyc_check"}
    assert output["fraud_check"] == {"risk": "low"}
    assert output["kyc_check"] == "verified ada"


def test_parallel_fail_fast_and_continue(worker):
    failing = Checks.start_durable({"customer": "x", "fraud_fails": True})
    with pytest.raises(dc.WorkflowFailed, match="fraud service down"):
        failing.result(timeout=60)
    tolerant = ChecksContinue.start_durable({"customer": "y", "fraud_fails": True})
    result = tolerant.result(timeout=60)
    assert result["fraud_check"]["error"]["message"] == "fraud service down"
    assert result["credit_check"]["score"] == 700


# --- saga ----------------------------------------------------------------------------------


def test_a_failed_saga_runs_compensations_newest_first(worker, redis_client):
    handle = Saga.start_durable({})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=60)
    assert raised.value.status == "compensated"
    execution = dc.get_execution(handle.id)
    assert execution.status == "compensated"
    assert execution.error["message"] == "carrier unavailable"
    assert [(s.step, s.status) for s in execution.steps] == [
        ("reserve", "completed"),
        ("charge", "completed"),
        ("notify", "completed"),
        ("ship", "failed"),
        ("refund", "completed"),
        ("release", "completed"),
    ]
    assert execution.steps[4].output == {"refunded": "charged", "because": "carrier unavailable"}
    for name in ("reserve", "charge", "refund", "release"):
        assert runs_of(handle.id, name) == 1


def test_a_failing_compensation_ends_as_compensation_failed(worker, redis_client):
    handle = Saga.start_durable({"refund_fails": True})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=60)
    assert raised.value.status == "compensation_failed"
    execution = dc.get_execution(handle.id)
    assert execution.error["message"] == "carrier unavailable"
    assert execution.error["compensation_error"]["message"] == "refund failed"
    assert runs_of(handle.id, "release") == 0


# --- child workflows -------------------------------------------------------------------------


def test_a_parent_waits_for_its_child_without_holding_a_worker(worker, db, redis_client):
    handle = Parent.start_durable({"x": 21, "pause": 1.0})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    row = db.execute(
        text("SELECT lock_token, suspended_on FROM workflow_executions WHERE id = :id"),
        {"id": handle.id},
    ).one()
    db.rollback()
    assert row.lock_token is None and row.suspended_on == "child"

    result = handle.result(timeout=60)

    assert result["child"] == {"doubled": 42}
    children = db.execute(
        text(
            "SELECT id, workflow, status, input FROM workflow_executions WHERE parent_id = :id "
            "ORDER BY created_at"
        ),
        {"id": handle.id},
    ).all()
    db.rollback()
    # The step ran twice (before and after the wait) yet each child started once.
    assert runs_of(handle.id, "spawn") == 2
    assert len(children) == 2
    assert str(children[0].id) == result["other"]
    assert dc.get_execution(result["other"]).parent_id == handle.id


def test_a_failed_child_raises_in_the_parent_step(worker):
    handle = Parent.start_durable({"x": 1, "child_fails": True})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=60)
    assert raised.value.error["type"] == "durable_celery.errors.ChildWorkflowFailed"
    assert "child failed" in raised.value.error["message"]


def test_a_child_that_fails_without_running_a_step_still_wakes_its_parent(runtime, worker, db):
    from durable_celery.engine import run_execution
    from tests.integration.flows_control import ParentOfVanishing

    handle = ParentOfVanishing.start_durable({})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    child = db.execute(
        text("SELECT id FROM workflow_executions WHERE parent_id = :id"), {"id": handle.id}
    ).scalar_one()
    # A deploy removed the step the child was at: it fails without running a step.
    db.execute(
        text("UPDATE workflow_executions SET current_step = 'gone' WHERE id = :id"), {"id": child}
    )
    db.commit()
    assert run_execution(runtime, str(child)) == "failed"

    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    assert raised.value.error["type"] == "durable_celery.errors.ChildWorkflowFailed"
    assert "step 'gone' no longer exists" in raised.value.error["message"]


def test_the_onboarding_example_runs_parallel_checks_and_a_child(worker, db):
    from workflows.examples import OnboardCustomer

    welcomed = OnboardCustomer.start_durable({"customer": "ada"})
    assert welcomed.result(timeout=60) == {"customer": "ada", "opened": True}
    children = db.execute(
        text("SELECT workflow, status FROM workflow_executions WHERE parent_id = :id"),
        {"id": welcomed.id},
    ).all()
    db.rollback()
    assert [tuple(row) for row in children] == [("place_order", "completed")]

    declined = OnboardCustomer.start_durable({"customer": "mallory"})
    assert declined.result(timeout=60) == {"customer": "mallory", "opened": False}
