"""Workflows for the control-flow tests (retries, decisions, fan-out, saga, children)."""

from __future__ import annotations

import os
import time
from typing import Any

from durable_celery import (
    Retry,
    StepContext,
    Workflow,
    compensation,
    decision,
    each,
    parallel,
    step,
)
from durable_celery.time import seconds
from tests.integration.flows import count_run, side_effects


def runs(ctx: StepContext, name: str | None = None) -> int:
    """How many times this step (or `name`) has started in this execution."""
    return int(side_effects().get(f"runs:{ctx.execution_id}:{name or ctx.step}") or 0)


class Flaky(RuntimeError):
    pass


class GiveUp(ValueError):
    pass


class FlakyThenOk(Workflow):
    name = "tests.flaky_then_ok"

    @step
    def prepare(ctx: StepContext) -> str:
        count_run(ctx)
        return "ready"

    @step(retry=Retry(max_attempts=4, backoff="constant", base=seconds(0.3), jitter=False))
    def call_api(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        if runs(ctx) <= ctx.input.get("failures", 2):
            raise Flaky(f"attempt {ctx.attempt} failed")
        return {"attempt": ctx.attempt}


class GivesUp(Workflow):
    name = "tests.gives_up"

    @step(retry=Retry(max_attempts=5, base=0.1, give_up_on=(GiveUp,)))
    def only(ctx: StepContext) -> None:
        count_run(ctx)
        raise GiveUp("not worth retrying")


class Countdown(Workflow):
    name = "tests.countdown"

    @step
    def tick(ctx: StepContext) -> int:
        ctx.put("n", ctx.get("n", 0) + 1)
        return int(ctx.get("n"))

    @decision
    def again(ctx: StepContext) -> str | None:
        return "tick" if ctx.get("n") < ctx.input.get("times", 3) else None

    @step
    def done(ctx: StepContext) -> dict[str, Any]:
        return {"ticks": ctx.get("n"), "last": ctx.results["tick"]}


class LoopsForever(Workflow):
    name = "tests.loops_forever"
    max_step_runs = 10

    @step
    def spin(ctx: StepContext) -> None:
        return None

    @decision
    def back(ctx: StepContext) -> str:
        return "spin"


class BadTarget(Workflow):
    name = "tests.bad_target"

    @decision
    def choose(ctx: StepContext) -> str:
        return ctx.input["target"]

    @step
    def fine(ctx: StepContext) -> str:
        return "fine"


def doubled(ctx: StepContext, item: int) -> dict[str, Any]:
    started = time.time()
    time.sleep(float(ctx.input.get("pause", 0)))
    if item in ctx.input.get("fail", []):
        raise ValueError(f"item {item} is bad")
    if item in ctx.input.get("flaky", []) and ctx.attempt == 1:
        raise Flaky(f"item {item} flaked")
    side_effects().incr(f"runs:{ctx.execution_id}:item:{item}")
    return {
        "v": item * 2,
        "pid": os.getpid(),
        "start": started,
        "end": time.time(),
        "attempt": ctx.attempt,
        "index": ctx.item_index,
    }


class FanOut(Workflow):
    name = "tests.fan_out"

    @each(
        items=lambda ctx: list(range(ctx.input["n"])),
        concurrency=20,
        retry=Retry(max_attempts=2, base=0.2, jitter=False),
    )
    def double(ctx: StepContext, item: int) -> dict[str, Any]:
        return doubled(ctx, item)

    @step
    def total(ctx: StepContext) -> int:
        return sum(entry["v"] for entry in ctx.results["double"])


class FanOutOneAtATime(Workflow):
    name = "tests.fan_out_serial"

    @each(items=lambda ctx: list(range(ctx.input["n"])), concurrency=1)
    def double(ctx: StepContext, item: int) -> dict[str, Any]:
        return doubled(ctx, item)


class FanOutContinue(Workflow):
    name = "tests.fan_out_continue"

    @each(items=lambda ctx: [0, 1, 2, 3], concurrency=4, on_error="continue")
    def double(ctx: StepContext, item: int) -> dict[str, Any]:
        return doubled(ctx, item)

    @step
    def summary(ctx: StepContext) -> dict[str, int]:
        entries = ctx.results["double"]
        return {"ok": sum("v" in e for e in entries), "failed": sum("error" in e for e in entries)}


class EmptyFanOut(Workflow):
    name = "tests.empty_fan_out"

    @each(items=lambda ctx: [])
    def never(ctx: StepContext, item: Any) -> None:
        raise AssertionError("no items")

    @step
    def after(ctx: StepContext) -> Any:
        return ctx.results["never"]


def credit_check(ctx: StepContext) -> dict[str, Any]:
    return {"score": 700, "pid": os.getpid()}


def fraud_check(ctx: StepContext) -> dict[str, Any]:
    if ctx.input.get("fraud_fails"):
        raise RuntimeError("fraud service down")
    return {"risk": "low"}


def kyc_check(ctx: StepContext) -> str:
    return f"verified {ctx.input['customer']}"


class Checks(Workflow):
    name = "tests.parallel_checks"

    checks = parallel(credit_check, fraud_check, kyc_check)

    @step
    def decide(ctx: StepContext) -> str:
        found = ctx.results["checks"]
        return "approve" if found["credit_check"]["score"] > 600 else "reject"


class ChecksContinue(Workflow):
    name = "tests.parallel_checks_continue"

    checks = parallel(credit_check, fraud_check, on_error="continue")


class Saga(Workflow):
    name = "tests.saga"

    @step(compensate="release")
    def reserve(ctx: StepContext) -> str:
        count_run(ctx)
        return "reserved"

    @step(compensate="refund")
    def charge(ctx: StepContext) -> str:
        count_run(ctx)
        return "charged"

    @step
    def notify(ctx: StepContext) -> str:
        return "no compensation for me"

    @step
    def ship(ctx: StepContext) -> None:
        raise RuntimeError("carrier unavailable")

    @compensation
    def refund(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        if ctx.input.get("refund_fails"):
            raise RuntimeError("refund failed")
        return {"refunded": ctx.results["charge"], "because": ctx.failure["message"]}

    @compensation
    def release(ctx: StepContext) -> str:
        count_run(ctx)
        return "released"


class Child(Workflow):
    name = "tests.child"

    @step
    def work(ctx: StepContext) -> dict[str, Any]:
        time.sleep(float(ctx.input.get("pause", 0)))
        if ctx.input.get("fail"):
            raise RuntimeError("child failed")
        return {"doubled": ctx.input["x"] * 2}


class Parent(Workflow):
    name = "tests.parent"

    @step
    def spawn(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        fire_and_forget = ctx.start_child(Child, {"x": 100})
        result = ctx.run_child(
            "tests.child",
            {
                "x": ctx.input["x"],
                "pause": ctx.input.get("pause", 0),
                "fail": ctx.input.get("child_fails", False),
            },
        )
        return {"child": result, "other": fire_and_forget}


class SlowStep(Workflow):
    name = "tests.slow_step"
    timeout = seconds(1.5)

    @step
    def slow(ctx: StepContext) -> str:
        time.sleep(float(ctx.input.get("pause", 30)))
        return "finished"


class StepTimesOut(Workflow):
    name = "tests.step_times_out"

    @step(timeout=0.5, retry=Retry(max_attempts=2, base=0.1, jitter=False))
    def slow(ctx: StepContext) -> str:
        count_run(ctx)
        time.sleep(30)
        return "never"


class WaitsOnSlowChild(Workflow):
    name = "tests.waits_on_slow_child"
    timeout = seconds(1.5)

    @step
    def wait(ctx: StepContext) -> Any:
        return ctx.run_child(Child, {"x": 1, "pause": ctx.input.get("pause", 30)})


class Steps(Workflow):
    """Several slow steps, for cancelling while it runs."""

    name = "tests.cancel_me"

    @step
    def one(ctx: StepContext) -> int:
        count_run(ctx)
        time.sleep(float(ctx.input.get("pause", 1)))
        return 1

    @step
    def two(ctx: StepContext) -> int:
        count_run(ctx)
        return 2

    @step
    def three(ctx: StepContext) -> int:
        count_run(ctx)
        return 3


class FailsOnceThenWorks(Workflow):
    name = "tests.fails_once"

    @step
    def first(ctx: StepContext) -> str:
        count_run(ctx)
        return "done once"

    @step
    def second(ctx: StepContext) -> str:
        count_run(ctx)
        if side_effects().get(f"broken:{ctx.execution_id}"):
            raise RuntimeError("dependency down")
        return "recovered"


class LongRetry(Workflow):
    """Fails once, then waits four seconds on its retry timer: long enough to kill the
    worker and restart the database in between."""

    name = "tests.long_retry"

    @step(retry=Retry(max_attempts=2, backoff="constant", base=seconds(4), jitter=False))
    def call(ctx: StepContext) -> int:
        count_run(ctx)
        if runs(ctx) == 1:
            raise Flaky("first attempt fails")
        return ctx.attempt


class ParentOfVanishing(Workflow):
    """Waits on a child that nobody runs until the test does (queue nobody listens to)."""

    name = "tests.parent_of_vanishing"

    @step
    def spawn(ctx: StepContext) -> Any:
        return ctx.run_child(Child, {"x": 1}, queue="nobody-listens")
