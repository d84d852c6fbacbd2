"""Cron expressions: parsing, and the next fire time in an IANA time zone.

The canonical text is rebuilt from the expanded fields, so two spellings of one schedule
("0 9 * * mon-fri" and "0 9 * * 1-5") give equal expressions with one stored text.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from durable_celery.errors import InvalidOption
from durable_celery.time import local_to_utc, require_aware

_FIELD_NAMES = "minute hour day-of-month month day-of-week"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names whose index + lowest is their number)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),  # 7 is Sunday again, folded to 0
)
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# The longest February, so that "0 0 29 2 *" is accepted: it fires in leap years.
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_SEARCH_YEARS = 5
_MINUTE = timedelta(minutes=1)


class _FieldError(Exception):
    pass


@dataclass(frozen=True)
class CronExpression:
    """A parsed five-field cron expression (minute hour day-of-month month day-of-week)."""

    text: str  # canonical form; the constructor parses and canonicalises what it is given
    _minutes: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _hours: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _months: tuple[int, ...] = field(init=False, repr=False, compare=False)
    # The two day fields, each empty when unrestricted (Vixie cron: when both are restricted
    # a day matches if either does; an unrestricted one leaves the decision to the other).
    _days: frozenset[int] = field(init=False, repr=False, compare=False)
    _weekdays: frozenset[int] = field(init=False, repr=False, compare=False)  # 0 = Sunday

    def __post_init__(self) -> None:
        source = self.text
        if not isinstance(source, str):
            raise InvalidOption(f"cron expression must be a string, got {source!r}")
        text = " ".join(source.lower().split())
        if text.startswith("@"):
            if text not in _MACROS:
                known = ", ".join(_MACROS)
                raise _invalid(source, f"unknown macro {text!r} (known: {known})")
            text = _MACROS[text]
        parts = text.split(" ") if text else []
        if len(parts) != 5:
            raise _invalid(source, f"expected 5 fields ({_FIELD_NAMES}), got {len(parts)}")
        values: list[frozenset[int]] = []
        for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
            try:
                values.append(_parse_field(part, name, low, high, names))
            except _FieldError as error:
                raise _invalid(source, str(error)) from None
        minutes, hours, days, months, weekdays = values
        weekdays = frozenset(day % 7 for day in weekdays)
        rendered = [
            _render(chosen, low, min(high, 6) if name == "day-of-week" else high)
            for chosen, (name, low, high, _) in zip(
                (minutes, hours, days, months, weekdays), _FIELDS, strict=True
            )
        ]
        # A restricted day-of-week matches days in every month; otherwise some allowed day of
        # the month must exist in some allowed month. Cheap, and it bounds next_after's search.
        if rendered[4] == "*" and min(days) > max(_MAX_DAYS[month - 1] for month in months):
            raise _invalid(
                source,
                f"never fires: day-of-month {rendered[2]} never occurs in month {rendered[3]}",
            )
        set_ = object.__setattr__
        set_(self, "text", " ".join(rendered))
        set_(self, "_minutes", tuple(sorted(minutes)))
        set_(self, "_hours", tuple(sorted(hours)))
        set_(self, "_months", tuple(sorted(months)))
        set_(self, "_days", frozenset() if rendered[2] == "*" else days)
        set_(self, "_weekdays", frozenset() if rendered[4] == "*" else weekdays)

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """InvalidOption naming the field and the value when `text` is not valid."""
        return cls(text)

    @classmethod
    def from_celery(cls, crontab: Any) -> CronExpression:
        """The expression of a `celery.schedules.crontab` (read from its `_orig_*` fields,
        so that Celery need not be imported here), or of a cron string."""
        if isinstance(crontab, str):
            return cls(crontab)
        names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        if not all(hasattr(crontab, f"_orig_{name}") for name in names):
            raise InvalidOption(
                f"expected a cron expression string or celery.schedules.crontab, got {crontab!r}"
            )
        specs = [_celery_spec(getattr(crontab, f"_orig_{name}"), crontab) for name in names]
        expression = cls(" ".join(specs))
        if expression._days and expression._weekdays:
            # Celery requires both day fields to match, cron either: same text, other days.
            raise InvalidOption(
                f"{crontab!r} restricts both day_of_month and day_of_week, which Celery "
                "combines with AND but cron with OR; restrict only one of them"
            )
        return expression

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first fire time strictly after the aware `moment`, in UTC, with the wall
        clock of `zone` (a skipped wall time fires once when the gap ends; a repeated
        one fires once, at its first occurrence)."""
        require_aware(moment, "moment")
        if not isinstance(zone, tzinfo):
            raise InvalidOption(f"zone must be a ZoneInfo, got {zone!r}")
        wall = moment.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0, fold=0)
        last_year = min(wall.year + _SEARCH_YEARS, 9998)
        # Wall time -> instant never goes backwards (a gap collapses onto its end, a repeated
        # hour keeps its first pass), so the first matching wall time whose instant is after
        # `moment` is the answer. Only a `moment` in the second pass of a repeated hour makes
        # this loop run more than once: the first pass's wall times are already behind it.
        while True:
            found = self._next_wall(wall, last_year)
            if found is None:
                raise InvalidOption(
                    f"cron expression {self.text!r} does not fire in the {_SEARCH_YEARS} "
                    f"years after {moment.isoformat()}"
                )
            fire = local_to_utc(found, zone)
            if fire > moment:
                return fire
            wall = found + _MINUTE

    def _next_wall(self, start: datetime, last_year: int) -> datetime | None:
        """The first matching wall-clock minute at or after `start`, skipping whole months,
        days and hours that cannot match."""
        year, month, day, hour, minute = start.timetuple()[:5]
        while year <= last_year:
            if month not in self._months:
                index = bisect_left(self._months, month)
                if index == len(self._months):
                    year, month = year + 1, self._months[0]
                else:
                    month = self._months[index]
                day, hour, minute = 1, 0, 0
                continue
            if day > calendar.monthrange(year, month)[1]:
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                day, hour, minute = 1, 0, 0
                continue
            if not self._day_matches(year, month, day):
                day, hour, minute = day + 1, 0, 0
                continue
            index = bisect_left(self._hours, hour)
            if index == len(self._hours):
                day, hour, minute = day + 1, 0, 0
                continue
            if self._hours[index] != hour:
                hour, minute = self._hours[index], 0
            index = bisect_left(self._minutes, minute)
            if index == len(self._minutes):
                hour, minute = hour + 1, 0
                if hour == 24:
                    day, hour = day + 1, 0
                continue
            return datetime(year, month, day, hour, self._minutes[index])
        return None

    def _day_matches(self, year: int, month: int, day: int) -> bool:
        if not self._days and not self._weekdays:
            return True
        return day in self._days or (calendar.weekday(year, month, day) + 1) % 7 in self._weekdays


