"""Workflows for the fault-injection suite. They record what they did in PostgreSQL
(step rows) and, where Redis stays up, count runs in Redis."""

from __future__ import annotations

import os
import time
from typing import Any

from durable_celery import StepContext, Workflow, step
from tests.integration.flows import count_run


class CrashMe(Workflow):
    name = "tests.faults.crash_me"

    @step
    def first(ctx: StepContext) -> int:
        count_run(ctx)
        return os.getpid()

    @step
    def slow(ctx: StepContext) -> int:
        count_run(ctx)
        time.sleep(float(ctx.input.get("pause", 3)))
        return os.getpid()

    @step
    def last(ctx: StepContext) -> int:
        count_run(ctx)
        return os.getpid()


def _work(ctx: StepContext) -> int:
    time.sleep(float(ctx.input.get("pause", 0)))
    return os.getpid()


class FiveSteps(Workflow):
    """No Redis in its steps: it must survive Redis going away."""

    name = "tests.faults.five_steps"

    @step
    def s1(ctx: StepContext) -> int:
        return _work(ctx)

    @step
    def s2(ctx: StepContext) -> int:
        return _work(ctx)

    @step
    def s3(ctx: StepContext) -> int:
        if ctx.input.get("sleep"):
            ctx.sleep(float(ctx.input["sleep"]))
        return _work(ctx)

    @step
    def s4(ctx: StepContext) -> int:
        return _work(ctx)

    @step
    def s5(ctx: StepContext) -> dict[str, Any]:
        return {"pid": _work(ctx)}


class KillsItsWorker(Workflow):
    """A poison step: its pool process dies every time it runs it."""

    name = "tests.faults.kills_its_worker"

    @step
    def poison(ctx: StepContext) -> None:
        count_run(ctx)
        os._exit(1)
