"""Executions run through a real `celery -A durable_celery worker` subprocess."""

from __future__ import annotations

import pytest

import durable_celery as dc
from tests.integration.flows import FailsInSecond, ThreeSteps


def test_three_step_workflow_runs_to_completion_on_a_worker_subprocess(worker, redis_client):
    handle = ThreeSteps.start_durable({"customer": "ada"})

    result = handle.result(timeout=30)

    assert result["n"] == 3
    assert result["step"] == "third"
    assert result["attempt"] == 1
    assert result["workflow"] == "tests.three_steps"
    assert result["execution_id"] == handle.id
    execution = dc.get_execution(handle.id)
    assert execution.status == "completed"
    assert execution.result == result
    assert [(s.step, s.sequence, s.attempt, s.status) for s in execution.steps] == [
        ("first", 1, 1, "completed"),
        ("second", 2, 1, "completed"),
        ("third", 3, 1, "completed"),
    ]
    assert all(s.completed_at >= s.started_at and s.duration_ms >= 0 for s in execution.steps)
    assert execution.started_at is not None and execution.completed_at is not None
    assert execution.current_step is None
    for name in ("first", "second", "third"):
        assert int(redis_client.get(f"runs:{handle.id}:{name}")) == 1


def test_context_and_results_are_carried_from_step_to_step(worker):
    handle = ThreeSteps.start_durable({"customer": "grace"})

    result = handle.result(timeout=30)

    assert result["seen"] == ["first", "second", "third"]
    execution = dc.get_execution(handle.id)
    assert execution.context == {"seen": ["first", "second", "third"], "customer": "grace"}
    assert execution.steps[1].output == {"n": 2, "customer": "grace"}
    assert execution.input == {"customer": "grace"}


def test_a_failing_step_fails_the_execution_with_type_message_and_traceback(worker, redis_client):
    handle = FailsInSecond.start_durable({"card": "4242"})

    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)

    error = raised.value.error
    assert error["type"] == "tests.integration.flows.ChargeFailure"
    assert error["message"] == "card 4242 declined"
    assert error["step"] == "boom"
    assert 'raise ChargeFailure(f"card' in error["traceback"]
    assert "in boom" in error["traceback"]
    execution = dc.get_execution(handle.id)
    assert execution.status == "failed"
    assert execution.error == error
    assert [(s.step, s.status) for s in execution.steps] == [
        ("ok", "completed"),
        ("boom", "failed"),
    ]
    failed = execution.steps[1]
    assert failed.error == error
    assert failed.logs == ["WARNING about to charge card 4242"]
    # The failed step's context writes are not checkpointed; later steps never ran.
    assert execution.context == {"before": True}
    assert redis_client.get(f"runs:{handle.id}:never") is None


def test_status_moves_from_pending_to_completed(worker):
    handle = ThreeSteps.start_durable({"customer": "x"}, queue="nobody-listens")
    assert handle.status() == "pending"
    assert dc.get_execution(handle.id).queue == "nobody-listens"
    with pytest.raises(dc.ResultTimeout):
        handle.result(timeout=0.2)
    done = ThreeSteps.start_durable({"customer": "y"}, queue="other")
    done.result(timeout=30)
    assert done.status() == "completed"


def test_start_by_registered_name_and_list_executions(worker):
    handle = dc.start("tests.three_steps", {"customer": "by-name"}, priority=5)
    handle.result(timeout=30)

    listed = dc.list_executions(workflow="tests.three_steps", status="completed", limit=500)
    assert handle.id in [e.id for e in listed]
    record = next(e for e in listed if e.id == handle.id)
    assert record.priority == 5 and record.steps is None
    assert dc.list_executions(workflow="tests.no_such_workflow") == []
    newest_first = dc.list_executions(limit=5)
    assert [e.created_at for e in newest_first] == sorted(
        (e.created_at for e in newest_first), reverse=True
    )
    assert len(dc.list_executions(limit=2, offset=1)) <= 2


def test_non_json_output_fails_the_step_with_a_clear_error(worker):
    handle = dc.start("tests.not_json_output")
    with pytest.raises(dc.WorkflowFailed) as raised:
        handle.result(timeout=30)
    assert raised.value.error["type"] == "durable_celery.errors.InvalidPayload"
    assert "output of step 'bad' is not JSON-serialisable" in raised.value.error["message"]