def _invalid(source: str, problem: str) -> InvalidOption:
    return InvalidOption(f"invalid cron expression {source!r}: {problem}")


def _parse_field(
    text: str, name: str, low: int, high: int, names: tuple[str, ...]
) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _FieldError(f"{name} {text!r} has an empty list item")
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not _is_number(step_text) or int(step_text) == 0:
                raise _FieldError(f"{name} step {step_text!r} must be a whole number >= 1")
            step = int(step_text)
        if body == "*":
            first, last = low, high
        else:
            start_text, dash, end_text = body.partition("-")
            first = _number(start_text, name, low, high, names)
            # "a/n" runs from a to the end of the field, as in Vixie cron.
            last = _number(end_text, name, low, high, names) if dash else high if slash else first
            if last < first:
                raise _FieldError(f"{name} range {body!r} runs backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text in names:
        return names.index(text) + low
    if not _is_number(text):
        kinds = f"a number or a name ({names[0]}-{names[-1]})" if names else "a number"
        raise _FieldError(f"{name} {text!r} is not {kinds}")
    value = int(text)
    if not low <= value <= high:
        raise _FieldError(f"{name} {value} is out of range {low}-{high}")
    return value


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit alone accepts "²"


def _render(values: frozenset[int], low: int, high: int) -> str:
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    for step in range(2, (high - low) // 2 + 1):  # three values or more: "*/30" reads worse
        if ordered == list(range(low, high + 1, step)):
            return f"*/{step}"
    pieces: list[str] = []
    run: list[int] = []
    for value in [*ordered, -1]:  # the sentinel closes the last run
        if run and value == run[-1] + 1:
            run.append(value)
            continue
        if len(run) >= 3:
            pieces.append(f"{run[0]}-{run[-1]}")
        else:
            pieces.extend(str(item) for item in run)
        run = [value]
    return ",".join(pieces)


def _celery_spec(value: Any, crontab: Any) -> str:
    # Celery keeps what it was given: "*/15", 3, {0, 30}, range(1, 4)...
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return str(value)
    elif isinstance(value, str):
        return "".join(value.split())  # Celery allows "1, 2": one field here all the same
    elif isinstance(value, Iterable):
        items = list(value)
        if items and all(isinstance(item, int) and not isinstance(item, bool) for item in items):
            return ",".join(str(item) for item in sorted(items))
    raise InvalidOption(f"cannot read the celery crontab {crontab!r}: unexpected field {value!r}")
