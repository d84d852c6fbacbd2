"""durable_retention: how long finished executions are kept, per status, parsed from
"completed=30d,failed=90d", a mapping of status to age, or such pairs."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from durable_celery.errors import ConfigurationError
from durable_celery.states import FINISHED_STATUSES, ExecutionStatus

Retention = tuple[tuple[ExecutionStatus, float], ...]
# As for every duration: beyond it a timestamp would overflow.
MAX_AGE = 36_525 * 86_400.0

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RETENTION_FORM = 'e.g. "completed=30d,failed=90d"'


def parse_retention(value: Any) -> Retention:
    """durable_retention as (status, seconds) pairs: from "completed=30d,failed=90d", a
    mapping of status to age (a duration text, seconds or a timedelta), or such pairs."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        pairs: list[tuple[Any, Any]] = []
        for part in value.split(","):
            if not part.strip():
                continue
            status, equals, age = part.partition("=")
            if not equals:
                raise ConfigurationError(
                    f"durable_retention must be status=age pairs ({_RETENTION_FORM}), "
                    f"got {part.strip()!r}"
                )
            pairs.append((status.strip(), age.strip()))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        try:
            pairs = [(status, age) for status, age in value]
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"durable_retention must be a mapping of status to age or a text "
                f"({_RETENTION_FORM}), got {value!r}"
            ) from None
    kept: dict[ExecutionStatus, float] = {}
    for status, age in pairs:
        finished = _finished_status(status)
        if finished in kept:
            raise ConfigurationError(f"durable_retention names {finished} twice")
        kept[finished] = _retention_age(finished, age)
    return tuple(sorted(kept.items()))


def _finished_status(status: Any) -> ExecutionStatus:
    names = ", ".join(sorted(FINISHED_STATUSES))
    try:
        parsed = ExecutionStatus(status)
    except ValueError:
        raise ConfigurationError(
            f"durable_retention: unknown status {status!r} (finished statuses: {names})"
        ) from None
    if not parsed.finished:
        raise ConfigurationError(
            f"durable_retention: {parsed} is not a finished status; only finished "
            f"executions are deleted ({names})"
        )
    return parsed


def _retention_age(status: ExecutionStatus, age: Any) -> float:
    """Seconds: "30d", "12h", "90m", "3600s", a number of seconds, or a timedelta."""
    seconds: float | None = None
    if isinstance(age, timedelta):
        seconds = age.total_seconds()
    elif isinstance(age, (int, float)) and not isinstance(age, bool):
        seconds = float(age)
    elif isinstance(age, str) and (match := _DURATION.fullmatch(age)):
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds is None or not math.isfinite(seconds):
        raise ConfigurationError(
            f"durable_retention: the age of {status} must be a duration like 30d, 12h, 90m "
            f"or 3600s, got {age!r}"
        )
    if not 0 < seconds <= MAX_AGE:
        raise ConfigurationError(
            f"durable_retention: the age of {status} must be more than 0 and at most "
            f"36525d (100 years), got {age!r}"
        )
    return seconds
