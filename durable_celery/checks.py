"""Checks of the names and options that calls take, shared by the DSL and the client.

Each raises InvalidOption naming the option and the value, before anything is written.
"""

from __future__ import annotations

from typing import Any

from durable_celery.errors import InvalidOption

MAX_NAME_LENGTH = 200
MAX_IDEMPOTENCY_KEY_LENGTH = 255
PRIORITY_RANGE = (-1_000_000, 1_000_000)


def check_name(name: Any, what: str) -> str:
    """Event and input names: what waits listen for and signals are sent to."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidOption(
            f"{what} must be a non-empty string of at most {MAX_NAME_LENGTH} characters, "
            f"got {name!r}"
        )
    return name


def check_queue(queue: Any, what: str = "queue") -> str:
    if not isinstance(queue, str) or not queue:
        raise InvalidOption(f"{what} must be a non-empty string, got {queue!r}")
    return queue


def check_priority(priority: Any) -> int:
    low, high = PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not low <= priority <= high:
        raise InvalidOption(f"priority must be an int between {low} and {high}, got {priority!r}")
    return priority


def check_idempotency_key(key: Any) -> str | None:
    if key is not None and (
        not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH
    ):
        raise InvalidOption(
            f"idempotency_key must be a non-empty string of at most "
            f"{MAX_IDEMPOTENCY_KEY_LENGTH} characters, got {key!r}"
        )
    return key
