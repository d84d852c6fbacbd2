"""Workflows for the wait tests: sleeps, events, human input."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from durable_celery import StepContext, Workflow, step
from durable_celery.time import days, seconds
from tests.integration.flows import count_run


class Sleeper(Workflow):
    name = "tests.sleeper"

    @step
    def nap(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        before = time.time()
        ctx.sleep(seconds(ctx.input.get("seconds", 1.5)))
        return {"woke": time.time(), "before": before}


class SleepsUntil(Workflow):
    name = "tests.sleeps_until"

    @step
    def nap(ctx: StepContext) -> str:
        ctx.sleep_until(datetime.fromisoformat(ctx.input["until"]))
        return "awake"


class LongSleeper(Workflow):
    name = "tests.long_sleeper"

    @step
    def nap(ctx: StepContext) -> str:
        ctx.sleep(days(30))
        return "a month later"


class EventWaiter(Workflow):
    name = "tests.event_waiter"

    @step
    def busy(ctx: StepContext) -> None:
        time.sleep(float(ctx.input.get("busy", 0)))

    @step
    def wait(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        payload = ctx.wait_for_event(
            "paid",
            timeout=ctx.input.get("timeout"),
            **({"timeout_value": ctx.input["fallback"]} if "fallback" in ctx.input else {}),
        )
        return {"payload": payload, "resumed_at": time.time()}


class TwoOfTheSameEvent(Workflow):
    name = "tests.two_events"

    @step
    def collect(ctx: StepContext) -> list[Any]:
        first = ctx.wait_for_event("item")
        second = ctx.wait_for_event("item")
        return [first, second]


class AnyAndAll(Workflow):
    name = "tests.any_and_all"

    @step
    def first_of(ctx: StepContext) -> list[Any]:
        name, payload = ctx.wait_for_any(["card", "cash"])
        return [name, payload]

    @step
    def all_of(ctx: StepContext) -> dict[str, Any]:
        return ctx.wait_for_all(["signed", "countersigned"], timeout=ctx.input.get("timeout"))


class Approval(Workflow):
    name = "tests.approval"

    @step
    def ask(ctx: StepContext) -> Any:
        return ctx.wait_for_input(
            "approval",
            prompt=f"Approve {ctx.input['what']}?",
            fields={"approved": "bool", "note": "str"},
            timeout=ctx.input.get("timeout"),
            **({"timeout_value": ctx.input["fallback"]} if "fallback" in ctx.input else {}),
        )


class ManyWaits(Workflow):
    """Three waits in one step, and code before each that runs again on every resume."""

    name = "tests.many_waits"

    @step
    def everything(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        ctx.sleep(seconds(0.5))
        signal = ctx.wait_for_event("go")
        answer = ctx.wait_for_input("confirm", prompt="Confirm?")
        return {"signal": signal, "answer": answer, "at": datetime.now(UTC).isoformat()}


class WaitsTooLong(Workflow):
    name = "tests.waits_too_long"
    timeout = timedelta(seconds=1.5)

    @step
    def wait(ctx: StepContext) -> Any:
        return ctx.wait_for_event("never")


class AwaitsPayment(Workflow):
    """Waits for an event by correlation key (publish_event); `hold` first waits for a "go"
    sent by id, so a test chooses when it reaches the keyed wait."""

    name = "tests.awaits_payment"

    @step
    def hold(ctx: StepContext) -> None:
        if ctx.input.get("hold"):
            ctx.wait_for_event("go")

    @step
    def settle(ctx: StepContext) -> Any:
        event = ctx.input.get("event", "payment.settled")
        key = ctx.input.get("order_id")
        timeout = ctx.input.get("timeout")
        first = ctx.wait_for_event(event, key=key, timeout=timeout, timeout_value="timed out")
        if not ctx.input.get("twice"):
            return {"payload": first, "resumed_at": time.time()}
        second = ctx.wait_for_event(event, key=key, timeout=timeout, timeout_value="timed out")
        return {"payloads": [first, second]}
