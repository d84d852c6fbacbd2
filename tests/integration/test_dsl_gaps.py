"""END, @branch, per-step log capture, retried decisions and per-branch queues, each on the
session's `celery -A durable_celery worker` subprocess (plus a worker of its own for the
per-branch queue)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows import runs_of
from tests.integration.flows_dsl import (
    ROUTED_QUEUE,
    Chatty,
    EndsEarly,
    FlakyRouting,
    Fulfil,
    RoutedChecks,
)


def _steps(execution_id: str) -> list[tuple[str, str]]:
    return [(s.step, s.status) for s in dc.get_execution(execution_id).steps]


# --- END -------------------------------------------------------------------------------


def test_a_decision_returning_end_completes_with_the_last_real_output(worker):
    handle = EndsEarly.start_durable({"total": 0})

    assert handle.result(timeout=30) == {"total": 0}
    execution = dc.get_execution(handle.id)
    assert execution.status == "completed"
    assert [(s.step, s.output) for s in execution.steps] == [
        ("price", {"total": 0}),
        ("route", "__end__"),
    ]
    assert runs_of(handle.id, "charge") == 0


def test_a_final_decision_returning_none_leaves_the_result_to_the_step_before(worker):
    handle = EndsEarly.start_durable({"total": 7})

    assert handle.result(timeout=30) == {"charged": 7}
    assert [s for s, _ in _steps(handle.id)] == ["price", "route", "charge", "audit"]


# --- branch ----------------------------------------------------------------------------


def test_a_branch_runs_the_chosen_case_in_order_then_joins(worker):
    handle = Fulfil.start_durable({"kind": "physical"})

    assert handle.result(timeout=30) == {"seen": ["by_kind", "reserve", "ship", "validate"]}
    assert _steps(handle.id) == [
        ("validate", "completed"),
        ("by_kind", "completed"),
        ("reserve", "completed"),
        ("ship", "failed"),  # the case step's own retry policy applies
        ("ship", "completed"),
        ("notify", "completed"),
        ("reship", "completed"),
    ]
    assert dc.get_execution(handle.id).steps[1].output == "physical"
    assert runs_of(handle.id, "email_link") == 0


def test_a_branch_chooses_a_literal_case_or_none_to_skip_every_case(worker):
    gift = Fulfil.start_durable({"kind": "gift"})
    none = Fulfil.start_durable({"kind": "none"})

    assert gift.result(timeout=30) == {"seen": ["by_kind", "email_link", "validate"]}
    assert [s for s, _ in _steps(gift.id)] == [
        "validate",
        "by_kind",
        "email_link",
        "notify",
        "reship",
    ]
    assert none.result(timeout=30) == {"seen": ["by_kind", "validate"]}
    assert [s for s, _ in _steps(none.id)] == ["validate", "by_kind", "notify", "reship"]


def test_a_branch_returning_end_completes_the_execution(worker):
    handle = Fulfil.start_durable({"kind": "void"})

    assert handle.result(timeout=30) == {"kind": "void"}
    assert [s for s, _ in _steps(handle.id)] == ["validate", "by_kind"]


def test_a_branch_returning_an_unknown_case_fails_naming_the_cases(worker):
    handle = Fulfil.start_durable({"kind": "pigeon"})

    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    assert raised.value.error["type"] == "durable_celery.errors.DecisionError"
    assert (
        "branch 'by_kind' of workflow 'tests.dsl.fulfil' returned 'pigeon', which is not one "
        "of its cases; allowed: digital, physical or None"
    ) in raised.value.error["message"]


def test_a_decision_may_jump_into_a_case_which_then_joins(worker):
    handle = Fulfil.start_durable({"kind": "physical", "reship": True})

    handle.result(timeout=30)
    completed = [s for s, status in _steps(handle.id) if status == "completed"]
    assert completed[-5:] == ["notify", "reship", "ship", "notify", "reship"]


# --- retried decisions and branches -----------------------------------------------------


def test_decisions_and_branches_take_a_retry_policy(worker):
    handle = FlakyRouting.start_durable({})

    assert handle.result(timeout=30) == {"choose": 3, "pick": 2}
    assert _steps(handle.id) == [
        ("start", "completed"),
        ("choose", "failed"),
        ("choose", "failed"),
        ("choose", "completed"),
        ("pick", "failed"),
        ("pick", "completed"),
        ("done", "completed"),
    ]
    assert runs_of(handle.id, "skipped") == 0


# --- log capture -----------------------------------------------------------------------


def test_what_a_step_prints_and_logs_is_kept_with_its_attempt(worker):
    token = uuid.uuid4().hex[:12]
    handle = Chatty.start_durable({"token": token})

    assert handle.result(timeout=30) is None
    talk = dc.get_execution(handle.id).steps[0]
    # One line per print (not one more for Celery's redirection of stdout to logging),
    # any propagating logger, ctx.logger once, nothing from another thread.
    assert talk.logs == [
        f"STDOUT printed {token}",
        f"STDERR to stderr {token}",
        f"WARNING tests.dsl.library: library says {token}",
        f"WARNING ctx says {token}",
        f"STDOUT no newline {token}",
    ]
    # The output still reaches the worker's own log (a tee, not a diversion).
    assert wait_until(lambda: f"printed {token}" in worker.log_tail(5_000), timeout=10)
    assert worker.log_tail(5_000).count(f"printed {token}") == 1


def test_captured_output_is_bounded_while_the_step_runs(worker):
    handle = Chatty.start_durable({"token": "t", "lines": 20_000})

    handle.result(timeout=60)
    flood = dc.get_execution(handle.id).steps[1]
    assert flood.logs[0] == "STDOUT line 0 " + "x" * 50
    assert "more lines of output dropped" in flood.logs[-1]
    assert sum(len(line) for line in flood.logs) < 70_000


def test_a_failed_attempt_keeps_what_it_printed(worker):
    handle = Chatty.start_durable({"token": "boom", "fail": True})

    with pytest.raises(dc.WorkflowFailed, match="loud failure"):
        handle.result(timeout=30)
    failed = dc.get_execution(handle.id).steps[-1]
    assert (failed.step, failed.status) == ("fail_loudly", "failed")
    assert failed.logs == ["STDOUT about to fail boom"]


# --- per-branch queues -----------------------------------------------------------------


def test_a_parallel_branch_can_have_a_queue_of_its_own(worker, db):
    with WorkerProcess(queues=[ROUTED_QUEUE], concurrency=1, cwd=ROOT, name="dslbranch"):
        handle = RoutedChecks.start_durable({})
        result = handle.result(timeout=60)

    # Only the dedicated worker consumes that queue; the other branch keeps the default.
    assert result["where_routed"].startswith("dslbranch@")
    assert result["where_default"].startswith("session@")
    queues = db.execute(
        text("SELECT item_index, queue FROM step_items WHERE execution_id = :id ORDER BY 1"),
        {"id": handle.id},
    ).all()
    db.rollback()
    assert [tuple(row) for row in queues] == [(0, "default"), (1, ROUTED_QUEUE)]
