"""Workflows of the testing-toolkit tests: children, fan-out, and one for real workers."""

from __future__ import annotations

from typing import Any

from durable_celery import Retry, StepContext, Workflow, each, parallel, step
from durable_celery.time import days, seconds


class Reminder(Workflow):
    name = "toolkit.reminder"

    @step
    def wait_a_day(ctx: StepContext) -> str:
        ctx.sleep(days(1))
        return f"reminded {ctx.input['who']}"


class Campaign(Workflow):
    """Runs a child per person and waits for them all."""

    name = "toolkit.campaign"

    @step
    def remind(ctx: StepContext) -> list[Any]:
        started = [ctx.start_child(Reminder, {"who": who}) for who in ctx.input["people"]]
        return [ctx.run_child(Reminder, {"who": "boss"}), len(started)]


def _weather(ctx: StepContext) -> str:
    return "sunny"


def _traffic(ctx: StepContext) -> str:
    return "light"


class Prices(Workflow):
    """Fan-out: an item fails once and is retried on its durable timer, then a parallel."""

    name = "toolkit.prices"

    @each(items=lambda ctx: [1, 2, 3], retry=Retry(max_attempts=2, base=seconds(30), jitter=False))
    def price(ctx: StepContext, item: int) -> int:
        if item == 2 and ctx.attempt == 1:
            raise ConnectionError("price feed down")
        return item * 10

    conditions = parallel(_weather, _traffic)

    @step
    def total(ctx: StepContext) -> dict[str, Any]:
        return {"total": sum(ctx.results["price"]), **ctx.results["conditions"]}


class Greeting(Workflow):
    """For the real workers: on a queue of its own, which no other worker of the suite
    consumes."""

    name = "toolkit.greeting"
    queue = "toolkit"

    @step
    def greet(ctx: StepContext) -> str:
        return f"hello, {ctx.input['name']}"
