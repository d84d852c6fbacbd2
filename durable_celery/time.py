"""Duration helpers. Every duration argument accepts a timedelta or a number of seconds."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    if not isinstance(name, str):
        raise InvalidOption(f"time zone must be a string, got {name!r}")
    return _zone(name)


@functools.cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # ValueError and OSError: keys that are not paths in the database ("", "../x", "zone.tab").
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidOption(f"unknown time zone {name!r}") from None


def local_to_utc(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of the naive wall-clock time `wall` in `zone`. A wall time skipped by
    a DST change resolves to the instant the gap ends; a repeated one to its first occurrence."""
    wall = wall.replace(tzinfo=None, fold=0)
    first = wall.replace(tzinfo=zone)
    before, after = first.utcoffset(), wall.replace(tzinfo=zone, fold=1).utcoffset()
    if before is None or after is None:
        raise InvalidOption(f"time zone {zone!r} gives no UTC offset for {wall.isoformat()}")
    if before >= after:  # an ordinary time, or a repeated one (fold=0 is its first occurrence)
        return first.astimezone(UTC)
    # In a gap, fold=0 reads the wall time with the offset from before the change (an instant
    # after the change) and fold=1 with the offset from after it (an instant before it).
    low = math.floor((wall - after).replace(tzinfo=UTC).timestamp())
    high = math.ceil((wall - before).replace(tzinfo=UTC).timestamp())
    while high - low > 1:  # the first whole second on the later offset: the end of the gap
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _zone_of(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    if isinstance(tz, str):
        return zone_named(tz)
    raise InvalidOption(f"tz must be a time zone name or a ZoneInfo, got {tz!r}")


def _today(now: datetime | None, zone: ZoneInfo) -> tuple[datetime, date]:
    moment = datetime.now(UTC) if now is None else require_aware(now, "now")
    return moment, moment.astimezone(zone).date()


def _clock(hour: int, minute: int) -> time:
    for what, value, top in (("hour", hour, 23), ("minute", minute, 59)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise InvalidOption(f"{what} must be an integer from 0 to {top}, got {value!r}")
    return time(hour, minute)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def next_business_day(
    hour: int = 9,
    minute: int = 0,
    *,
    tz: str | ZoneInfo = "UTC",
    holidays: Iterable[date] = (),
    now: datetime | None = None,
) -> datetime:
    """hour:minute in `tz` on the first Monday-Friday after today (in `tz`) that is not in
    `holidays`, as an aware UTC datetime."""
    at, zone = _clock(hour, minute), _zone_of(tz)
    closed = set()
    for holiday in holidays:
        if not isinstance(holiday, date):
            raise InvalidOption(f"holidays must be dates, got {holiday!r}")
        closed.add(holiday.date() if isinstance(holiday, datetime) else holiday)
    _, day = _today(now, zone)
    day += timedelta(days=1)
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return local_to_utc(datetime.combine(day, at), zone)


def next_weekday(
    day: str | int,
    hour: int = 9,
    minute: int = 0,
    *,
    tz: str | ZoneInfo = "UTC",
    now: datetime | None = None,
) -> datetime:
    """The first `day` at hour:minute in `tz` strictly after `now` (later today when today is
    that day and the time is still ahead), as an aware UTC datetime. `day` is a name
    ("monday", "mon", any case) or Python's weekday number: 0 = Monday ... 6 = Sunday."""
    target = _weekday_number(day)
    at, zone = _clock(hour, minute), _zone_of(tz)
    moment, today = _today(now, zone)
    candidate = today + timedelta(days=(target - today.weekday()) % 7)
    fire = local_to_utc(datetime.combine(candidate, at), zone)
    if fire <= moment:
        fire = local_to_utc(datetime.combine(candidate + timedelta(days=7), at), zone)
    return fire


def _weekday_number(day: str | int) -> int:
    if isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6:
        return day
    if isinstance(day, str):
        for number, name in enumerate(_WEEKDAYS):
            if day.lower() in (name, name[:3]):
                return number
    raise InvalidOption(
        f"day must be a weekday name (monday..sunday or mon..sun) or a number "
        f"from 0 (Monday) to 6 (Sunday), got {day!r}"
    )


def end_of_day(*, tz: str | ZoneInfo = "UTC", now: datetime | None = None) -> datetime:
    """23:59:59 of today in `tz`, as an aware UTC datetime."""
    zone = _zone_of(tz)
    _, today = _today(now, zone)
    return local_to_utc(datetime.combine(today, time(23, 59, 59)), zone)
