"""Time helpers for durable waits: deterministic through `now`, in the wall clock of a time
zone, with the cron rules for DST (a skipped time fires when the gap ends, a repeated one on
its first pass)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from durable_celery.errors import InvalidOption
from durable_celery.time import (
    end_of_day,
    local_to_utc,
    next_business_day,
    next_weekday,
    zone_named,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
# 2026-05-15 is a Friday.
FRIDAY_NOON = datetime(2026, 5, 15, 12, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


# zone_named


def test_zone_named_finds_iana_zones_and_caches_them():
    assert zone_named("Europe/Paris") == PARIS
    assert zone_named("UTC").utcoffset(datetime(2026, 1, 1)) == timedelta(0)
    assert zone_named("America/New_York") is zone_named("America/New_York")


@pytest.mark.parametrize("name", ["Europe/Pariss", "", "Europe", "../etc/passwd", "/etc/passwd"])
def test_zone_named_rejects_unknown_names(name):
    with pytest.raises(InvalidOption, match=exactly(f"unknown time zone {name!r}")):
        zone_named(name)


@pytest.mark.parametrize("value", [5, None, PARIS])
def test_zone_named_takes_only_strings(value):
    with pytest.raises(InvalidOption, match=exactly(f"time zone must be a string, got {value!r}")):
        zone_named(value)


# local_to_utc: the shared DST rule


def test_local_times_resolve_with_the_cron_dst_rules():
    assert local_to_utc(datetime(2026, 5, 1, 9), PARIS) == utc(2026, 5, 1, 7)
    # Skipped wall times become the instant the gap ends.
    assert local_to_utc(datetime(2026, 3, 29, 2), PARIS) == utc(2026, 3, 29, 1)
    assert local_to_utc(datetime(2026, 3, 29, 2, 59, 59), PARIS) == utc(2026, 3, 29, 1)
    assert local_to_utc(datetime(2026, 3, 8, 2, 30), NEW_YORK) == utc(2026, 3, 8, 7)
    # Repeated wall times are their first occurrence, whatever fold they carry.
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), PARIS) == utc(2026, 10, 25, 0, 30)
    assert local_to_utc(datetime(2026, 11, 1, 1, 30, fold=1), NEW_YORK) == utc(2026, 11, 1, 5, 30)


# next_business_day


def test_next_business_day_is_a_later_weekday():
    thursday = utc(2026, 5, 14, 8)
    assert next_business_day(now=thursday) == utc(2026, 5, 15, 9)
    assert next_business_day(now=FRIDAY_NOON) == utc(2026, 5, 18, 9)
    assert next_business_day(now=utc(2026, 5, 16, 12)) == utc(2026, 5, 18, 9)  # Saturday
    assert next_business_day(now=utc(2026, 5, 17, 12)) == utc(2026, 5, 18, 9)  # Sunday
    # Never today, even when hour:minute is still ahead.
    assert next_business_day(17, now=utc(2026, 5, 14, 8)) == utc(2026, 5, 15, 17)


def test_next_business_day_in_a_time_zone():
    # 23:30 UTC on Friday is already Saturday in Paris: the next business day is Monday.
    late_friday = utc(2026, 5, 15, 23, 30)
    assert next_business_day(8, 30, tz="Europe/Paris", now=late_friday) == utc(2026, 5, 18, 6, 30)
    # ... and still Friday in New York (19:30 EDT): Monday as well, 09:00 EDT.
    assert next_business_day(tz=NEW_YORK, now=late_friday) == utc(2026, 5, 18, 13)
    # 03:00 UTC on Monday is Sunday evening in New York: Monday counts as later.
    assert next_business_day(tz=NEW_YORK, now=utc(2026, 5, 18, 3)) == utc(2026, 5, 18, 13)


def test_next_business_day_skips_holidays():
    whit_monday = date(2026, 5, 25)
    friday = utc(2026, 5, 22, 12)
    assert next_business_day(now=friday, holidays=[whit_monday]) == utc(2026, 5, 26, 9)
    christmas = [date(2026, 12, 24), date(2026, 12, 25), datetime(2026, 12, 28, tzinfo=UTC)]
    found = next_business_day(tz="Europe/Paris", now=utc(2026, 12, 23, 12), holidays=christmas)
    assert found == utc(2026, 12, 29, 8)
    assert next_business_day(now=friday, holidays=iter([whit_monday])) == utc(2026, 5, 26, 9)


def test_next_business_day_on_dst_days():
    # Monday 2026-03-30 is after the Paris change: 09:00 CEST.
    assert next_business_day(tz=PARIS, now=utc(2026, 3, 27, 12)) == utc(2026, 3, 30, 7)
    # 02:30 does not exist on Sunday 2026-03-08 in New York, but Monday's is ordinary.
    assert next_business_day(2, 30, tz=NEW_YORK, now=utc(2026, 3, 6, 12)) == utc(2026, 3, 9, 6, 30)
    # Cairo changes on a Friday: 00:00-01:00 is skipped on 2026-04-24, so 00:30 resolves to
    # the end of the gap, 01:00 EEST.
    thursday = utc(2026, 4, 23, 12)
    assert next_business_day(0, 30, tz="Africa/Cairo", now=thursday) == utc(2026, 4, 23, 22)


# next_weekday


@pytest.mark.parametrize("day", ["monday", "Monday", "MON", "mon", 0])
def test_next_weekday_accepts_names_and_python_numbers(day):
    assert next_weekday(day, now=FRIDAY_NOON) == utc(2026, 5, 18, 9)


@pytest.mark.parametrize(
    ("day", "expected"),
    [(1, 19), (2, 20), (3, 21), (5, 16), (6, 17), ("sun", 17), ("saturday", 16)],
)
def test_next_weekday_numbers_monday_as_0(day, expected):
    assert next_weekday(day, 10, now=FRIDAY_NOON) == utc(2026, 5, expected, 10)


def test_next_weekday_today_only_when_the_time_is_still_ahead():
    assert next_weekday("friday", 13, now=FRIDAY_NOON) == utc(2026, 5, 15, 13)
    assert next_weekday("friday", 12, now=FRIDAY_NOON) == utc(2026, 5, 22, 12)
    assert next_weekday("friday", 11, 59, now=FRIDAY_NOON) == utc(2026, 5, 22, 11, 59)
    # Noon UTC is 14:00 in Paris: Friday 13:00 Paris is past, 15:00 still ahead.
    assert next_weekday(4, 13, tz=PARIS, now=FRIDAY_NOON) == utc(2026, 5, 22, 11)
    assert next_weekday(4, 15, tz=PARIS, now=FRIDAY_NOON) == utc(2026, 5, 15, 13)


def test_next_weekday_on_dst_days():
    # Sunday 2026-03-29 02:30 does not exist in Paris: the end of the gap, 03:00 CEST.
    saturday = utc(2026, 3, 28, 12)
    assert next_weekday("sun", 2, 30, tz=PARIS, now=saturday) == utc(2026, 3, 29, 1)
    # Sunday 2026-11-01 01:30 happens twice in New York: the first, 01:30 EDT.
    assert next_weekday("sun", 1, 30, tz=NEW_YORK, now=utc(2026, 10, 31)) == utc(2026, 11, 1, 5, 30)
    # Asked during the second 01:00-02:00, the first 01:30 is behind: a week later, in EST.
    second_pass = utc(2026, 11, 1, 6, 10)  # 01:10 EST
    assert next_weekday("sun", 1, 30, tz=NEW_YORK, now=second_pass) == utc(2026, 11, 8, 6, 30)


# end_of_day


def test_end_of_day_is_the_last_second_of_today_in_the_zone():
    assert end_of_day(now=FRIDAY_NOON) == utc(2026, 5, 15, 23, 59, 59)
    assert end_of_day(tz="Europe/Paris", now=FRIDAY_NOON) == utc(2026, 5, 15, 21, 59, 59)
    assert end_of_day(tz=NEW_YORK, now=FRIDAY_NOON) == utc(2026, 5, 16, 3, 59, 59)
    # 23:30 UTC is already Saturday in Paris.
    assert end_of_day(tz=PARIS, now=utc(2026, 5, 15, 23, 30)) == utc(2026, 5, 16, 21, 59, 59)
    # On DST days the day is 23 or 25 hours long; the end is still 23:59:59 local.
    assert end_of_day(tz=PARIS, now=utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 21, 59, 59)
    assert end_of_day(tz=NEW_YORK, now=utc(2026, 11, 1, 12)) == utc(2026, 11, 2, 4, 59, 59)
    # Cairo repeats 23:00-24:00 on Thursday 2026-10-29: the first 23:59:59, in EEST.
    cairo = "Africa/Cairo"
    assert end_of_day(tz=cairo, now=utc(2026, 10, 29, 12)) == utc(2026, 10, 29, 20, 59, 59)


def test_helpers_default_to_the_current_time():
    before = datetime.now(UTC)
    assert end_of_day() >= before
    assert next_business_day() > before
    assert next_weekday("mon") > before
    assert end_of_day().tzinfo is UTC


# Bad arguments


DAY = "day must be a weekday name (monday..sunday or mon..sun) or a number from 0 (Monday) to 6 "


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: next_business_day(24), "hour must be an integer from 0 to 23, got 24"),
        (lambda: next_business_day(-1), "hour must be an integer from 0 to 23, got -1"),
        (lambda: next_business_day(9, 60), "minute must be an integer from 0 to 59, got 60"),
        (lambda: next_weekday("mon", "9"), "hour must be an integer from 0 to 23, got '9'"),
        (lambda: next_weekday("mon", 9.5), "hour must be an integer from 0 to 23, got 9.5"),
        (lambda: next_weekday("mon", True), "hour must be an integer from 0 to 23, got True"),
        (lambda: next_weekday("mon", 9, -5), "minute must be an integer from 0 to 59, got -5"),
        (lambda: next_weekday("funday"), DAY + "(Sunday), got 'funday'"),
        (lambda: next_weekday(7), DAY + "(Sunday), got 7"),
        (lambda: next_weekday(-1), DAY + "(Sunday), got -1"),
        (lambda: next_weekday("mo"), DAY + "(Sunday), got 'mo'"),
        (lambda: next_weekday(True), DAY + "(Sunday), got True"),
        (lambda: next_weekday(None), DAY + "(Sunday), got None"),
        (
            lambda: end_of_day(now=datetime(2026, 5, 15, 12)),
            "now must be timezone-aware, got naive 2026-05-15T12:00:00",
        ),
        (
            lambda: next_weekday("mon", now=datetime(2026, 5, 15)),
            "now must be timezone-aware, got naive 2026-05-15T00:00:00",
        ),
        (lambda: next_business_day(now="today"), "now must be a datetime, got 'today'"),
        (lambda: end_of_day(tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (lambda: end_of_day(tz=2), "tz must be a time zone name or a ZoneInfo, got 2"),
        (
            lambda: next_business_day(now=FRIDAY_NOON, holidays=["2026-05-18"]),
            "holidays must be dates, got '2026-05-18'",
        ),
    ],
)
def test_bad_arguments_are_invalid_options(call, message):
    with pytest.raises(InvalidOption, match=exactly(message)):
        call()
