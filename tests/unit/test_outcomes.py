"""Where an execution goes after a step: retries, decisions, sagas, poison steps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_celery import (
    DecisionError,
    FanoutFailed,
    Retry,
    StepContext,
    StepLimitExceeded,
    WaitTimeout,
    Workflow,
    compensation,
    decision,
    step,
)
from durable_celery.engine import outcomes
from durable_celery.engine.outcomes import Compensate, Fail, RetryLater
from durable_celery.states import ExecutionStatus


class Flaky(RuntimeError):
    pass


class Order(Workflow):
    name = "tests.unit.order"
    max_step_runs = 50

    @step(compensate="release")
    def reserve(ctx: StepContext) -> None: ...

    @step(
        compensate="refund",
        retry=Retry(max_attempts=3, base=2, jitter=False, give_up_on=(PermissionError,)),
    )
    def charge(ctx: StepContext) -> None: ...

    @decision
    def route(ctx: StepContext) -> str | None:
        return "charge" if ctx.input.get("again") else None

    @step
    def ship(ctx: StepContext) -> None: ...

    @compensation
    def refund(ctx: StepContext) -> None: ...

    @compensation
    def release(ctx: StepContext) -> None: ...


def spec(name: str):  # type: ignore[no-untyped-def]
    found = Order.step_spec(name)
    assert found is not None
    return found


def test_steps_follow_class_body_order_and_end_after_the_last():
    assert outcomes.next_step(Order, spec("reserve"), {"ok": 1}, 0, None) == "charge"
    assert outcomes.next_step(Order, spec("charge"), None, 1, None) == "route"
    assert outcomes.next_step(Order, spec("ship"), None, 3, None) is None


def test_a_decision_jumps_by_name_or_goes_on_with_none():
    assert outcomes.next_step(Order, spec("route"), "charge", 2, None) == "charge"
    assert outcomes.next_step(Order, spec("route"), None, 2, None) == "ship"


@pytest.mark.parametrize("target", ["nowhere", 3, "refund"])
def test_a_decision_target_that_is_not_a_forward_step_is_a_decision_error(target):
    with pytest.raises(DecisionError, match="allowed: reserve, charge, route, ship or None"):
        outcomes.next_step(Order, spec("route"), target, 2, None)


def test_running_more_steps_than_max_step_runs_fails():
    with pytest.raises(StepLimitExceeded, match="max_step_runs=50"):
        outcomes.next_step(Order, spec("reserve"), None, 49, None)


def test_compensations_run_in_the_order_planned_then_the_execution_ends():
    assert outcomes.next_step(Order, spec("refund"), None, 4, ["release"]) == "release"
    assert outcomes.next_step(Order, spec("release"), None, 5, []) is None


def test_a_failure_within_the_retry_budget_retries_after_the_backoff():
    decision = outcomes.after_failure(
        Order, spec("charge"), Flaky("gateway"), 2, compensating=False, completed=["reserve"]
    )
    assert decision == RetryLater(timedelta(seconds=4))


@pytest.mark.parametrize(
    ("exc", "attempt"), [(PermissionError("declined"), 1), (Flaky("still down"), 3)]
)
def test_give_up_on_and_a_spent_budget_start_the_saga_newest_first(exc, attempt):
    completed = ["reserve", "charge", "route", "charge"]  # charged twice in a loop
    decision = outcomes.after_failure(
        Order, spec("charge"), exc, attempt, compensating=False, completed=completed
    )
    assert decision == Compensate(("refund", "refund", "release"))


def test_a_failure_with_nothing_to_undo_fails_the_execution():
    decision = outcomes.after_failure(
        Order, spec("reserve"), ValueError("bad sku"), 1, compensating=False, completed=[]
    )
    assert decision == Fail(ExecutionStatus.FAILED)


def test_a_failing_undo_step_ends_as_compensation_failed():
    for compensating, name in ((True, "ship"), (False, "refund")):
        decision = outcomes.after_failure(
            Order, spec(name), ValueError("x"), 1, compensating=compensating, completed=["reserve"]
        )
        assert decision == Fail(ExecutionStatus.COMPENSATION_FAILED)


@pytest.mark.parametrize(
    "exc",
    [
        FanoutFailed("each", 0, {"message": "boom"}),
        DecisionError("bad"),
        StepLimitExceeded("loop"),
        WaitTimeout("late"),
        SystemExit(3),
    ],
)
def test_failures_that_would_repeat_are_never_retried(exc):
    assert outcomes.retry_delay(spec("charge"), exc, 1) is None


def test_a_step_abandoned_by_dead_workers_beyond_its_budget_gives_up():
    limit = 3 + outcomes.MAX_ABANDONED_ATTEMPTS
    assert outcomes.abandoned_too_often(spec("charge"), limit) is None
    error = outcomes.abandoned_too_often(spec("charge"), limit + 1)
    assert isinstance(error, StepLimitExceeded)
    assert f"started {limit + 1} times" in str(error)


def test_errors_are_recorded_with_type_message_traceback_and_place():
    try:
        raise Flaky("gateway timeout")
    except Flaky as exc:
        error = outcomes.describe_error(exc, "charge", 2)
    assert error["type"] == f"{__name__}.Flaky"
    assert error["message"] == "gateway timeout"
    assert 'raise Flaky("gateway timeout")' in error["traceback"]
    assert (error["step"], error["attempt"]) == ("charge", 2)
    assert outcomes.describe_error(KeyError("k"))["type"] == "KeyError"
