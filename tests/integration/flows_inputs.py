"""Workflows for the tests of typed inputs, pending events, ctx.delete and
run_child(timeout=) (imported by the workers of the integration tests)."""

from __future__ import annotations

from typing import Any

from durable_celery import Retry, StepContext, WaitTimeout, Workflow, step
from durable_celery.time import days
from tests.integration.flows import count_run


class Questionnaire(Workflow):
    """Every kind of typed input, one after another in one step: each answer is replayed
    from its record when the step runs again for the next one."""

    name = "tests.questionnaire"

    @step
    def ask(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        return {
            "approved": ctx.wait_for_approval(prompt="Go ahead?"),
            "size": ctx.wait_for_choice("size", ["S", "M", "L"], prompt="Which size?"),
            "extras": ctx.wait_for_choice("extras", ["gift wrap", "express"], multiple=True),
            "note": ctx.wait_for_text("note", prompt="Anything to add?"),
            "address": ctx.wait_for_form("address", {"street": "str", "number": "int"}),
            "raw": ctx.wait_for_input("review", kind="approval"),
        }


class AskOne(Workflow):
    """One input of the kind, choices and fields given in the execution's input."""

    name = "tests.ask_one"

    @step
    def ask(ctx: StepContext) -> Any:
        options = dict(ctx.input)
        if "fallback" in options:
            options["timeout_value"] = options.pop("fallback")
        return ctx.wait_for_input("question", prompt="?", **options)


class AwaitsEvents(Workflow):
    name = "tests.awaits_events"

    @step
    def either(ctx: StepContext) -> Any:
        return ctx.wait_for_any(["shipped", "lost"], timeout=days(1))

    @step
    def both(ctx: StepContext) -> Any:
        return ctx.wait_for_all(["signed", "countersigned"])


class Forgets(Workflow):
    """ctx.delete: saved with the checkpoint, discarded with a failed attempt."""

    name = "tests.forgets"

    @step
    def remember(ctx: StepContext) -> None:
        ctx.put("a", 1)
        ctx.put("b", 2)
        ctx.put("c", 3)

    @step
    def forget(ctx: StepContext) -> None:
        ctx.delete("a")
        ctx.delete("never_there")

    @step(retry=Retry(max_attempts=2, base=0.1, jitter=False))
    def forget_then_fail(ctx: StepContext) -> Any:
        if ctx.attempt == 1:
            ctx.delete("b")
            raise RuntimeError("fails after deleting b")
        return ctx.get("b")

    @step
    def report(ctx: StepContext) -> dict[str, Any]:
        return {key: ctx.get(key, "missing") for key in ("a", "b", "c")}


class Lingers(Workflow):
    """A child that never ends on its own, with a child of its own."""

    name = "tests.lingers"

    @step
    def linger(ctx: StepContext) -> Any:
        ctx.start_child(LingersToo, {})
        return ctx.wait_for_event("never")


class LingersToo(Workflow):
    name = "tests.lingers_too"

    @step
    def linger(ctx: StepContext) -> Any:
        return ctx.wait_for_event("never")


class Quick(Workflow):
    name = "tests.quick"

    @step
    def answer(ctx: StepContext) -> int:
        return 42


class CallsWithTimeout(Workflow):
    name = "tests.calls_with_timeout"

    @step(retry=Retry(max_attempts=3, base=0.1, jitter=False))
    def call(ctx: StepContext) -> Any:
        count_run(ctx)
        child = Quick if ctx.input.get("quick") else Lingers
        try:
            return ctx.run_child(child, {}, timeout=ctx.input["timeout"])
        except WaitTimeout:
            if ctx.input.get("catch"):
                return "gave up"
            raise
