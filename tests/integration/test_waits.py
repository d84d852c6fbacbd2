"""Durable sleep, buffered events and human input, on real workers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.engine import run_execution
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows import runs_of
from tests.integration.flows_waits import (
    AnyAndAll,
    Approval,
    EventWaiter,
    LongSleeper,
    ManyWaits,
    Sleeper,
    SleepsUntil,
    TwoOfTheSameEvent,
    WaitsTooLong,
)


def _row(db, execution_id: str):
    row = db.execute(
        text(
            "SELECT status, lock_token, locked_by, run_at, suspended_on, now() AS now "
            "FROM workflow_executions WHERE id = :id"
        ),
        {"id": execution_id},
    ).one()
    db.rollback()
    return row


# --- sleep -----------------------------------------------------------------------------


def test_sleep_suspends_without_a_worker_then_resumes(worker, db):
    handle = Sleeper.start_durable({"seconds": 1.5})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    row = _row(db, handle.id)
    assert row.lock_token is None and row.locked_by is None and row.suspended_on == "sleep"
    assert 0 < (row.run_at - row.now).total_seconds() <= 1.5  # a timer, not a held worker

    result = handle.result(timeout=30)

    assert result["woke"] - result["before"] < 1  # the step ran again after the sleep
    assert runs_of(handle.id, "nap") == 2
    step = handle.execution().steps[0]
    assert (step.completed_at - handle.execution().started_at).total_seconds() >= 1.5


def test_a_thirty_day_sleep_is_a_row_with_a_timer(worker, db):
    handle = LongSleeper.start_durable({})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    row = _row(db, handle.id)
    assert timedelta(days=29, hours=23) < row.run_at - row.now <= timedelta(days=30)
    assert row.lock_token is None
    dc.cancel(handle.id, reason="not waiting a month in a test")


def test_sleep_until_an_aware_datetime(worker):
    until = datetime.now(UTC) + timedelta(seconds=1)
    handle = SleepsUntil.start_durable({"until": until.isoformat()})
    assert handle.result(timeout=30) == "awake"
    assert handle.execution().completed_at >= until


def test_a_sleep_survives_a_worker_restart(runtime, worker):
    first = WorkerProcess(queues=["sleepers"], concurrency=1, cwd=ROOT, name="sleepers-1").start()
    handle = Sleeper.start_durable({"seconds": 3}, queue="sleepers")
    try:
        assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    finally:
        first.kill()
    with WorkerProcess(queues=["sleepers"], concurrency=1, cwd=ROOT, name="sleepers-2"):
        result = handle.result(timeout=60)
    assert result["woke"] > result["before"]


# --- events ----------------------------------------------------------------------------


def test_an_event_sent_before_the_wait_is_buffered_and_delivered(runtime):
    handle = EventWaiter.start_durable({}, queue="nobody-listens")
    dc.send_event(handle.id, "paid", {"amount": 12})

    # The execution reaches its wait only now, and finds the event waiting for it.
    assert run_execution(runtime, handle.id) == "completed"
    assert handle.result(timeout=1)["payload"] == {"amount": 12}


def test_an_event_sent_while_the_step_before_runs_is_not_lost(worker):
    handle = EventWaiter.start_durable({"busy": 1.0})
    assert wait_until(lambda: handle.status() == "running", timeout=30)
    dc.send_event(handle.id, "paid", "early")
    assert handle.result(timeout=30)["payload"] == "early"


def test_send_event_wakes_a_waiting_execution_at_once(worker):
    handle = EventWaiter.start_durable({})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    sent = time.time()
    dc.send_event(handle.id, "paid", {"ok": True})
    result = handle.result(timeout=30)
    assert result["payload"] == {"ok": True}
    # Woken through Celery, not by the poller's 10 s grace for lost wake-ups.
    assert result["resumed_at"] - sent < 5


def test_two_events_of_one_name_go_to_two_waits_in_order(worker):
    handle = TwoOfTheSameEvent.start_durable({})
    dc.send_event(handle.id, "item", "first")
    dc.send_event(handle.id, "item", "second")
    assert handle.result(timeout=30) == ["first", "second"]


def test_wait_for_any_and_wait_for_all(worker):
    handle = AnyAndAll.start_durable({})
    dc.send_event(handle.id, "cash", 20)
    assert wait_until(lambda: handle.execution().current_step == "all_of", timeout=30)
    dc.send_event(handle.id, "countersigned", "bob")
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    dc.send_event(handle.id, "signed", "alice")
    assert handle.result(timeout=30) == {"signed": "alice", "countersigned": "bob"}
    assert handle.execution().steps[0].output == ["cash", 20]


def test_a_timed_out_wait_returns_its_timeout_value(worker):
    handle = EventWaiter.start_durable({"timeout": 1, "fallback": "no payment"})
    assert handle.result(timeout=30)["payload"] == "no payment"


def test_a_timed_out_wait_without_value_raises_wait_timeout(worker):
    handle = EventWaiter.start_durable({"timeout": 1})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    assert raised.value.error["type"] == "durable_celery.errors.WaitTimeout"
    assert "wait_for_event(paid) timed out" in raised.value.error["message"]
    assert [s.attempt for s in handle.execution().steps if s.step == "wait"] == [1]


def test_the_workflow_timeout_applies_while_waiting_for_an_event(worker):
    handle = WaitsTooLong.start_durable({})
    with pytest.raises(dc.WorkflowTimedOut):
        handle.result(timeout=30)


def test_cancel_a_waiting_execution(worker):
    handle = EventWaiter.start_durable({})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    assert dc.cancel(handle.id) == "cancelled"
    with pytest.raises(dc.ExecutionStateError):
        dc.send_event(handle.id, "paid", 1)


# --- human input -----------------------------------------------------------------------


def test_wait_for_input_lists_the_question_and_takes_the_answer(worker):
    handle = Approval.start_durable({"what": "the budget"})
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=handle.id), timeout=30)
    (pending,) = dc.list_pending_inputs(execution_id=handle.id)
    assert (pending.name, pending.prompt, pending.workflow, pending.step) == (
        "approval",
        "Approve the budget?",
        "tests.approval",
        "ask",
    )
    assert pending.fields == {"approved": "bool", "note": "str"}
    assert pending in dc.list_pending_inputs(workflow="tests.approval")

    dc.provide_input(handle.id, "approval", {"approved": True, "note": "ok"})

    assert handle.result(timeout=30) == {"approved": True, "note": "ok"}
    assert dc.list_pending_inputs(execution_id=handle.id) == []
    with pytest.raises(dc.ExecutionStateError):
        dc.provide_input(handle.id, "approval", {"approved": False})


def test_an_input_nobody_asked_for_is_rejected(worker, db):
    handle = Approval.start_durable({"what": "x"})
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=handle.id), timeout=30)
    with pytest.raises(
        dc.InputNotRequested, match=r"not waiting for input 'aproval' \(it asks for 'approval'\)"
    ):
        dc.provide_input(handle.id, "aproval", True)
    assert handle.status() == "waiting"
    dc.provide_input(handle.id, "approval", {"approved": True, "note": ""})
    assert handle.result(timeout=30) == {"approved": True, "note": ""}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"approved": "banana", "note": "x"}, "field 'approved' must be bool, got 'banana'"),
        ({"approved": True, "note": "x", "extra": 1}, "has no field 'extra'"),
        ({"approved": True}, "needs field 'note' \\(str\\)"),
        ({"approved": 1, "note": "x"}, "field 'approved' must be bool, got 1"),
        (True, "takes a dict of"),
    ],
)
def test_an_answer_that_does_not_fit_the_fields_is_refused_and_changes_nothing(
    worker, answer, message
):
    handle = Approval.start_durable({"what": "the fields"})
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=handle.id), timeout=30)
    with pytest.raises(dc.InvalidPayload, match=message):
        dc.provide_input(handle.id, "approval", answer)
    assert handle.status() == "waiting"
    assert len(dc.list_pending_inputs(execution_id=handle.id)) == 1
    dc.cancel(handle.id)


def test_an_unanswered_input_times_out_to_its_value(worker):
    handle = Approval.start_durable({"what": "y", "timeout": 1, "fallback": {"approved": False}})
    assert handle.result(timeout=30) == {"approved": False}
    assert dc.list_pending_inputs(execution_id=handle.id) == []


# --- several waits in one step ------------------------------------------------------------


def test_several_waits_in_one_step_replay_their_recorded_values(worker):
    handle = ManyWaits.start_durable({})
    assert wait_until(
        lambda: (
            dc.list_pending_inputs(execution_id=handle.id) != []
            or (handle.status() == "waiting" and runs_of(handle.id, "everything") >= 2)
        ),
        timeout=30,
    )
    dc.send_event(handle.id, "go", "green")
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=handle.id), timeout=30)
    dc.provide_input(handle.id, "confirm", "yes")

    result = handle.result(timeout=30)

    assert (result["signal"], result["answer"]) == ("green", "yes")
    # The code before the waits ran once per resume: start, after sleep, after the event,
    # after the input. Each wait suspended once and then returned its recorded value.
    assert runs_of(handle.id, "everything") == 4
    assert [s.status for s in handle.execution().steps] == ["completed"]


def test_the_expense_example_rejects_when_the_manager_says_no(worker):
    from workflows.examples import ExpenseApproval

    handle = ExpenseApproval.start_durable({"employee": "bob", "amount": 9000})
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=handle.id), timeout=30)
    dc.provide_input(handle.id, "approval", {"approved": False, "note": "too much"})
    assert handle.result(timeout=30) == {"status": "rejected", "amount": 9000}
    assert [s.step for s in handle.execution().steps] == [
        "submit",
        "approve",
        "route",
        "reject",
        "archive",
    ]
