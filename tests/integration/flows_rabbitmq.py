"""Workflows of the RabbitMQ tests (test_rabbitmq.py): each behaviour that needs the broker
(a wake-up per step boundary, items, a timer the poller wakes, an event, a child's end
waking its parent). Self-contained: the RabbitMQ worker imports only this module, and
nothing here writes to Redis."""

from __future__ import annotations

from typing import Any

from durable_celery import ChildWorkflowFailed, StepContext, Workflow, each, step
from durable_celery.time import seconds


class RabbitSteps(Workflow):
    name = "tests.rabbit.steps"

    @step
    def first(ctx: StepContext) -> int:
        return 1

    @step
    def second(ctx: StepContext) -> int:
        return int(ctx.results["first"]) + 1

    @step
    def third(ctx: StepContext) -> dict[str, Any]:
        return {"n": int(ctx.results["second"]) + 1, "input": dict(ctx.input)}


class RabbitFanOut(Workflow):
    name = "tests.rabbit.fan_out"

    @each(items=lambda ctx: list(range(6)), concurrency=3)
    def square(ctx: StepContext, item: int) -> int:
        return item * item

    @step
    def total(ctx: StepContext) -> int:
        return sum(ctx.results["square"])


class RabbitSleeper(Workflow):
    name = "tests.rabbit.sleeper"

    @step
    def nap(ctx: StepContext) -> str:
        ctx.sleep(seconds(1))
        return "rested"


class RabbitWaiter(Workflow):
    name = "tests.rabbit.waiter"

    @step
    def wait(ctx: StepContext) -> Any:
        return ctx.wait_for_event("go")


class RabbitParent(Workflow):
    """Waits on a child that waits for an event: cancelling the child wakes the parent."""

    name = "tests.rabbit.parent"

    @step
    def child(ctx: StepContext) -> str:
        try:
            return str(ctx.run_child(RabbitWaiter, {}))
        except ChildWorkflowFailed:
            return "child ended without a result"
