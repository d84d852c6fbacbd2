"""The state machine's vocabulary is one set of enums, so its users cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import durable_celery as dc
from durable_celery.cli import _parser
from durable_celery.errors import cancellation_record, deadline_record
from durable_celery.states import (
    FINISHED_STATUSES,
    LIVE_STATUSES,
    STORED_EXECUTION_STATUSES,
    ExecutionStatus,
)
from durable_celery.store.queries import reported_status
from durable_celery.store.records import Execution
from durable_celery.store.schema import workflow_executions


def execution(status: ExecutionStatus) -> Execution:
    now = datetime.now(UTC)
    return Execution(
        id="00000000-0000-4000-8000-000000000000",
        workflow="w",
        status=status,
        input={},
        context={},
        result=None,
        error=None,
        current_step=None,
        queue="default",
        priority=0,
        created_at=now,
        started_at=None,
        completed_at=None,
        parent_id=None,
    )


def test_every_status_is_live_finished_or_only_reported():
    assert LIVE_STATUSES.isdisjoint(FINISHED_STATUSES)
    assert set(STORED_EXECUTION_STATUSES) == LIVE_STATUSES | FINISHED_STATUSES
    assert ExecutionStatus.COMPENSATING not in STORED_EXECUTION_STATUSES


@pytest.mark.parametrize("status", sorted(FINISHED_STATUSES))
def test_an_execution_record_is_finished_in_every_ending_saga_ones_included(status):
    assert execution(status).finished
    assert not execution(ExecutionStatus.COMPENSATING).finished


def test_a_live_execution_running_its_saga_reports_compensating():
    assert reported_status("running", ["refund"]) is ExecutionStatus.COMPENSATING
    assert reported_status("failed", None) is ExecutionStatus.FAILED
    assert reported_status("compensated", None) is ExecutionStatus.COMPENSATED


def test_statuses_compare_and_serialise_as_their_text():
    assert ExecutionStatus.COMPLETED == "completed"
    assert f"{ExecutionStatus.TIMED_OUT}" == "timed_out"
    assert execution(ExecutionStatus.WAITING).to_dict()["status"] == "waiting"


def test_the_cli_accepts_every_status_that_list_executions_accepts():
    for status in ExecutionStatus:
        args = _parser(takes_app=True).parse_args(["list", "--status", status.value])
        assert args.status == status
    with pytest.raises(dc.InvalidOption, match="compensating; got 'done'"):
        dc.list_executions(status="done")


def test_the_table_accepts_exactly_the_stored_statuses():
    (check,) = [
        constraint
        for constraint in workflow_executions.constraints
        if getattr(constraint, "name", "") == "ck_workflow_executions_status"
    ]
    text = str(check.sqltext)
    assert all(f"'{status}'" in text for status in STORED_EXECUTION_STATUSES)
    assert "'compensating'" not in text


def test_a_cancellation_and_a_deadline_are_recorded_in_one_shape():
    assert cancellation_record("customer asked") == {
        "type": "durable_celery.errors.WorkflowCancelled",
        "message": "customer asked",
    }
    assert cancellation_record(None)["message"] == "cancelled"
    assert deadline_record()["type"] == "durable_celery.errors.WorkflowTimedOut"
