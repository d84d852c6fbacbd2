"""Workflows whose results are hard to record: what the engine must still record."""

from __future__ import annotations

import os
import sys
from typing import Any

from durable_celery import StepContext, Workflow, each, step
from tests.integration.flows import count_run

UNSTORABLE_MESSAGES = {
    "nul": lambda: "a NUL \x00 in the middle",
    "surrogate": lambda: "half a pair \ud800 here",
    "huge": lambda: "x" * 50_000_000,
}


class RaisesUnstorable(Workflow):
    """Its step raises an error whose message PostgreSQL cannot store as it is."""

    name = "tests.failures.raises_unstorable"

    @step
    def boom(ctx: StepContext) -> None:
        count_run(ctx)
        raise ValueError(UNSTORABLE_MESSAGES[ctx.input["message"]]())


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this error cannot describe itself")


class RaisesUnprintable(Workflow):
    name = "tests.failures.raises_unprintable"

    @step
    def boom(ctx: StepContext) -> None:
        count_run(ctx)
        raise Unprintable()


class LogsUnstorable(Workflow):
    name = "tests.failures.logs_unstorable"

    @step
    def chatty(ctx: StepContext) -> str:
        ctx.logger.info("a NUL \x00 and a lone surrogate \ud800")
        for line in range(ctx.input.get("lines", 0)):
            ctx.logger.info("line %d %s", line, "x" * 100)
        return "done"


class ReturnsUnstorable(Workflow):
    name = "tests.failures.returns_unstorable"

    @step
    def half_a_pair(ctx: StepContext) -> dict[str, str]:
        count_run(ctx)
        return {"text": "\ud800"}


class PutsUnstorable(Workflow):
    name = "tests.failures.puts_unstorable"

    @step
    def keep(ctx: StepContext) -> str:
        ctx.put("note", "\udfff")
        return "kept"


class WaitsOnABadName(Workflow):
    name = "tests.failures.waits_on_a_bad_name"

    @step
    def wait(ctx: StepContext) -> Any:
        return ctx.wait_for_event("paid\x00")


class Exits(Workflow):
    name = "tests.failures.exits"

    @step
    def leave(ctx: StepContext) -> None:
        count_run(ctx)
        sys.exit(3)

    @step
    def never(ctx: StepContext) -> None:
        count_run(ctx)


class RefusedByTheDatabase(Workflow):
    """The test installs a trigger that refuses the rows of this step."""

    name = "tests.failures.refused"

    @step
    def refused_by_the_database(ctx: StepContext) -> str:
        count_run(ctx)
        return "fine, but its row is refused"


def item_fails_unstorably(ctx: StepContext, item: int) -> int:
    if item == 1:
        raise ValueError("item \x00 of \ud800 kind")
    return item


class ItemsFailUnstorably(Workflow):
    name = "tests.failures.items_fail_unstorably"

    @each(items=lambda ctx: [0, 1, 2], concurrency=3)
    def run(ctx: StepContext, item: int) -> int:
        return item_fails_unstorably(ctx, item)


class ItemsReturnUnstorable(Workflow):
    name = "tests.failures.items_return_unstorable"

    @each(items=lambda ctx: [0, 1, 2], concurrency=3, on_error="continue")
    def run(ctx: StepContext, item: int) -> Any:
        return "\ud800" if item == 1 else item


class ItemKillsItsWorker(Workflow):
    name = "tests.failures.item_kills_its_worker"

    @each(items=lambda ctx: [0, 1], concurrency=2)
    def run(ctx: StepContext, item: int) -> int:
        if item == 1:
            count_run(ctx)
            os._exit(1)  # the pool process dies mid-item, every time
        return item


class WideFanOut(Workflow):
    """Many quick items, to cancel while they finish."""

    name = "tests.failures.wide_fan_out"

    @each(items=lambda ctx: list(range(ctx.input["n"])), concurrency=100)
    def run(ctx: StepContext, item: int) -> int:
        return item

    @step
    def after(ctx: StepContext) -> int:
        return len(ctx.results["run"])
