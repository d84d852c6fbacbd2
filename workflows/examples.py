"""Example workflows: what the README shows and `durable-celery demo` runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from durable_celery import (
    Cron,
    Retry,
    StepContext,
    Workflow,
    branch,
    compensation,
    decision,
    each,
    parallel,
    step,
)
from durable_celery.time import days, minutes, seconds

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


class ExpenseApproval(Workflow):
    """Ask a manager to approve an expense, then wait for the receipt before paying.
    Both waits hold no worker: they can last days."""

    name = "expense_approval"
    queue = "default"
    timeout = days(30)

    @step
    def submit(ctx: StepContext) -> dict[str, Any]:
        ctx.put("amount", ctx.input["amount"])
        return {"employee": ctx.input["employee"], "amount": ctx.input["amount"]}

    @step
    def approve(ctx: StepContext) -> dict[str, Any]:
        answer = ctx.wait_for_input(
            "approval",
            prompt=f"Approve {ctx.input['amount']} EUR for {ctx.input['employee']}?",
            fields={"approved": "bool", "note": "str"},
            timeout=days(3),
            timeout_value={"approved": False, "note": "no answer within 3 days"},
        )
        ctx.put("approved", bool(answer.get("approved")))
        return dict(answer)

    @decision
    def route(ctx: StepContext) -> str | None:
        return None if ctx.get("approved") else "reject"

    @step
    def collect_receipt(ctx: StepContext) -> dict[str, Any]:
        receipt = ctx.wait_for_event("receipt_uploaded", timeout=days(7), timeout_value=None)
        return {"receipt": receipt}

    @step
    def pay(ctx: StepContext) -> dict[str, Any]:
        receipt = ctx.results["collect_receipt"]["receipt"]
        if receipt is None:
            raise ValueError("no receipt within 7 days; not paying")
        return {"paid": ctx.get("amount"), "receipt": receipt["url"]}

    @decision
    def after_payment(ctx: StepContext) -> str:
        return "archive"

    @step
    def reject(ctx: StepContext) -> dict[str, Any]:
        return {"rejected": ctx.results["approve"].get("note")}

    @step
    def archive(ctx: StepContext) -> dict[str, Any]:
        paid = ctx.get("approved") and "pay" in ctx.results
        return {"status": "paid" if paid else "rejected", "amount": ctx.get("amount")}


def credit_check(ctx: StepContext) -> dict[str, Any]:
    return {"score": 720 if ctx.input["customer"] != "mallory" else 410}


def sanctions_check(ctx: StepContext) -> dict[str, Any]:
    return {"listed": ctx.input["customer"] == "mallory"}


class OnboardCustomer(Workflow):
    """Run two checks at once, then branch: open the account (a child workflow, awaited)
    or decline; both cases join at the summary."""

    name = "onboard_customer"
    queue = "default"

    checks = parallel(credit_check, sanctions_check)

    @branch
    def route(ctx: StepContext) -> str:
        found = ctx.results["checks"]
        ok = found["credit_check"]["score"] >= 600 and not found["sanctions_check"]["listed"]
        return "open" if ok else "decline"

    @route.case("open")
    def open_account(ctx: StepContext) -> dict[str, Any]:
        # Started once, even though this step runs again when the child has finished.
        order = ctx.run_child(
            PlaceOrder,
            {
                "order_id": f"welcome-{ctx.input['customer']}",
                "lines": [{"sku": "book", "qty": 1}],
            },
        )
        return {"account": ctx.input["customer"], "welcome_pack": order["status"]}

    @route.case("decline")
    def decline(ctx: StepContext) -> dict[str, Any]:
        return {"declined": ctx.input["customer"]}

    @step
    def summary(ctx: StepContext) -> dict[str, Any]:
        opened = "open_account" in ctx.results
        return {"customer": ctx.input["customer"], "opened": opened}


class NightlyReport(Workflow):
    """Every night at 03:00 Paris time, yesterday's report. Declared here, stored when beat
    starts, and started once per night however many beats run; `ctx.scheduled_at` is the
    fire time, so a run that starts late still reports on the right day."""

    name = "nightly_report"
    schedule = Cron(
        "0 3 * * *", timezone="Europe/Paris", input={"report": "orders"}, overlap="skip"
    )

    @step
    def period(ctx: StepContext) -> dict[str, Any]:
        fired = ctx.scheduled_at or datetime.now(UTC)
        day = fired.astimezone(ZoneInfo("Europe/Paris")).date() - timedelta(days=1)
        return {"report": ctx.input["report"], "day": day.isoformat()}

    @step
    def publish(ctx: StepContext) -> dict[str, Any]:
        period = ctx.results["period"]
        print(f"publishing the {period['report']} report of {period['day']}")
        return {"published": f"reports/{period['report']}-{period['day']}.csv"}
