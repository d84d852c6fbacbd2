"""Version 2 of the versioned order workflow: one name with version 1 (flows_versions_v1.py),
other steps around the same wait. An execution of version 1 resuming on this class by step
name would run `invoice` and return version 2's result."""

from __future__ import annotations

from typing import Any

from durable_celery import StepContext, Workflow, step
from tests.integration.flows_versions_v1 import NAME


class OrderV2(Workflow):
    name = NAME
    version = 2

    @step
    def check_stock(ctx: StepContext) -> str:
        return "in stock"

    @step
    def wait_payment(ctx: StepContext) -> Any:
        return ctx.wait_for_event("paid")

    @step
    def invoice(ctx: StepContext) -> str:
        return f"invoice for {ctx.results['wait_payment']}"

    @step
    def ship(ctx: StepContext) -> dict[str, Any]:
        return {
            "version": 2,
            "paid": ctx.results["wait_payment"],
            "invoice": ctx.results["invoice"],
        }


RETIRED = "tests.versions.retired"


class RetiredV2(Workflow):
    """Workers have only version 2 of this one: version 1's class was deleted too early."""

    name = RETIRED
    version = 2

    @step
    def only(ctx: StepContext) -> int:
        return 2
