"""Workflows of the I/O-bound pool tests (tests/integration/test_io_pools.py): steps that
mostly wait, as on the network. Only that test's own workers import this module."""

from __future__ import annotations

import time

from durable_celery import StepContext, Workflow, step
from durable_celery.time import seconds


def waits(total: float, slice_seconds: float = 0.05) -> None:
    """Waits `total` seconds in short sleeps: the kind of step a timeout can interrupt in
    a thread (each sleep returns to Python)."""
    until = time.monotonic() + total
    while time.monotonic() < until:
        time.sleep(slice_seconds)


class LoopsPastItsTimeout(Workflow):
    name = "tests.io.loops_past_its_timeout"

    @step(timeout=1)
    def slow(ctx: StepContext) -> str:
        waits(10)
        return "never"


class LoopsPastTheDeadline(Workflow):
    name = "tests.io.loops_past_the_deadline"
    timeout = seconds(1.5)

    @step(timeout=60)
    def slow(ctx: StepContext) -> str:
        waits(10)
        return "never"


class ThreeShortWaits(Workflow):
    """Three steps that each sleep `pause` seconds (default 0.05)."""

    name = "tests.io.three_short_waits"

    @step
    def one(ctx: StepContext) -> int:
        time.sleep(float(ctx.input.get("pause", 0.05)))
        return 1

    @step
    def two(ctx: StepContext) -> int:
        time.sleep(float(ctx.input.get("pause", 0.05)))
        return 2

    @step
    def three(ctx: StepContext) -> int:
        time.sleep(float(ctx.input.get("pause", 0.05)))
        return 3


class HoldsItsClaim(Workflow):
    """One step that runs for `seconds` (default 4): long enough for several heartbeats."""

    name = "tests.io.holds_its_claim"

    @step
    def hold(ctx: StepContext) -> str:
        waits(float(ctx.input.get("seconds", 4)))
        return "held"
