"""Typed human inputs, the pending inputs and events an operator lists, ctx.delete and
run_child(timeout=), on real workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.cli import main
from durable_celery.client.signals import list_pending_events
from durable_celery.engine import run_execution
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows import runs_of
from tests.integration.flows_inputs import (
    AskOne,
    AwaitsEvents,
    CallsWithTimeout,
    Forgets,
    Questionnaire,
)


def _asked(execution_id: str, name: str) -> dc.PendingInput | None:
    for pending in dc.list_pending_inputs(execution_id=execution_id):
        if pending.name == name:
            return pending
    return None


def _children(db, parent_id: str) -> list[tuple[str, str, str]]:
    rows = db.execute(
        text(
            "WITH RECURSIVE tree AS ("
            " SELECT id, workflow, status, 1 AS depth FROM workflow_executions"
            " WHERE parent_id = :id"
            " UNION ALL SELECT e.id, e.workflow, e.status, tree.depth + 1"
            " FROM workflow_executions AS e JOIN tree ON e.parent_id = tree.id)"
            " SELECT id, workflow, status FROM tree ORDER BY depth"
        ),
        {"id": parent_id},
    ).all()
    db.rollback()
    return [(str(row.id), row.workflow, row.status) for row in rows]


# --- typed inputs ---------------------------------------------------------------------------


def test_each_kind_of_input_is_listed_typed_answered_in_turn_and_replayed(worker):
    handle = Questionnaire.start_durable({})
    answers = [
        ("approval", "approval", None, {"approved": True, "comment": "fine"}),
        ("size", "single_choice", ["S", "M", "L"], "M"),
        ("extras", "multi_choice", ["gift wrap", "express"], ["express", "gift wrap"]),
        ("note", "free_text", None, "ring twice"),
        ("address", "form", None, {"street": "Main St", "number": 5}),
        ("review", "approval", None, False),
    ]
    for name, kind, choices, answer in answers:
        assert wait_until(lambda name=name: _asked(handle.id, name), timeout=30), name
        asked = _asked(handle.id, name)
        assert (asked.kind, asked.choices, asked.status, asked.value) == (
            kind,
            choices,
            "pending",
            None,
        )
        dc.provide_input(handle.id, name, answer)

    assert handle.result(timeout=30) == {
        "approved": True,
        "size": "M",
        "extras": ["express", "gift wrap"],
        "note": "ring twice",
        "address": {"street": "Main St", "number": 5},
        "raw": {"approved": False, "comment": None},
    }
    # One run to ask each question and one after the last answer: earlier answers came
    # back from their records each time.
    assert runs_of(handle.id, "ask") == 7
    answered = dc.list_pending_inputs(execution_id=handle.id, status="answered")
    assert [(a.name, a.status, a.value) for a in answered] == [
        ("approval", "answered", {"approved": True, "comment": "fine"}),
        ("size", "answered", "M"),
        ("extras", "answered", ["express", "gift wrap"]),
        ("note", "answered", "ring twice"),
        ("address", "answered", {"street": "Main St", "number": 5}),
        ("review", "answered", {"approved": False, "comment": None}),
    ]
    assert all(a.answered_at is not None and a.answered_at >= a.created_at for a in answered)
    assert dc.list_pending_inputs(execution_id=handle.id) == []


def test_answers_that_do_not_fit_the_kind_are_refused_and_change_nothing(worker, db):
    questions = {
        "approval": (AskOne.start_durable({"kind": "approval"}), ["yes", {"approved": 1}]),
        "single": (
            AskOne.start_durable({"kind": "single_choice", "choices": ["red", "blue"]}),
            ["green", ["red"]],
        ),
        "multi": (
            AskOne.start_durable({"kind": "multi_choice", "choices": ["red", "blue"]}),
            ["red", ["red", "red"], ["green"]],
        ),
        "text": (AskOne.start_durable({"kind": "free_text"}), [42, None]),
    }
    for handle, _ in questions.values():
        assert wait_until(lambda handle=handle: _asked(handle.id, "question"), timeout=30)

    for handle, bad_answers in questions.values():
        for answer in bad_answers:
            with pytest.raises(dc.InvalidPayload, match=r"^input 'question'"):
                dc.provide_input(handle.id, "question", answer)
        assert handle.status() == "waiting"
        row = db.execute(
            text("SELECT status, value FROM pending_inputs WHERE execution_id = :id"),
            {"id": handle.id},
        ).one()
        db.rollback()
        assert (row.status, row.value) == ("pending", None)

    good = {"approval": True, "single": "blue", "multi": [], "text": "ok"}
    for key, (handle, _) in questions.items():
        dc.provide_input(handle.id, "question", good[key])
    assert [handle.result(timeout=30) for handle, _ in questions.values()] == [
        {"approved": True, "comment": None},
        "blue",
        [],
        "ok",
    ]


def test_list_pending_inputs_by_status(worker, capsys):
    # One after the other, so that the inputs are asked in this order.
    pending = AskOne.start_durable({})
    assert wait_until(lambda: _asked(pending.id, "question"), timeout=30)
    answered = AskOne.start_durable({})
    assert wait_until(lambda: _asked(answered.id, "question"), timeout=30)
    timed_out = AskOne.start_durable({"kind": "free_text", "timeout": 0.5, "fallback": "-"})
    assert timed_out.result(timeout=30) == "-"
    dc.provide_input(answered.id, "question", {"any": "json"})
    assert answered.result(timeout=30) == {"any": "json"}

    def listed(status):
        ids = {pending.id: "pending", answered.id: "answered", timed_out.id: "timed_out"}
        found = dc.list_pending_inputs(workflow="tests.ask_one", status=status)
        return [ids[item.execution_id] for item in found if item.execution_id in ids]

    assert listed("pending") == ["pending"]
    assert listed("answered") == ["answered"]
    assert listed("timed_out") == ["timed_out"]
    assert listed(["timed_out", "answered"]) == ["answered", "timed_out"]  # oldest first
    assert listed(None) == ["pending", "answered", "timed_out"]
    (late,) = dc.list_pending_inputs(execution_id=timed_out.id, status="timed_out")
    assert (late.kind, late.value, late.answered_at) == ("free_text", None, None)
    with pytest.raises(dc.InvalidOption, match="use one of pending, answered, timed_out"):
        dc.list_pending_inputs(status="open")

    # The command line: kinds and choices, and answers with --status.
    assert cli(capsys, "inputs", "--execution", pending.id)[:4] == [
        pending.id,
        "tests.ask_one",
        "question",
        "value",
    ]
    answered_row = cli(capsys, "inputs", "--execution", answered.id, "--status", "answered")
    assert answered_row[0] == answered.id and "answered" in answered_row
    assert '{"any": "json"}' in answered_row
    header = capsys_header(capsys, "inputs", "--status", "all")
    assert header[:5] == ["EXECUTION", "WORKFLOW", "INPUT", "KIND", "CHOICES"]
    dc.cancel(pending.id)


def cli(capsys, *arguments: str) -> list[str]:
    """The fields of the first table row a `durable-celery` command prints."""
    assert main(list(arguments)) == 0
    lines = capsys.readouterr().out.splitlines()
    return [field.strip() for field in lines[1].split("  ") if field]


def capsys_header(capsys, *arguments: str) -> list[str]:
    assert main(list(arguments)) == 0
    return capsys.readouterr().out.splitlines()[0].split()


# --- pending events ---------------------------------------------------------------------------


def _events(execution_id: str) -> list[tuple[str, str, str]]:
    return [(e.event, e.kind, e.step) for e in list_pending_events(execution_id=execution_id)]


def test_list_pending_events_names_the_events_live_executions_still_wait_for(runtime, capsys):
    # Run in this process, step by step: nobody listens on the queue.
    first = AwaitsEvents.start_durable({}, queue="nobody-listens")
    second = AwaitsEvents.start_durable({}, queue="nobody-listens")
    before = datetime.now(UTC)
    assert run_execution(runtime, first.id) == "waiting"
    assert run_execution(runtime, second.id) == "waiting"

    assert _events(first.id) == [("shipped", "any", "either"), ("lost", "any", "either")]
    listed = cli(capsys, "events", "--execution", first.id)
    assert listed[:5] == [first.id, "tests.awaits_events", "shipped", "any", "either"]
    shipped = list_pending_events(workflow="tests.awaits_events", event="shipped")
    assert [e.execution_id for e in shipped if e.execution_id in (first.id, second.id)] == [
        first.id,
        second.id,
    ]
    event = shipped[-1]
    assert before - timedelta(seconds=5) < event.since < datetime.now(UTC)
    assert event.until - event.since == pytest.approx(timedelta(days=1), abs=timedelta(seconds=5))
    assert list_pending_events(workflow="tests.awaits_events", event="paid") == []

    # Sent, not yet taken: the wait ends when the execution runs, so nothing is awaited.
    dc.send_event(first.id, "shipped", {"carrier": "x"})
    assert _events(first.id) == []
    assert run_execution(runtime, first.id) == "waiting"
    assert _events(first.id) == [("signed", "all", "both"), ("countersigned", "all", "both")]
    assert list_pending_events(execution_id=first.id)[0].until is None

    dc.send_event(first.id, "signed", "alice")
    assert _events(first.id) == [("countersigned", "all", "both")]
    assert run_execution(runtime, first.id) == "waiting"  # took 'signed', waits for the other
    assert _events(first.id) == [("countersigned", "all", "both")]

    dc.send_event(first.id, "countersigned", "bob")
    assert run_execution(runtime, first.id) == "completed"
    assert _events(first.id) == []
    dc.cancel(second.id)
    assert _events(second.id) == []


# --- ctx.delete -------------------------------------------------------------------------------


def test_ctx_delete_is_checkpointed_and_a_failed_attempt_deletes_nothing(worker):
    handle = Forgets.start_durable({})
    assert handle.result(timeout=30) == {"a": "missing", "b": 2, "c": 3}
    execution = handle.execution()
    assert execution.context == {"b": 2, "c": 3}
    attempts = [(s.step, s.attempt, s.status) for s in execution.steps]
    assert ("forget_then_fail", 1, "failed") in attempts
    assert [s.output for s in execution.steps if s.step == "forget_then_fail"] == [None, 2]


# --- run_child(timeout=) ------------------------------------------------------------------------


def test_run_child_timeout_cancels_the_child_and_its_children_and_raises_wait_timeout(worker, db):
    handle = CallsWithTimeout.start_durable({"timeout": 1.5})
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    error = raised.value.error
    assert error["type"] == "durable_celery.errors.WaitTimeout"
    assert error["step"] == "call"
    (child, grandchild) = _children(db, handle.id)
    assert error["message"] == (
        f"step 'call': run_child(tests.lingers) timed out after 1.5 seconds; child execution "
        f"{child[0]} was cancelled"
    )
    assert [c[1:] for c in (child, grandchild)] == [
        ("tests.lingers", "cancelled"),
        ("tests.lingers_too", "cancelled"),
    ]
    assert (
        dc.get_execution(child[0])
        .error["message"]
        .startswith("run_child timed out after 1.5 seconds in step 'call'")
    )
    runs = runs_of(handle.id, "call")

    # Run again: the recorded timeout stands; no second child, no second wait.
    dc.retry(handle.id)
    with pytest.raises(dc.WorkflowFailed) as again:
        handle.result(timeout=30)
    assert again.value.error["type"] == "durable_celery.errors.WaitTimeout"
    assert runs_of(handle.id, "call") == runs + 1
    assert [c[0] for c in _children(db, handle.id)] == [child[0], grandchild[0]]


def test_a_child_that_ends_in_time_returns_its_result_and_closes_its_timer(worker, db):
    handle = CallsWithTimeout.start_durable({"timeout": 60, "quick": True})
    assert handle.result(timeout=30) == 42
    rows = db.execute(
        text(
            "SELECT kind, status, deadline_at - created_at AS span FROM step_waits "
            "WHERE execution_id = :id"
        ),
        {"id": handle.id},
    ).all()
    db.rollback()
    assert [(r.kind, r.status, r.span) for r in rows] == [
        ("sleep", "resolved", timedelta(seconds=60))
    ]


def test_a_caught_run_child_timeout_lets_the_step_go_on(worker, db):
    handle = CallsWithTimeout.start_durable({"timeout": 1, "catch": True})
    assert handle.result(timeout=30) == "gave up"
    assert wait_until(
        lambda: [c[2] for c in _children(db, handle.id)] == ["cancelled", "cancelled"], timeout=30
    )


def test_the_child_timeout_is_a_durable_timer_that_outlives_a_worker(worker, db):
    queue = "child-timers"
    first = WorkerProcess(queues=[queue], concurrency=1, cwd=ROOT, name="child-timers-1").start()
    handle = CallsWithTimeout.start_durable({"timeout": 3}, queue=queue)
    try:
        assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    finally:
        first.kill()
    row = db.execute(
        text(
            "SELECT e.suspended_on, e.run_at, w.deadline_at FROM workflow_executions AS e "
            "JOIN step_waits AS w ON w.execution_id = e.id WHERE e.id = :id"
        ),
        {"id": handle.id},
    ).one()
    db.rollback()
    # The parent waits on a timer row at the deadline, not on a worker.
    assert (row.suspended_on, row.run_at) == ("child", row.deadline_at)
    assert wait_until(lambda: len(_children(db, handle.id)) == 2, timeout=30)
    child = _children(db, handle.id)[0]
    assert wait_until(lambda: datetime.now(UTC) > row.deadline_at, timeout=30)

    second = WorkerProcess(queues=[queue], concurrency=1, cwd=ROOT, name="child-timers-2")
    with second, pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=60)
    assert raised.value.error["type"] == "durable_celery.errors.WaitTimeout"
    assert dc.get_execution(child[0]).status == "cancelled"
