"""Place an order from the shop's code: `python -m examples.shop.place_order ORDER_ID`."""

import json
import sys

from examples.shop.workflows import Checkout

if __name__ == "__main__":
    order_id = sys.argv[1] if len(sys.argv) > 1 else "A-1"
    handle = Checkout.start_durable(
        {"order_id": order_id, "items": ["book"], "amount": 12.5, "email": "ada@example.com"},
        idempotency_key=f"checkout:{order_id}",
    )
    print(json.dumps({"execution": handle.id, "status": handle.status()}))
