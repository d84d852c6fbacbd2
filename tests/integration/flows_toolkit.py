"""A workflow to test with durable_celery.testing: README's "Testing your workflows"
shows this file as it is."""

from __future__ import annotations

from typing import Any

from durable_celery import Retry, StepContext, Workflow, step
from durable_celery.time import days, hours, minutes


class CardDeclined(Exception):
    pass


class Trial(Workflow):
    """A 30-day trial, then the first charge: retried with exponential backoff, confirmed
    by the bank within a day, or else reviewed by a human. Over after 60 days at most."""

    name = "toolkit.trial"
    timeout = days(60)

    @step
    def welcome(ctx: StepContext) -> str:
        return f"welcome, {ctx.input['user']}"

    @step
    def trial_period(ctx: StepContext) -> None:
        ctx.sleep(days(30))

    @step(retry=Retry(max_attempts=4, backoff="exponential", base=minutes(1), jitter=False))
    def charge(ctx: StepContext) -> dict[str, Any]:
        if ctx.attempt <= ctx.input.get("declines", 0):
            raise CardDeclined(f"card declined (attempt {ctx.attempt})")
        return {"amount": 30}

    @step
    def bank_confirmation(ctx: StepContext) -> Any:
        return ctx.wait_for_event("bank.confirmed", timeout=hours(24), timeout_value=None)

    @step
    def review(ctx: StepContext) -> str:
        if ctx.results["bank_confirmation"] is not None:
            return "confirmed"
        keep = ctx.wait_for_approval(prompt="The bank never confirmed the charge: keep it?")
        return "kept" if keep else "refunded"
