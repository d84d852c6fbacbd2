"""Workflows for the metrics and tracing tests."""

from __future__ import annotations

from durable_celery import Retry, StepContext, Workflow, step
from durable_celery.time import seconds


class ObservedTwoSteps(Workflow):
    name = "tests.observed.two_steps"

    @step
    def first(ctx: StepContext) -> int:
        return 1

    @step
    def second(ctx: StepContext) -> int:
        return 2


class ObservedAlwaysFails(Workflow):
    name = "tests.observed.always_fails"

    @step(retry=Retry(max_attempts=2, backoff="constant", base=seconds(0.1), jitter=False))
    def flaky(ctx: StepContext) -> None:
        raise RuntimeError("always")


class ObservedSleeper(Workflow):
    name = "tests.observed.sleeper"

    @step
    def before(ctx: StepContext) -> str:
        return "before"

    @step
    def nap(ctx: StepContext) -> str:
        ctx.sleep(seconds(ctx.input.get("seconds", 0.3)))
        return "rested"

    @step
    def after(ctx: StepContext) -> str:
        return "after"


class ObservedChild(Workflow):
    name = "tests.observed.child"

    @step
    def work(ctx: StepContext) -> str:
        return "child done"


class ObservedParent(Workflow):
    name = "tests.observed.parent"

    @step
    def nap(ctx: StepContext) -> None:
        ctx.sleep(seconds(30))

    @step
    def delegate(ctx: StepContext) -> str:
        return str(ctx.run_child(ObservedChild, {}))
