"""Workflows the schedule tests start through run-time schedules (imported by the session's
workers; nothing here declares a schedule, so the session's beat fires nothing)."""

from __future__ import annotations

import time
from typing import Any

from durable_celery import StepContext, Workflow, step
from durable_celery.time import minutes


def stamp_of(ctx: StepContext) -> dict[str, Any]:
    """What a scheduled run knows of its schedule."""
    return {
        "schedule_key": ctx.schedule_key,
        "scheduled_at": None if ctx.scheduled_at is None else ctx.scheduled_at.isoformat(),
        "input": dict(ctx.input),
    }


class Stamp(Workflow):
    name = "sched.stamp"

    @step
    def stamp(ctx: StepContext) -> dict[str, Any]:
        return stamp_of(ctx)


class Slow(Workflow):
    """Outlasts a one-second schedule."""

    name = "sched.slow"

    @step
    def linger(ctx: StepContext) -> dict[str, Any]:
        time.sleep(float(ctx.input.get("seconds", 2.5)))
        return stamp_of(ctx)


class Sleeper(Workflow):
    """Stays live (waiting, without a worker) long after its schedule fires again."""

    name = "sched.sleeper"

    @step
    def nap(ctx: StepContext) -> None:
        ctx.sleep(minutes(10))
