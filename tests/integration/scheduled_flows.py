"""Workflows that declare schedules. Only the workers and beats of the schedule tests
import this module (their own database): the session's beat never sees these."""

from __future__ import annotations

from typing import Any

from durable_celery import StepContext, Workflow, step
from durable_celery.dsl.schedules import Cron, Every
from durable_celery.time import seconds
from tests.integration.flows_schedules import stamp_of


class EveryFiveSeconds(Workflow):
    name = "sched.every_5s"
    schedule = Every(seconds(5), input={"interval": 5})

    @step
    def stamp(ctx: StepContext) -> dict[str, Any]:
        return stamp_of(ctx)


class EveryMinute(Workflow):
    name = "sched.every_minute"
    schedule = Cron("* * * * *", timezone="Europe/Paris", input={"interval": 60})

    @step
    def stamp(ctx: StepContext) -> dict[str, Any]:
        return stamp_of(ctx)
