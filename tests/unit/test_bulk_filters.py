"""Bulk control's filters (cancel_many, retry_many and their commands): checked before
anything touches a database, a call without any filter refused, the moments resolved on
the database's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from durable_celery import runtime as runtime_module
from durable_celery.cli import _parser, main
from durable_celery.client.bulk import CANCELLABLE, RETRYABLE, check_filters
from durable_celery.errors import InvalidOption
from durable_celery.states import ExecutionStatus

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NO_FILTER = {
    "workflow": None,
    "status": None,
    "queue": None,
    "older_than": None,
    "created_before": None,
    "batch_size": 500,
    "dry_run": False,
}


def check(action: str = "cancel_many", **given):
    allowed = CANCELLABLE if action == "cancel_many" else RETRYABLE
    return check_filters(action, allowed, **{**NO_FILTER, **given})


def test_a_call_without_any_filter_is_refused_and_says_how_to_mean_all():
    with pytest.raises(InvalidOption) as raised:
        check()
    assert str(raised.value) == (
        "cancel_many needs at least one filter (workflow, status, queue, older_than or "
        "created_before); to mean every execution it can cancel, say so: "
        "status=['compensating', 'pending', 'running', 'waiting']"
    )
    with pytest.raises(InvalidOption, match=r"status=\['failed', 'timed_out'\]"):
        check("retry_many")


def test_statuses_default_to_all_the_call_takes():
    assert check(workflow="w").statuses == CANCELLABLE
    assert check("retry_many", queue="q").statuses == RETRYABLE
    assert check(status="pending").statuses == {ExecutionStatus.PENDING}
    assert check("retry_many", status=["timed_out"]).statuses == {ExecutionStatus.TIMED_OUT}
    assert check(status=["pending", "running", "waiting", "compensating"]).statuses == (CANCELLABLE)


@pytest.mark.parametrize(
    ("action", "given", "message"),
    [
        ("cancel_many", {"status": "done"}, "status must be one of pending, running"),
        ("cancel_many", {"status": []}, "status must name at least one status, got none"),
        (
            "cancel_many",
            {"status": ["pending", "completed"]},
            "cancel_many takes executions of compensating, pending, running, waiting only, "
            "got completed",
        ),
        (
            "retry_many",
            {"status": "pending"},
            "retry_many takes executions of failed, timed_out only, got pending",
        ),
        ("retry_many", {"status": "cancelled"}, "retry_many takes executions of failed"),
        ("cancel_many", {"older_than": -5}, "older_than must not be negative"),
        ("cancel_many", {"older_than": 0}, "older_than must be positive, got 0:00:00"),
        ("cancel_many", {"older_than": "2h"}, "older_than must be a timedelta or a number"),
        (
            "cancel_many",
            {"created_before": datetime(2024, 5, 1)},
            "created_before must be timezone-aware",
        ),
        ("cancel_many", {"created_before": "2024-05-01"}, "created_before must be a datetime"),
        ("cancel_many", {"workflow": "a\x00b"}, "workflow contains a NUL character"),
        ("retry_many", {"queue": 7}, "queue must be a string, got 7"),
        (
            "cancel_many",
            {"queue": "q", "batch_size": 0},
            "batch_size must be an int from 1 to 10000, got 0",
        ),
        ("cancel_many", {"queue": "q", "batch_size": 10_001}, "batch_size must be an int"),
        ("cancel_many", {"queue": "q", "batch_size": True}, "batch_size must be an int"),
        ("cancel_many", {"queue": "q", "dry_run": "yes"}, "dry_run must be a bool, got 'yes'"),
    ],
)
def test_bad_filters_are_invalid_options(action, given, message):
    with pytest.raises(InvalidOption) as raised:
        check(action, **given)
    assert str(raised.value).startswith(message), str(raised.value)


def test_the_moments_are_taken_on_the_database_clock_at_the_start():
    wanted = check(older_than=timedelta(hours=2))
    where = wanted.at(NOW, finished=False)
    assert where.created_before == NOW - timedelta(hours=2)
    assert where.finished_before is None
    # The earliest bound wins; without one, executions created after the call began are
    # not taken.
    early = NOW - timedelta(days=1)
    assert check(older_than=60, created_before=early).at(NOW, finished=False).created_before == (
        early
    )
    retry = check("retry_many", workflow="w").at(NOW, finished=True)
    assert retry.created_before == NOW and retry.finished_before == NOW
    assert retry.params()["statuses"] == ["failed", "timed_out"]
    assert retry.params()["compensating"] is False
    assert check(status="compensating").at(NOW, finished=False).params()["statuses"] == []


def test_the_commands_take_filters_like_list_does():
    args = _parser(takes_app=True).parse_args(
        ["cancel-many", "--status", "pending", "--status", "waiting", "--older-than", "2h"]
    )
    assert (args.status, args.older_than, args.batch_size, args.dry_run) == (
        "pending,waiting",
        "2h",
        500,
        False,
    )
    args = _parser(takes_app=True).parse_args(["retry-many", "--workflow", "w", "--dry-run"])
    assert (args.workflow, args.dry_run, args.json) == ("w", True, False)


@pytest.fixture()
def no_current_runtime(monkeypatch):
    monkeypatch.setattr(runtime_module, "_current", None)
    monkeypatch.setenv("DURABLE_WORKFLOW_MODULES", "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cancel-many"], "error: cancel_many needs at least one filter"),
        (["retry-many", "--dry-run"], "error: retry_many needs at least one filter"),
        (["cancel-many", "--status", "completed"], "error: cancel_many takes executions of"),
        (["retry-many", "--status", "failed,waiting"], "error: retry_many takes executions of"),
        (["cancel-many", "--older-than", "2"], "error: --older-than must be a number with a"),
        (["cancel-many", "--older-than", "0s"], "error: older_than must be positive"),
        (
            ["cancel-many", "--created-before", "2024-04-30T06:00:00"],
            "error: --created-before needs a UTC offset",
        ),
        (["cancel-many", "--queue", "q", "--batch-size", "0"], "error: batch_size must be"),
    ],
)
def test_bad_command_values_exit_2_before_touching_anything(
    no_current_runtime, capsys, argv, message
):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message), captured.err
    assert captured.out == ""
