"""The payload codec: JSON text for jsonb columns, and the one owner of the size limit.

Inputs, outputs, context, events and item values pass through `encode`, which enforces
`durable_max_payload_bytes`; what the engine records about a run (errors, log lines)
passes through `encode_record`, which has no limit.
"""

from __future__ import annotations

import json
from typing import Any

from durable_celery.errors import InvalidPayload, PayloadTooLarge


class Codec:
    def __init__(self, max_payload_bytes: int) -> None:
        self.max_payload_bytes = max_payload_bytes

    def encode(self, value: Any, what: str) -> str:
        """JSON text of a payload, or InvalidPayload / PayloadTooLarge naming `what`."""
        encoded = encode_record(value, what)
        size = len(encoded.encode())
        if size > self.max_payload_bytes:
            raise PayloadTooLarge(
                f"{what} is {size} bytes of JSON, over the limit of {self.max_payload_bytes} "
                f"bytes (durable_max_payload_bytes)"
            )
        return encoded


def encode_record(value: Any, what: str = "record") -> str:
    """JSON text that jsonb accepts, or InvalidPayload naming `what`."""
    try:
        encoded = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} is not JSON-serialisable: {exc}") from None
    if "\\u0000" in encoded:
        raise InvalidPayload(f"{what} contains a NUL character, which PostgreSQL cannot store")
    return encoded
