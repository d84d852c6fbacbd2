"""The shop's ordinary Celery tasks, unchanged: durable-celery runs them as they are."""

import os

from examples.shop.celery import app


class GatewayTimeout(Exception):
    pass


@app.task(autoretry_for=(GatewayTimeout,), retry_backoff=1, retry_jitter=False, max_retries=3)
def charge_card(order_id: str, amount: float) -> dict[str, object]:
    # A flaky gateway, for the example: the first attempt of an order marked so fails.
    marker = f"/tmp/shop-charge-{order_id}"
    if os.environ.get("SHOP_FLAKY_GATEWAY") and not os.path.exists(marker):
        open(marker, "w").close()
        raise GatewayTimeout(f"the gateway timed out charging {order_id}")
    return {"order_id": order_id, "charged": amount}


@app.task
def send_receipt(order_id: str, email: str) -> str:
    return f"receipt for {order_id} sent to {email}"
