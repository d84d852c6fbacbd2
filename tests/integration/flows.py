"""Workflows used by the test suite; the worker subprocesses import this module."""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import redis
from celery import current_app

from durable_celery import StepContext, Workflow, step


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def side_effects() -> redis.Redis:
    """The session's broker Redis, where steps count their runs (an external effect)."""
    return _redis(os.environ["CELERY_BROKER_URL"])


def runs_of(execution_id: str, step: str) -> int:
    """How many times `step` started in that execution (see count_run)."""
    return int(side_effects().get(f"runs:{execution_id}:{step}") or 0)


def count_run(ctx: StepContext) -> None:
    """An external side effect per run: lets tests count how often a step really ran."""
    side_effects().incr(f"runs:{ctx.execution_id}:{ctx.step}")


class ThreeSteps(Workflow):
    name = "tests.three_steps"

    @step
    def first(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        ctx.put("seen", ["first"])
        ctx.put("customer", ctx.input["customer"])
        return {"n": 1}

    @step
    def second(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        seen = ctx.get("seen")
        seen.append("second")
        ctx.put("seen", seen)
        return {"n": ctx.results["first"]["n"] + 1, "customer": ctx.get("customer")}

    @step
    def third(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        seen = [*ctx.get("seen"), "third"]
        ctx.put("seen", seen)
        return {
            "n": ctx.results["second"]["n"] + 1,
            "seen": seen,
            "step": ctx.step,
            "attempt": ctx.attempt,
            "workflow": ctx.workflow,
            "execution_id": ctx.execution_id,
        }


class SlowSteps(Workflow):
    """Steps that take a while, so duplicate wake-ups arrive while it runs."""

    name = "tests.slow_steps"

    @step
    def one(ctx: StepContext) -> int:
        count_run(ctx)
        time.sleep(float(ctx.input.get("pause", 0.2)))
        return 1

    @step
    def two(ctx: StepContext) -> int:
        count_run(ctx)
        time.sleep(float(ctx.input.get("pause", 0.2)))
        return 2

    @step
    def three(ctx: StepContext) -> int:
        count_run(ctx)
        time.sleep(float(ctx.input.get("pause", 0.2)))
        return 3


class ChargeFailure(RuntimeError):
    pass


class FailsInSecond(Workflow):
    name = "tests.fails_in_second"

    @step
    def ok(ctx: StepContext) -> str:
        ctx.put("before", True)
        return "fine"

    @step
    def boom(ctx: StepContext) -> None:
        ctx.put("lost", "context written by a failed step is dropped")
        ctx.logger.warning("about to charge card %s", ctx.input.get("card"))
        raise ChargeFailure(f"card {ctx.input.get('card')} declined")

    @step
    def never(ctx: StepContext) -> None:
        count_run(ctx)


class WhoRunsMe(Workflow):
    """Reports which Celery app ran it: proves `install()` on a user app works."""

    name = "tests.who_runs_me"
    queue = "userapp"

    @step
    def report(ctx: StepContext) -> dict[str, Any]:
        return {"app": current_app.main, "pid": os.getpid()}


class StealsItsOwnClaim(Workflow):
    """Its step simulates a takeover: another party changes the lock token meanwhile."""

    name = "tests.steals_its_own_claim"

    @step
    def first(ctx: StepContext) -> str:
        from sqlalchemy import text

        from durable_celery.runtime import current_runtime

        with current_runtime().database.begin() as conn:
            conn.execute(
                text(
                    "UPDATE workflow_executions SET lock_token = gen_random_uuid() WHERE id = :id"
                ),
                {"id": ctx.execution_id},
            )
        ctx.put("written", "by a worker that lost its claim")
        return "should never be recorded"

    @step
    def second(ctx: StepContext) -> str:
        return "never"


class NotJsonOutput(Workflow):
    name = "tests.not_json_output"

    @step
    def bad(ctx: StepContext) -> object:
        return {"when": time}
