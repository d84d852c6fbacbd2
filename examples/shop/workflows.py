"""The shop's durable workflow: its existing tasks become steps that survive crashes,
retry on durable timers by their own policy, and wait for the warehouse without holding a
worker."""

from typing import Any

from durable_celery import StepContext, Workflow, step, task_step
from durable_celery.time import days
from examples.shop.tasks import charge_card, send_receipt


class Checkout(Workflow):
    name = "shop.checkout"  # routed to the "orders" queue by task_routes["durable:shop.*"]

    @step
    def reserve(ctx: StepContext) -> dict[str, Any]:
        return {"reserved": ctx.input["items"]}

    charge = task_step(
        charge_card,
        kwargs=lambda ctx: {"order_id": ctx.input["order_id"], "amount": ctx.input["amount"]},
    )

    @step
    def packed(ctx: StepContext) -> Any:
        return ctx.wait_for_event("packed", timeout=days(2), timeout_value=None)

    receipt = task_step(
        send_receipt,
        kwargs=lambda ctx: {"order_id": ctx.input["order_id"], "email": ctx.input["email"]},
    )
