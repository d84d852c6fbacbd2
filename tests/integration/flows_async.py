"""Workflows of the async-step tests (tests/integration/test_async_steps.py)."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta
from typing import Any

from durable_celery import (
    AsyncStepContext,
    Retry,
    StepContext,
    Workflow,
    compensation,
    decision,
    each,
    step,
)


def where() -> dict[str, Any]:
    """The process and thread a step ran in."""
    return {"pid": os.getpid(), "thread": threading.current_thread().name}


class AsyncNaps(Workflow):
    """Three async steps that each await asyncio.sleep(0.1)."""

    name = "tests.async.naps"

    @step
    async def one(ctx: AsyncStepContext) -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return where()

    @step
    async def two(ctx: AsyncStepContext) -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return where()

    @step
    async def three(ctx: AsyncStepContext) -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return where()


class AsyncHangs(Workflow):
    """An async step that awaits forever: its 0.5 s timeout interrupts it, twice."""

    name = "tests.async.hangs"

    @step(
        timeout=0.5,
        retry=Retry(max_attempts=2, backoff="constant", base=timedelta(seconds=0.1), jitter=False),
    )
    async def hang(ctx: AsyncStepContext) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            print("cancelled at the timeout")  # kept with the attempt
            raise


class AsyncMixed(Workflow):
    """Sync and async steps, an async decision, async items and an async compensation."""

    name = "tests.async.mixed"

    @step
    def prepare(ctx: StepContext) -> int:
        return int(ctx.input.get("n", 3))

    @step(compensate="unfetch")
    async def fetch(ctx: AsyncStepContext) -> str:
        await asyncio.sleep(0.01)
        ctx.put("fetched", ctx.results["prepare"])
        return "fetched"

    @decision
    async def route(ctx: AsyncStepContext) -> str | None:
        await asyncio.sleep(0)
        return "doubled" if ctx.get("fetched") else "finish"

    @step
    def skipped(ctx: StepContext) -> str:
        return "never"

    @each(items=lambda ctx: list(range(ctx.results["prepare"])), concurrency=3)
    async def doubled(ctx: AsyncStepContext, item: int) -> int:
        await asyncio.sleep(0.01)
        return item * 2

    @step
    def finish(ctx: StepContext) -> dict[str, Any]:
        if ctx.input.get("fail"):
            raise ValueError("finish failed")
        return {"doubled": ctx.results["doubled"], "fetched": ctx.get("fetched")}

    @compensation
    async def unfetch(ctx: AsyncStepContext) -> str:
        await asyncio.sleep(0.01)
        ctx.logger.info("undone after %s", (ctx.failure or {}).get("message"))
        return "unfetched"


class AsyncEventWaits(Workflow):
    """An async step awaiting an event; `timeout` (s) and, when given, `timeout_value`."""

    name = "tests.async.event_waits"

    @step
    async def wait(ctx: AsyncStepContext) -> Any:
        if "timeout_value" in ctx.input:
            return await ctx.wait_for_event(
                "go", timeout=ctx.input["timeout"], timeout_value=ctx.input["timeout_value"]
            )
        return await ctx.wait_for_event("go", timeout=ctx.input["timeout"])
