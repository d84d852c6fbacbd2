"""Checks of the names and options that calls take, shared by the DSL and the client.

Each raises InvalidOption naming the option and the value, before anything is written.
"""

from __future__ import annotations

import re
from typing import Any

from durable_celery.errors import InvalidOption

MAX_NAME_LENGTH = 200
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_EVENT_KEY_LENGTH = 255
MAX_QUEUE_NAME_LENGTH = 255  # AMQP's limit on a queue name, in bytes
PRIORITY_RANGE = (-1_000_000, 1_000_000)
# What a Celery user puts in a queue name; nothing a broker or a shell could misread.
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.:@/+\-]+")
# PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_text(value: Any, what: str) -> str:
    """A string that PostgreSQL can store: no NUL character, no lone surrogate."""
    if not isinstance(value, str):
        raise InvalidOption(f"{what} must be a string, got {value!r}")
    if _UNSTORABLE.search(value):
        raise InvalidOption(
            f"{what} contains a NUL character or a lone surrogate, which PostgreSQL cannot "
            f"store: {value[:80]!r}"
        )
    return value


def check_name(name: Any, what: str) -> str:
    """Event and input names: what waits listen for and signals are sent to."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidOption(
            f"{what} must be a non-empty string of at most {MAX_NAME_LENGTH} characters, "
            f"got {name!r}"
        )
    return check_text(name, what)


def check_event_key(key: Any, what: str) -> str:
    """The correlation key of wait_for_event and publish_event: an order id, say."""
    if not isinstance(key, str) or not key or len(key) > MAX_EVENT_KEY_LENGTH:
        raise InvalidOption(
            f"{what} must be a non-empty string of at most {MAX_EVENT_KEY_LENGTH} characters, "
            f"got {key!r}"
        )
    return check_text(key, what)


def check_queue(queue: Any, what: str = "queue", max_length: int = MAX_QUEUE_NAME_LENGTH) -> str:
    """A Celery queue name: letters, digits and . _ - : @ / +, at most `max_length` long
    (the `durable_max_queue_name_length` setting at run time)."""
    if not isinstance(queue, str) or not queue:
        raise InvalidOption(f"{what} must be a non-empty string, got {queue!r}")
    if len(queue) > max_length:
        raise InvalidOption(
            f"{what} must be at most {max_length} characters, got one of {len(queue)}"
        )
    if not _QUEUE_NAME.fullmatch(queue):
        raise InvalidOption(
            f"{what} may contain letters, digits and . _ - : @ / + only, got {queue!r}"
        )
    return queue


def check_priority(priority: Any) -> int:
    low, high = PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not low <= priority <= high:
        raise InvalidOption(f"priority must be an int between {low} and {high}, got {priority!r}")
    return priority


def check_idempotency_key(key: Any) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidOption(
            f"idempotency_key must be a non-empty string of at most "
            f"{MAX_IDEMPOTENCY_KEY_LENGTH} characters, got {key!r}"
        )
    return check_text(key, "idempotency_key")


def check_debounce_key(key: Any) -> str:
    """The key that collapses debounced starts of one workflow into one execution."""
    if not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidOption(
            f"debounce_key must be a non-empty string of at most "
            f"{MAX_IDEMPOTENCY_KEY_LENGTH} characters, got {key!r}"
        )
    return check_text(key, "debounce_key")
