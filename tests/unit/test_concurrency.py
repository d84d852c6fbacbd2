"""Concurrency limits: checked at declaration with exact messages; the key computed from
the input at start."""

from __future__ import annotations

import pytest

from durable_celery import Concurrency, StepContext, Workflow, WorkflowDefinitionError, step
from durable_celery.dsl.flow import MAX_CONCURRENCY_KEY_LENGTH
from durable_celery.errors import InvalidOption
from durable_celery.store.starts import NewExecution


@pytest.mark.parametrize("limit", [0, -1, 1.5, "3", True, None])
def test_the_limit_must_be_a_positive_int(limit):
    with pytest.raises(WorkflowDefinitionError) as error:
        Concurrency(limit=limit)
    assert str(error.value) == f"Concurrency(limit=...) must be a positive int, got {limit!r}"


def test_the_key_must_be_callable():
    with pytest.raises(WorkflowDefinitionError) as error:
        Concurrency(limit=2, key="tenant")  # type: ignore[arg-type]
    assert str(error.value) == (
        "Concurrency(key=...) must be a function of the step context "
        "(lambda ctx: ctx.input[...]), got str"
    )


def test_a_workflow_concurrency_must_be_a_concurrency():
    with pytest.raises(WorkflowDefinitionError) as error:

        class Wrong(Workflow):
            name = "tests.limits.wrong"
            concurrency = 5  # type: ignore[assignment]

            @step
            def only(ctx: StepContext) -> None: ...

    assert str(error.value) == (
        "workflow 'tests.limits.wrong': concurrency must be a Concurrency(limit=..., key=...), "
        "got int"
    )


def test_a_step_cannot_be_named_concurrency():
    with pytest.raises(WorkflowDefinitionError, match="cannot be named 'concurrency'"):

        class Clash(Workflow):
            name = "tests.limits.clash"

            @step
            def concurrency(ctx: StepContext) -> None: ...


class Keyed(Workflow):
    name = "tests.limits.keyed"
    concurrency = Concurrency(limit=4, key=lambda ctx: ctx.input["tenant"])

    @step
    def only(ctx: StepContext) -> None: ...


class Global(Workflow):
    name = "tests.limits.global"
    concurrency = Concurrency(limit=2)

    @step
    def only(ctx: StepContext) -> None: ...


class Free(Workflow):
    name = "tests.limits.free"

    @step
    def only(ctx: StepContext) -> None: ...


def test_the_key_is_computed_at_start_and_namespaced_by_workflow():
    new = NewExecution.of(Keyed, {"tenant": "acme"}, queue="q")
    assert (new.concurrency_key, new.concurrency_limit) == ("tests.limits.keyed/acme", 4)
    assert NewExecution.of(Keyed, {"tenant": 7}, queue="q").concurrency_key == (
        "tests.limits.keyed/7"
    )
    new = NewExecution.of(Global, {}, queue="q")
    assert (new.concurrency_key, new.concurrency_limit) == ("tests.limits.global", 2)
    new = NewExecution.of(Free, {}, queue="q")
    assert (new.concurrency_key, new.concurrency_limit) == (None, None)


def test_a_key_function_that_fails_rejects_the_start():
    with pytest.raises(InvalidOption) as error:
        NewExecution.of(Keyed, {}, queue="q")
    assert str(error.value) == (
        "workflow 'tests.limits.keyed': the concurrency key function failed on this input: "
        "KeyError: 'tenant'"
    )


@pytest.mark.parametrize(
    ("tenant", "problem"),
    [
        (None, "the concurrency key must be a str or an int, got NoneType"),
        (True, "the concurrency key must be a str or an int, got bool"),
        (
            "x" * (MAX_CONCURRENCY_KEY_LENGTH + 1),
            f"the concurrency key is {MAX_CONCURRENCY_KEY_LENGTH + 1} characters long; "
            f"at most {MAX_CONCURRENCY_KEY_LENGTH}",
        ),
    ],
)
def test_a_key_must_be_a_short_str_or_int(tenant, problem):
    with pytest.raises(InvalidOption) as error:
        NewExecution.of(Keyed, {"tenant": tenant}, queue="q")
    assert str(error.value) == f"workflow 'tests.limits.keyed': {problem}"
