"""Cron expressions: parsing with exact errors, Celery crontabs, and fire times on the wall
clock of a time zone, including both DST transitions of Paris and New York."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab

from durable_celery.dsl.cron import CronExpression
from durable_celery.errors import InvalidOption

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(text: str, zone: ZoneInfo, start: datetime, count: int) -> list[datetime]:
    cron, moment, found = CronExpression.parse(text), start, []
    for _ in range(count):
        moment = cron.next_after(moment, zone)
        found.append(moment)
    return found


def fires_until(text: str, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    cron, moment, found = CronExpression.parse(text), start, []
    while (moment := cron.next_after(moment, zone)) < end:
        found.append(moment)
    return found


# Parsing


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0 3 * * *", "0 3 * * *"),
        ("  0   3 *\t* *  ", "0 3 * * *"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0,15,30,45 * * * *", "*/15 * * * *"),
        ("0 9 * * mon-fri", "0 9 * * 1-5"),
        ("0 9 * * MON-FRI", "0 9 * * 1-5"),
        ("0 9 * * 1,2,3,4,5", "0 9 * * 1-5"),
        ("0 0 * jan-mar *", "0 0 * 1-3 *"),
        ("0 0 1 JAN,jul *", "0 0 1 1,7 *"),
        ("0 0 * jan-dec/2 *", "0 0 * */2 *"),
        ("*/30 * * * *", "0,30 * * * *"),
        ("*/20 * * * *", "*/20 * * * *"),
        ("5/20 * * * *", "5,25,45 * * * *"),
        ("10-30/10 * * * *", "10,20,30 * * * *"),
        ("1,2,3,5 * * * *", "1-3,5 * * * *"),
        ("59 23 31 12 6", "59 23 31 12 6"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * sun", "0 0 * * 0"),
        ("0 0 * * 0-7", "0 0 * * *"),
        ("0 0 * * 5-7", "0 0 * * 0,5,6"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
    ],
)
def test_valid_expressions_have_a_canonical_text(text, canonical):
    cron = CronExpression.parse(text)
    assert cron.text == canonical
    assert CronExpression.parse(canonical) == cron
    assert CronExpression.parse(cron.text).text == canonical


def test_equal_schedules_are_equal_expressions():
    assert CronExpression.parse("0 9 * * mon-fri") == CronExpression.parse("0 9 * * 1-5")
    assert CronExpression.parse("@daily") == CronExpression.parse("0 0 * * *")
    assert CronExpression.parse("0 3 * * *") != CronExpression.parse("0 4 * * *")
    assert hash(CronExpression.parse("@weekly")) == hash(CronExpression.parse("0 0 * * 7"))
    assert CronExpression("0 0 * * 7") == CronExpression.parse("@weekly")
    assert repr(CronExpression.parse("@hourly")) == "CronExpression(text='0 * * * *')"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("* * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 3"),
        ("", "expected 5 fields (minute hour day-of-month month day-of-week), got 0"),
        ("* * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("* 24 * * *", "hour 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month 0 is out of range 1-31"),
        ("* * 32 * *", "day-of-month 32 is out of range 1-31"),
        ("* * * 13 *", "month 13 is out of range 1-12"),
        ("* * * 0 *", "month 0 is out of range 1-12"),
        ("* * * * 8", "day-of-week 8 is out of range 0-7"),
        ("x * * * *", "minute 'x' is not a number"),
        ("* mon * * *", "hour 'mon' is not a number"),
        ("* * * foo *", "month 'foo' is not a number or a name (jan-dec)"),
        ("* * * * funday", "day-of-week 'funday' is not a number or a name (sun-sat)"),
        ("* * * * monday", "day-of-week 'monday' is not a number or a name (sun-sat)"),
        ("-5 * * * *", "minute '' is not a number"),
        ("1.5 * * * *", "minute '1.5' is not a number"),
        ("² * * * *", "minute '²' is not a number"),
        ("5-3 * * * *", "minute range '5-3' runs backwards"),
        ("* * * * fri-mon", "day-of-week range 'fri-mon' runs backwards"),
        ("1,,2 * * * *", "minute '1,,2' has an empty list item"),
        ("1, * * * *", "minute '1,' has an empty list item"),
        ("*/0 * * * *", "minute step '0' must be a whole number >= 1"),
        ("*/ * * * *", "minute step '' must be a whole number >= 1"),
        ("*/x * * * *", "minute step 'x' must be a whole number >= 1"),
        ("1-5/2/3 * * * *", "minute step '2/3' must be a whole number >= 1"),
        ("@often", "unknown macro '@often' (known: @yearly, @annually, @monthly, @weekly, "),
        ("@daily 5", "unknown macro '@daily 5'"),
        ("0 0 30 2 *", "never fires: day-of-month 30 never occurs in month 2"),
        ("0 0 31 4,6,9,11 *", "never fires: day-of-month 31 never occurs in month 4,6,9,11"),
        ("0 0 30,31 feb *", "never fires: day-of-month 30,31 never occurs in month 2"),
    ],
)
def test_invalid_expressions_name_the_field_and_the_value(text, problem):
    with pytest.raises(InvalidOption) as raised:
        CronExpression.parse(text)
    assert str(raised.value).startswith(f"invalid cron expression {text!r}: {problem}")


@pytest.mark.parametrize("value", [5, None, b"0 3 * * *", ["0", "3"]])
def test_a_cron_expression_must_be_a_string(value):
    message = f"cron expression must be a string, got {value!r}"
    with pytest.raises(InvalidOption, match=f"^{re.escape(message)}$"):
        CronExpression.parse(value)


def test_restricting_both_day_fields_is_not_never_firing():
    # February has no 30th, but Mondays: Vixie cron fires on either.
    assert CronExpression.parse("0 0 30 2 mon").text == "0 0 30 2 1"


# Celery crontabs


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (crontab(), "* * * * *"),
        (crontab(minute=0, hour=3), "0 3 * * *"),
        (crontab(minute="*/15"), "*/15 * * * *"),
        (crontab(day_of_week="mon-fri", hour=9, minute=0), "0 9 * * 1-5"),
        (crontab(day_of_week="sun", hour=9, minute=0), "0 9 * * 0"),
        (crontab(day_of_week=0, hour=9, minute=0), "0 9 * * 0"),
        (crontab(day_of_week="*/2", minute=0, hour=0), "0 0 * * */2"),
        (crontab(minute={30, 0}, hour=[9, 17]), "0,30 9,17 * * *"),
        (crontab(minute="1, 2"), "1,2 * * * *"),
        (crontab(0, 0, day_of_month="1,15", month_of_year="jan-jun"), "0 0 1,15 1-6 *"),
        (crontab(0, 0, month_of_year=range(1, 4)), "0 0 * 1-3 *"),
    ],
)
def test_celery_crontabs_convert_to_the_same_schedule(schedule, text):
    cron = CronExpression.from_celery(schedule)
    assert cron.text == text
    assert cron == CronExpression.parse(text)


def test_celery_and_cron_number_weekdays_alike():
    for day in range(7):
        schedule = crontab(minute=0, hour=0, day_of_week=day)
        cron = CronExpression.from_celery(schedule)
        fire = cron.next_after(utc(2026, 5, 1), UTC)  # 2026-05-01 is a Friday
        assert fire.isoweekday() % 7 == day
        assert schedule.day_of_week == {day}


def test_from_celery_accepts_a_string_and_rejects_everything_else():
    assert CronExpression.from_celery("@daily").text == "0 0 * * *"
    for value in (5, None, object(), timedelta(hours=1)):
        with pytest.raises(
            InvalidOption,
            match=r"^expected a cron expression string or celery.schedules.crontab, got ",
        ):
            CronExpression.from_celery(value)


def test_celery_crontabs_cron_cannot_express_are_rejected():
    # Celery ANDs the two day fields, cron ORs them: the same text would fire other days.
    with pytest.raises(InvalidOption, match="Celery combines with AND but cron with OR"):
        CronExpression.from_celery(crontab(0, 0, day_of_week="mon", day_of_month=1))
    # Celery wraps ranges around the week; cron does not.
    with pytest.raises(InvalidOption, match="day-of-week range 'sat-mon' runs backwards"):
        CronExpression.from_celery(crontab(day_of_week="sat-mon"))


# Fire times on ordinary days


def test_next_after_is_strictly_after_and_in_utc():
    cron = CronExpression.parse("0 3 * * *")
    assert cron.next_after(utc(2026, 5, 1, 2, 59, 59), UTC) == utc(2026, 5, 1, 3)
    assert cron.next_after(utc(2026, 5, 1, 3), UTC) == utc(2026, 5, 2, 3)
    assert cron.next_after(utc(2026, 5, 1, 3, 0, 0, 1), UTC) == utc(2026, 5, 2, 3)
    fire = cron.next_after(utc(2026, 5, 1, 12), PARIS)
    assert fire == utc(2026, 5, 2, 1)  # 03:00 CEST
    assert fire.tzinfo is UTC
    other_zone = datetime(2026, 5, 1, 12, tzinfo=NEW_YORK)  # any aware moment will do
    assert cron.next_after(other_zone, PARIS) == utc(2026, 5, 2, 1)


def test_next_after_skips_to_the_next_month_and_year():
    assert fires("0 0 1 * *", UTC, utc(2026, 1, 31, 12), 2) == [utc(2026, 2, 1), utc(2026, 3, 1)]
    assert fires("@yearly", UTC, utc(2026, 6, 1), 2) == [utc(2027, 1, 1), utc(2028, 1, 1)]
    assert fires("0 0 31 * *", UTC, utc(2026, 1, 31), 2) == [utc(2026, 3, 31), utc(2026, 5, 31)]
    assert fires("30 23 * * *", UTC, utc(2026, 12, 31, 23, 30), 1) == [utc(2027, 1, 1, 23, 30)]
    assert fires("0 0 29 2 *", UTC, utc(2026, 1, 1), 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]
    assert fires("*/20 9-10 * * *", UTC, utc(2026, 5, 1, 10, 40), 2) == [
        utc(2026, 5, 2, 9),
        utc(2026, 5, 2, 9, 20),
    ]


def test_weekly_and_weekday_expressions():
    # 2026-05-01 is a Friday.
    assert fires("@weekly", UTC, utc(2026, 5, 1), 2) == [utc(2026, 5, 3), utc(2026, 5, 10)]
    assert fires("0 9 * * mon-fri", UTC, utc(2026, 5, 1, 9), 2) == [
        utc(2026, 5, 4, 9),
        utc(2026, 5, 5, 9),
    ]
    assert fires("0 0 * * 7", UTC, utc(2026, 5, 1), 1) == [utc(2026, 5, 3)]


def test_day_of_month_and_day_of_week_match_either_when_both_are_restricted():
    found = fires_until("0 0 13 * fri", UTC, utc(2026, 2, 28), utc(2026, 4, 1))
    days = [fire.day for fire in found]
    # Fridays of March 2026 (6, 13, 20, 27) and the 13th, once although it is a Friday.
    assert days == [6, 13, 20, 27]
    found = fires_until("0 0 1,15 * fri", UTC, utc(2026, 5, 31), utc(2026, 7, 1))
    assert [fire.day for fire in found] == [1, 5, 12, 15, 19, 26]
    # Only one restricted: that one decides.
    assert [f.day for f in fires("0 0 1 * *", UTC, utc(2026, 5, 31), 2)] == [1, 1]
    assert all(f.weekday() == 0 for f in fires("0 0 * * mon", UTC, utc(2026, 5, 31), 5))
    # A step on day-of-month is a restriction too ("neither is *").
    found = fires_until("0 0 */10 * sun", UTC, utc(2026, 5, 31), utc(2026, 7, 1))
    assert [fire.day for fire in found] == [1, 7, 11, 14, 21, 28]


def test_next_after_rejects_naive_moments():
    cron = CronExpression.parse("@daily")
    with pytest.raises(InvalidOption, match=r"^moment must be timezone-aware, got naive 2026"):
        cron.next_after(datetime(2026, 5, 1), PARIS)


def test_next_after_is_fast():
    cron = CronExpression.parse("*/15 9-17 * * mon-fri")
    started = time.perf_counter()
    for hour in range(1000):
        cron.next_after(utc(2026, 1, 1) + timedelta(hours=hour), PARIS)
    assert (time.perf_counter() - started) / 1000 < 0.001
    # A leap day four years away is found by skipping months, not minutes.
    started = time.perf_counter()
    assert CronExpression.parse("0 0 29 2 *").next_after(utc(2028, 3, 1), UTC) == utc(2032, 2, 29)
    assert time.perf_counter() - started < 0.01


# Spring forward: the skipped hour fires once, when the gap ends


@pytest.mark.parametrize(
    ("zone", "day", "gap_end"),
    [
        (PARIS, date(2026, 3, 29), utc(2026, 3, 29, 1)),
        (NEW_YORK, date(2026, 3, 8), utc(2026, 3, 8, 7)),
    ],
)
def test_a_daily_time_in_the_gap_fires_when_the_gap_ends(zone, day, gap_end):
    skipped = "30 2 * * *"
    found = fires(skipped, zone, gap_end - timedelta(days=1, hours=12), 3)
    assert found[1] == gap_end
    assert found[1].astimezone(zone).replace(tzinfo=None) == datetime(
        day.year, day.month, day.day, 3
    )
    assert found[0] == found[1] - timedelta(days=1) + timedelta(minutes=30)
    assert found[2] == found[1] + timedelta(days=1) - timedelta(minutes=30)
    assert fires("0 2 * * *", zone, gap_end - timedelta(hours=3), 1) == [gap_end]


@pytest.mark.parametrize(
    ("zone", "gap_end"), [(PARIS, utc(2026, 3, 29, 1)), (NEW_YORK, utc(2026, 3, 8, 7))]
)
def test_every_15_minutes_fires_once_at_the_end_of_the_gap(zone, gap_end):
    found = fires_until(
        "*/15 * * * *", zone, gap_end - timedelta(hours=1), gap_end + timedelta(hours=1)
    )
    expected_before = [gap_end - timedelta(minutes=m) for m in (60, 45, 30, 15)]
    expected_after = [gap_end + timedelta(minutes=m) for m in (0, 15, 30, 45)]
    assert found == expected_before[1:] + expected_after
    # Four skipped wall times (02:00-02:45) and 03:00 itself: one fire at that instant.
    found = fires_until(
        "*/15 2-3 * * *", zone, gap_end - timedelta(hours=2), gap_end + timedelta(hours=2)
    )
    assert found == expected_after
    found = fires_until(
        "*/15 2 * * *", zone, gap_end - timedelta(hours=2), gap_end + timedelta(hours=2)
    )
    assert found == [gap_end]


@pytest.mark.parametrize(
    ("zone", "gap_end"), [(PARIS, utc(2026, 3, 29, 1)), (NEW_YORK, utc(2026, 3, 8, 7))]
)
def test_hourly_fires_once_at_the_end_of_the_gap(zone, gap_end):
    found = fires_until(
        "0 * * * *", zone, gap_end - timedelta(hours=3), gap_end + timedelta(hours=2)
    )
    assert found == [gap_end - timedelta(hours=h) for h in (2, 1)] + [
        gap_end,
        gap_end + timedelta(hours=1),
    ]
    assert [f.astimezone(zone).hour for f in found] == [0, 1, 3, 4]
    found = fires_until(
        "30 * * * *", zone, gap_end - timedelta(hours=2), gap_end + timedelta(hours=1)
    )
    assert [f.astimezone(zone).strftime("%H:%M") for f in found] == [
        "00:30",
        "01:30",
        "03:00",
        "03:30",
    ]


# Fall back: the repeated hour fires once, on its first pass


def test_new_york_daily_in_the_repeated_hour_fires_on_the_first_pass():
    found = fires("30 1 * * *", NEW_YORK, utc(2026, 10, 31, 12), 2)
    assert found == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]
    assert found[0].astimezone(NEW_YORK).utcoffset() == timedelta(hours=-4)
    assert found[1].astimezone(NEW_YORK).utcoffset() == timedelta(hours=-5)
    # Asked during the second pass (01:30 EST), the day's fire is already behind.
    assert fires("30 1 * * *", NEW_YORK, utc(2026, 11, 1, 6, 15), 1) == [utc(2026, 11, 2, 6, 30)]


def test_paris_daily_in_the_repeated_hour_fires_on_the_first_pass():
    found = fires("30 2 * * *", PARIS, utc(2026, 10, 24, 12), 2)
    assert found == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    assert fires("30 2 * * *", PARIS, utc(2026, 10, 25, 0, 30), 1) == [utc(2026, 10, 26, 1, 30)]


@pytest.mark.parametrize(
    ("zone", "change"), [(PARIS, utc(2026, 10, 25, 1)), (NEW_YORK, utc(2026, 11, 1, 6))]
)
def test_hourly_and_every_15_minutes_skip_the_second_pass(zone, change):
    # `change` is the instant clocks go back; the hour before it repeats in wall time.
    found = fires_until(
        "0 * * * *", zone, change - timedelta(hours=2, seconds=1), change + timedelta(hours=2)
    )
    assert found == [
        change - timedelta(hours=2),
        change - timedelta(hours=1),
        change + timedelta(hours=1),
    ]
    found = fires_until(
        "*/15 * * * *",
        zone,
        change - timedelta(hours=1, seconds=1),
        change + timedelta(hours=1, minutes=1),
    )
    first_pass = [change - timedelta(minutes=m) for m in (60, 45, 30, 15)]
    assert found == [*first_pass, change + timedelta(hours=1)]
    # Asked during the second pass: nothing until the wall clock is past the repeated hour.
    assert fires("*/15 * * * *", zone, change + timedelta(minutes=20), 1) == [
        change + timedelta(hours=1)
    ]


@pytest.mark.parametrize("zone", [PARIS, NEW_YORK, UTC])
def test_a_daily_expression_fires_once_per_local_day_for_a_whole_year(zone):
    for text in ("30 2 * * *", "30 1 * * *", "0 0 * * *", "59 23 * * *"):
        start = datetime(2026, 1, 1, tzinfo=zone).astimezone(UTC) - timedelta(microseconds=1)
        end = datetime(2027, 1, 1, tzinfo=zone).astimezone(UTC)
        found = fires_until(text, zone, start, end)
        local_days = [fire.astimezone(zone).date() for fire in found]
        assert len(found) == 365
        assert local_days == [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
        assert found == sorted(set(found))


def test_the_search_is_bounded():
    cron = CronExpression.parse("0 0 29 2 *")
    with pytest.raises(InvalidOption, match="does not fire in the 5 years after 9997"):
        cron.next_after(datetime(9997, 3, 1, tzinfo=UTC), UTC)
