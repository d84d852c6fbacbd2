"""The DSL validates options when the class is defined, naming workflow, step and problem."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_celery import (
    Retry,
    StepContext,
    Workflow,
    WorkflowDefinitionError,
    compensation,
    decision,
    each,
    parallel,
    step,
)
from durable_celery.dsl import get_workflow
from durable_celery.errors import UnknownWorkflow
from durable_celery.time import days, hours, minutes, seconds


def test_steps_run_in_class_body_order_and_register_by_name():
    class Ordered(Workflow):
        name = "tests.def.ordered"

        @step
        def zeta(ctx: StepContext) -> None: ...

        @step
        def alpha(ctx: StepContext) -> None: ...

        @step(retry=Retry(max_attempts=3), timeout=30, queue="io")
        def mid(ctx: StepContext) -> None: ...

    assert Ordered.step_names() == ["zeta", "alpha", "mid"]
    assert get_workflow("tests.def.ordered") is Ordered
    assert Ordered.__steps__[2].timeout == timedelta(seconds=30)
    assert Ordered.__steps__[2].queue == "io"


def test_default_name_is_module_and_class():
    class Unnamed(Workflow):
        @step
        def only(ctx: StepContext) -> None: ...

    assert Unnamed.name == f"{__name__}.test_default_name_is_module_and_class.<locals>.Unnamed"


def test_a_step_function_stays_callable_for_unit_tests():
    class Callable_(Workflow):
        name = "tests.def.callable"

        @step
        def double(ctx: StepContext) -> int:
            return 2

    assert Callable_.double(None) == 2


def _define(body: dict[str, object], name: str = "tests.def.bad") -> type[Workflow]:
    return type("Bad", (Workflow,), {"name": name, "__module__": __name__, **body})


def only(ctx: StepContext) -> None: ...


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "workflow 'tests.def.bad': declares no steps"),
        ({"only": step(only), "queue": ""}, "queue must be a non-empty string"),
        ({"only": step(only), "timeout": -1}, "must not be negative"),
        ({"only": step(only), "timeout": 0}, "timeout must be positive"),
        ({"only": step(only), "max_step_runs": 0}, "max_step_runs must be an int >= 1"),
        ({"only": step(retry=3)(only)}, "step 'only': retry must be a Retry"),
        ({"only": step(timeout="1h")(only)}, "step 'only': timeout must be a timedelta"),
        ({"only": step(queue=5)(only)}, "step 'only': queue must be a non-empty string"),
        ({"only": step(compensate="undo")(only)}, "compensate='undo', which is not a step"),
        ({"other": step(only)}, "bound to attribute 'other' but its function is 'only'"),
        ({"only": step(lambda: None)}, "bound to attribute 'only' but its function is '<lambda>'"),
        ({"only": each(items=[1, 2])(only)}, "items must be a callable"),
        (
            {"only": each(items=lambda ctx: [], concurrency=0)(only)},
            "concurrency must be an int >= 1",
        ),
        ({"only": each(items=lambda ctx: [], on_error="ignore")(only)}, "on_error must be"),
        ({"only": each(items=lambda ctx: [])(only)}, "must accept (ctx, item)"),
    ],
)
def test_bad_declarations_fail_at_class_definition(body, message):
    with pytest.raises(WorkflowDefinitionError) as raised:
        _define(body)
    assert message in str(raised.value)
    with pytest.raises(UnknownWorkflow):
        get_workflow("tests.def.bad")


def test_bad_step_signature_is_named():
    def needs_two(ctx: StepContext, extra: int) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="step 'needs_two': the function must accept"):
        _define({"needs_two": step(needs_two)})


def test_duplicate_workflow_names_are_an_error():
    class First(Workflow):
        name = "tests.def.duplicate"

        @step
        def only(ctx: StepContext) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="already registered by"):

        class Second(Workflow):
            name = "tests.def.duplicate"

            @step
            def only(ctx: StepContext) -> None: ...

    assert get_workflow("tests.def.duplicate") is First


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 1.5}, "max_attempts"),
        ({"backoff": "fibonacci"}, "backoff"),
        ({"base": -1}, "must not be negative"),
        ({"retry_on": (KeyError, "oops")}, "retry_on"),
        ({"give_up_on": 5}, "give_up_on"),
    ],
)
def test_retry_policy_is_validated_when_built(kwargs, message):
    with pytest.raises(WorkflowDefinitionError, match=message):
        Retry(**kwargs)


def test_retry_delays_follow_the_backoff_and_cap():
    exponential = Retry(max_attempts=10, base=1, max_delay=10, jitter=False)
    assert [exponential.delay_after(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    linear = Retry(max_attempts=5, backoff="linear", base=seconds(2), jitter=False)
    assert linear.delay_after(3) == timedelta(seconds=6)
    jittered = Retry(max_attempts=5, base=8, jitter=True)
    assert all(4 <= jittered.delay_after(1).total_seconds() <= 8 for _ in range(50))
    policy = Retry(max_attempts=3, retry_on=(ValueError,), give_up_on=(UnicodeError,))
    assert policy.should_retry(ValueError(), 1)
    assert not policy.should_retry(ValueError(), 3)
    assert not policy.should_retry(UnicodeError(), 1)
    assert not policy.should_retry(KeyError(), 1)


def test_time_helpers_return_timedeltas():
    assert seconds(5) == timedelta(seconds=5)
    assert minutes(2) == timedelta(minutes=2)
    assert hours(1) == timedelta(hours=1)
    assert days(3) == timedelta(days=3)


def test_a_decision_returning_an_unknown_literal_fails_at_definition():
    with pytest.raises(WorkflowDefinitionError) as raised:

        class Typo(Workflow):
            name = "tests.def.typo"

            @step
            def review(ctx: StepContext) -> None: ...

            @decision
            def route(ctx: StepContext) -> str | None:
                if ctx.input.get("risky"):
                    return "reviw"
                return None

    assert "decision 'route' can return 'reviw', which is not a step (steps: review, route)" in str(
        raised.value
    )


def test_decision_literals_in_conditional_expressions_are_checked():
    with pytest.raises(WorkflowDefinitionError, match="can return 'nope'"):

        class Ternary(Workflow):
            name = "tests.def.ternary"

            @step
            def a(ctx: StepContext) -> None: ...

            @decision
            def pick(ctx: StepContext) -> str:
                return "a" if ctx.input else "nope"


def test_compensations_must_be_declared_as_such():
    def reserve(ctx: StepContext) -> None: ...

    def undo(ctx: StepContext) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="declare the undo step with @compensation"):
        _define({"reserve": step(compensate="undo")(reserve), "undo": step(undo)})

    class Fine(Workflow):
        name = "tests.def.saga_ok"

        @step(compensate="undo")
        def reserve(ctx: StepContext) -> None: ...

        @compensation
        def undo(ctx: StepContext) -> None: ...

    # Compensations are not part of the forward order.
    assert Fine.step_names() == ["reserve"]
    assert Fine.step_spec("undo").kind == "compensation"


def credit(ctx: StepContext) -> int:
    return 1


def fraud(ctx: StepContext) -> int:
    return 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (parallel(), "needs at least one branch"),
        (parallel(credit, credit), "must be distinct"),
        (parallel(lambda ctx: 1), "must be named functions"),
        (parallel(credit, on_error="explode"), "on_error must be"),
        (parallel(credit, retry="twice"), "retry must be a Retry"),
    ],
)
def test_parallel_branches_are_validated(spec, message):
    with pytest.raises(WorkflowDefinitionError, match=message):
        _define({"checks": spec})


def test_parallel_step_is_named_by_its_attribute():
    class Checks(Workflow):
        name = "tests.def.parallel"
        checks = parallel(credit, fraud)

    assert Checks.step_names() == ["checks"]
    spec = Checks.step_spec("checks")
    assert spec.kind == "parallel" and spec.concurrency == 2
