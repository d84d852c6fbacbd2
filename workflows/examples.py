"""Example workflows: what the README shows and `durable-celery demo` runs."""

from __future__ import annotations

import time
from typing import Any

from durable_celery import Retry, StepContext, Workflow, compensation, decision, each, step
from durable_celery.time import minutes, seconds

PRICES = {"book": 12.5, "pen": 1.2, "lamp": 30.0}


class PaymentGatewayError(RuntimeError):
    """A transient failure: worth retrying."""


class ShippingError(RuntimeError):
    """No carrier can take the parcel: the order is undone."""


def simulate_work(ctx: StepContext) -> None:
    """The demo passes `work_seconds` so that you can watch steps complete one by one."""
    time.sleep(float(ctx.input.get("work_seconds", 0)))


class PlaceOrder(Workflow):
    """Price each line in parallel, reserve stock, charge (with retries), ship.
    If a later step fails, the charge is refunded and the stock released (a saga)."""

    name = "place_order"
    queue = "default"
    timeout = minutes(10)

    @each(items=lambda ctx: ctx.input["lines"], concurrency=10)
    def price_lines(ctx: StepContext, line: dict[str, Any]) -> dict[str, Any]:
        simulate_work(ctx)
        if line["sku"] not in PRICES:
            raise ValueError(f"unknown SKU: {line['sku']}")
        return {"sku": line["sku"], "amount": round(PRICES[line["sku"]] * line["qty"], 2)}

    @step
    def total(ctx: StepContext) -> dict[str, Any]:
        total = round(sum(line["amount"] for line in ctx.results["price_lines"]), 2)
        ctx.put("total", total)
        ctx.logger.info("order %s totals %.2f", ctx.input["order_id"], total)
        return {"total": total}

    @step(compensate="release_stock")
    def reserve_stock(ctx: StepContext) -> dict[str, Any]:
        simulate_work(ctx)
        ctx.put("reservation", f"res-{ctx.execution_id[:8]}")
        return {"reserved": [f"{line['sku']}x{line['qty']}" for line in ctx.input["lines"]]}

    @decision
    def route_payment(ctx: StepContext) -> str | None:
        # Free orders skip the charge.
        return "ship" if ctx.get("total") == 0 else None

    @step(
        retry=Retry(max_attempts=3, backoff="exponential", base=seconds(0.5), jitter=False),
        compensate="refund",
    )
    def charge(ctx: StepContext) -> dict[str, Any]:
        simulate_work(ctx)
        if ctx.input.get("gateway_flaky") and ctx.attempt == 1:
            raise PaymentGatewayError("payment gateway timed out")
        return {"charged": ctx.get("total"), "currency": "EUR", "attempt": ctx.attempt}

    @step
    def ship(ctx: StepContext) -> dict[str, Any]:
        if ctx.input.get("carrier") == "none":
            raise ShippingError("no carrier serves this address")
        return {
            "order": ctx.input["order_id"],
            "reservation": ctx.get("reservation"),
            "charged": ctx.results.get("charge", {}).get("charged", 0),
            "status": "shipped",
        }

    @compensation
    def refund(ctx: StepContext) -> dict[str, Any]:
        return {
            "refunded": ctx.results["charge"]["charged"],
            "reason": (ctx.failure or {}).get("message"),
        }

    @compensation
    def release_stock(ctx: StepContext) -> dict[str, Any]:
        return {"released": ctx.get("reservation")}
