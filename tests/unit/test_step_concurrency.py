"""Step-level concurrency limits: checked at declaration with exact messages; the slot
key computed from the input, per step without a key function, shared with one."""

from __future__ import annotations

import pytest

from durable_celery import (
    Concurrency,
    StepContext,
    Workflow,
    WorkflowDefinitionError,
    each,
    step,
)
from durable_celery.dsl.flow import MAX_CONCURRENCY_KEY_LENGTH
from durable_celery.errors import InvalidOption


@pytest.mark.parametrize("limit", [0, -1, 1.5, "3", True, None])
def test_the_limit_must_be_a_positive_int(limit):
    with pytest.raises(WorkflowDefinitionError) as error:
        step(concurrency=Concurrency(limit=limit))
    assert str(error.value) == f"Concurrency(limit=...) must be a positive int, got {limit!r}"


def test_the_key_must_be_callable():
    with pytest.raises(WorkflowDefinitionError) as error:
        step(concurrency=Concurrency(limit=2, key="api"))  # type: ignore[arg-type]
    assert str(error.value) == (
        "Concurrency(key=...) must be a function of the step context "
        "(lambda ctx: ctx.input[...]), got str"
    )


@pytest.mark.parametrize(("value", "kind"), [(2, "int"), ("api", "str"), (object(), "object")])
def test_a_step_concurrency_must_be_a_concurrency(value, kind):
    with pytest.raises(WorkflowDefinitionError) as error:

        class Wrong(Workflow):
            name = "tests.step_limits.wrong"

            @step(concurrency=value)
            def only(ctx: StepContext) -> None: ...

    assert str(error.value) == (
        "workflow 'tests.step_limits.wrong', step 'only': concurrency must be a "
        f"Concurrency(limit=..., key=...), got {kind}"
    )


class Api(Workflow):
    name = "tests.step_limits.api"

    @step
    def prepare(ctx: StepContext) -> None: ...

    @step(concurrency=Concurrency(limit=2, key=lambda ctx: ctx.input["api"]))
    def call(ctx: StepContext) -> None: ...

    @step(concurrency=Concurrency(limit=1))
    def report(ctx: StepContext) -> None: ...

    @each(items=lambda ctx: [1, 2], concurrency=3)
    def fan(ctx: StepContext, item: int) -> None: ...


def _spec(name: str):
    spec = Api.step_spec(name)
    assert spec is not None
    return spec


def test_only_a_step_declared_with_a_concurrency_has_a_step_limit():
    call = _spec("call").step_limit
    assert call is not None and call.limit == 2
    assert _spec("prepare").step_limit is None
    # A fan-out's `concurrency` is its items in flight, not a step limit.
    assert _spec("fan").step_limit is None and _spec("fan").concurrency == 3


def test_the_slot_key_is_per_step_without_a_key_and_shared_with_one():
    report = _spec("report").step_limit
    call = _spec("call").step_limit
    assert report is not None and call is not None
    assert report.step_slot_key(Api.name, "report", {}) == "step:tests.step_limits.api.report"
    # A key function's value names one pool of slots, whatever step or workflow uses it.
    assert call.step_slot_key(Api.name, "call", {"api": "maps"}) == "step-key:maps"
    assert call.step_slot_key("another", "other", {"api": 7}) == "step-key:7"


@pytest.mark.parametrize(
    ("input", "problem"),
    [
        ({}, "the step concurrency key function failed on this input: KeyError: 'api'"),
        ({"api": None}, "the step concurrency key must be a str or an int, got NoneType"),
        (
            {"api": "x" * (MAX_CONCURRENCY_KEY_LENGTH + 1)},
            f"the step concurrency key is {MAX_CONCURRENCY_KEY_LENGTH + 1} characters long; "
            f"at most {MAX_CONCURRENCY_KEY_LENGTH}",
        ),
    ],
)
def test_a_bad_key_is_an_invalid_option(input, problem):
    call = _spec("call").step_limit
    assert call is not None
    with pytest.raises(InvalidOption) as error:
        call.step_slot_key(Api.name, "call", input)
    assert str(error.value) == f"workflow 'tests.step_limits.api': {problem}"
