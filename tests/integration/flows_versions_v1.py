"""Version 1 of the versioned order workflow (tests/integration/test_versions.py): the
code deployed first, kept beside version 2 (flows_versions_v2.py) until its executions
drain."""

from __future__ import annotations

from typing import Any

from durable_celery import StepContext, Workflow, step

NAME = "tests.versions.order"


class OrderV1(Workflow):
    name = NAME

    @step
    def reserve(ctx: StepContext) -> str:
        return "reserved"

    @step
    def wait_payment(ctx: StepContext) -> Any:
        return ctx.wait_for_event("paid")

    @step
    def ship(ctx: StepContext) -> dict[str, Any]:
        return {"version": 1, "paid": ctx.results["wait_payment"]}
