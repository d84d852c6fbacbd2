"""Example workflows: what the README shows and `durable-celery demo` runs."""

from __future__ import annotations

import time
from typing import Any

from durable_celery import StepContext, Workflow, decision, step
from durable_celery.time import minutes

PRICES = {"book": 12.5, "pen": 1.2, "lamp": 30.0}


def simulate_work(ctx: StepContext) -> None:
    """The demo passes `work_seconds` so that you can watch steps complete one by one."""
    time.sleep(float(ctx.input.get("work_seconds", 0)))


class PlaceOrder(Workflow):
    """Price an order, reserve stock, charge, and ship: each step checkpointed."""

    name = "place_order"
    queue = "default"
    timeout = minutes(10)

    @step
    def price(ctx: StepContext) -> dict[str, Any]:
        simulate_work(ctx)
        lines = ctx.input["lines"]
        unknown = [line["sku"] for line in lines if line["sku"] not in PRICES]
        if unknown:
            raise ValueError(f"unknown SKUs: {', '.join(unknown)}")
        total = round(sum(PRICES[line["sku"]] * line["qty"] for line in lines), 2)
        ctx.put("total", total)
        ctx.logger.info("priced %d lines at %.2f", len(lines), total)
        return {"total": total}

    @step
    def reserve_stock(ctx: StepContext) -> dict[str, Any]:
        simulate_work(ctx)
        reserved = [f"{line['sku']}x{line['qty']}" for line in ctx.input["lines"]]
        ctx.put("reservation", f"res-{ctx.execution_id[:8]}")
        return {"reserved": reserved}

    @decision
    def route_payment(ctx: StepContext) -> str | None:
        # Free orders skip the charge.
        return "ship" if ctx.get("total") == 0 else None

    @step
    def charge(ctx: StepContext) -> dict[str, Any]:
        simulate_work(ctx)
        return {"charged": ctx.results["price"]["total"], "currency": "EUR"}

    @step
    def ship(ctx: StepContext) -> dict[str, Any]:
        return {
            "order": ctx.input["order_id"],
            "reservation": ctx.get("reservation"),
            "charged": ctx.results.get("charge", {}).get("charged", 0),
            "status": "shipped",
        }
