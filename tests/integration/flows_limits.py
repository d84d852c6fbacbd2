"""Workflows for the flow-control tests (concurrency and rate limits)."""

from __future__ import annotations

import time

from durable_celery import Concurrency, RateLimit, StepContext, Workflow, step


class PerTenant(Workflow):
    """At most three per tenant; two short steps, so that a claim is held across a
    checkpoint and released at the end."""

    name = "tests.limits.per_tenant"
    concurrency = Concurrency(limit=3, key=lambda ctx: ctx.input["tenant"])

    @step
    def first(ctx: StepContext) -> int:
        time.sleep(float(ctx.input.get("pause", 0)))
        return int(ctx.input.get("n", 0))

    @step
    def second(ctx: StepContext) -> int:
        time.sleep(float(ctx.input.get("pause", 0)))
        return int(ctx.results["first"])


class OneAtATime(Workflow):
    """A global limit of one: its first attempt sleeps long (to be killed in)."""

    name = "tests.limits.one_at_a_time"
    concurrency = Concurrency(limit=1)

    @step
    def only(ctx: StepContext) -> int:
        if ctx.attempt == 1:
            time.sleep(float(ctx.input.get("first_pause", 0)))
        return ctx.attempt


class Unlimited(Workflow):
    name = "tests.limits.unlimited"

    @step
    def first(ctx: StepContext) -> int:
        return 1

    @step
    def second(ctx: StepContext) -> int:
        return 2


class CallsApi(Workflow):
    """Its second step may start at most 20 times a second per API."""

    name = "tests.limits.calls_api"

    @step
    def prepare(ctx: StepContext) -> str:
        return str(ctx.input["api"])

    @step(rate_limit=RateLimit("20/s", key=lambda ctx: ctx.input["api"]))
    def call(ctx: StepContext) -> str:
        return str(ctx.results["prepare"])


class RateLimitedFirst(Workflow):
    """Its first step may start once an hour per key."""

    name = "tests.limits.rate_limited_first"

    @step(rate_limit=RateLimit("1/h", key=lambda ctx: ctx.input["key"]))
    def only(ctx: StepContext) -> str:
        return str(ctx.input["key"])


class StepLimited(Workflow):
    """Only its middle step is limited: two attempts at once per API; the steps around
    it are not."""

    name = "tests.limits.step_limited"

    @step
    def prepare(ctx: StepContext) -> int:
        time.sleep(float(ctx.input.get("prepare_pause", ctx.input.get("pause", 0))))
        return int(ctx.input.get("n", 0))

    @step(concurrency=Concurrency(limit=2, key=lambda ctx: ctx.input["api"]))
    def call(ctx: StepContext) -> int:
        time.sleep(float(ctx.input.get("pause", 0)))
        return int(ctx.results["prepare"])

    @step
    def after(ctx: StepContext) -> int:
        time.sleep(float(ctx.input.get("pause", 0)))
        return int(ctx.results["call"])


class OneStepAtATime(Workflow):
    """One attempt of its second step at a time (no key: the step's own slot); the first
    attempt sleeps long (to be killed in)."""

    name = "tests.limits.one_step_at_a_time"

    @step
    def before(ctx: StepContext) -> int:
        return 0

    @step(concurrency=Concurrency(limit=1))
    def only(ctx: StepContext) -> int:
        if ctx.attempt == 1:
            time.sleep(float(ctx.input.get("first_pause", 0)))
        return ctx.attempt
