"""Duration helpers. Every duration argument accepts a timedelta or a number of seconds."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from durable_celery.errors import InvalidOption

Duration = timedelta | int | float


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)


MAX_DURATION = timedelta(days=36_525)
"""The longest duration any argument takes (100 years): timers must fit in PostgreSQL's
timestamps and intervals, and a longer one is a mistake, not a plan."""


def to_timedelta(value: Duration, what: str = "duration") -> timedelta:
    """Normalise a duration argument; negative, NaN, overlong or non-numeric values are
    rejected with InvalidOption."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise InvalidOption(f"{what} must be a timedelta or a number of seconds, got {value!r}")
    if isinstance(value, timedelta):
        delta = value
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidOption(f"{what} must be finite, got {value!r}")
        if abs(value) > MAX_DURATION.total_seconds():
            raise InvalidOption(f"{what} must be at most {MAX_DURATION.days} days, got {value!r}")
        delta = timedelta(seconds=value)
    if delta < timedelta(0):
        raise InvalidOption(f"{what} must not be negative, got {delta}")
    if delta > MAX_DURATION:
        raise InvalidOption(f"{what} must be at most {MAX_DURATION.days} days, got {delta}")
    return delta


def require_aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidOption(f"{what} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidOption(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone `name`; InvalidOption when there is none."""
    raise NotImplementedError
