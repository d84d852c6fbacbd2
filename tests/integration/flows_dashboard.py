"""Workflows for the dashboard tests: a form a human answers, a step that fails once,
and a wait for an event."""

from __future__ import annotations

from typing import Any

from durable_celery import Retry, StepContext, Workflow, step
from tests.integration.flows import count_run, runs_of


class DashReview(Workflow):
    name = "tests.dash_review"

    @step
    def review(ctx: StepContext) -> Any:
        return ctx.wait_for_form(
            "details",
            {"amount": "int", "note": "str", "rush": "bool"},
            prompt="Approve the refund?",
        )


class DashFailsOnce(Workflow):
    name = "tests.dash_fails_once"

    @step(retry=Retry(max_attempts=1))
    def charge(ctx: StepContext) -> str:
        count_run(ctx)
        if runs_of(ctx.execution_id, ctx.step) <= 1:
            raise RuntimeError("card declined")
        return "charged"


class DashAwaitsEvent(Workflow):
    name = "tests.dash_awaits_event"

    @step
    def wait(ctx: StepContext) -> Any:
        return ctx.wait_for_event("go")
