"""Bad input at the edges: overlong durations, odd names and queues, retry schedules for
any attempt number, errors that cannot describe themselves."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

import durable_celery as dc
from durable_celery.checks import check_name, check_queue, check_text
from durable_celery.engine.outcomes import describe_error
from durable_celery.time import to_timedelta


@pytest.mark.parametrize("backoff", ["exponential", "linear", "constant"])
def test_a_retry_delay_never_overflows_whatever_the_attempt(backoff):
    policy = dc.Retry(max_attempts=100_000, backoff=backoff, jitter=False, max_delay=600)
    for attempt in (1, 47, 48, 1_024, 1_025, 99_999):
        assert timedelta(0) < policy.delay_after(attempt) <= timedelta(seconds=600)
    jittered = dc.Retry(max_attempts=100, base=3)
    assert timedelta(minutes=2.5) <= jittered.delay_after(99) <= timedelta(minutes=5)


@pytest.mark.parametrize("value", [1e15, timedelta.max, 10**20, timedelta(days=40_000)])
def test_overlong_durations_are_invalid_options(value):
    with pytest.raises(dc.InvalidOption, match="at most 36525 days"):
        to_timedelta(value, "delay")


@pytest.mark.parametrize("value", ["a\x00b", "x\ud800", 7])
def test_text_that_postgresql_cannot_store_is_an_invalid_option(value):
    with pytest.raises(dc.InvalidOption):
        check_text(value, "reason")
    with pytest.raises(dc.InvalidOption):
        check_name(value, "event name")


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        ("x" * 256, "at most 255 characters"),
        ("two words", "letters, digits"),
        ("a\x00", "letters, digits"),
        ("\ud800", "letters, digits"),
        ("", "non-empty"),
    ],
)
def test_queue_names_are_checked_like_celery_queue_names(queue, message):
    with pytest.raises(dc.InvalidOption, match=message):
        check_queue(queue)
    assert check_queue("payments.high-priority:eu@v2/x+y") == "payments.high-priority:eu@v2/x+y"
    with pytest.raises(dc.InvalidOption, match="at most 10 characters"):
        check_queue("a" * 11, max_length=10)


def test_an_error_whose_str_raises_is_still_described():
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    error = describe_error(Unprintable(), "charge", 1)
    assert error["message"].endswith("describing it raised RuntimeError>")
    assert error["type"].endswith("Unprintable")


@pytest.mark.parametrize("timeout", [math.nan, -1, math.inf, "30"])
def test_waiting_for_a_result_takes_a_finite_timeout(timeout):
    handle = dc.ExecutionHandle("00000000-0000-4000-8000-000000000000")
    with pytest.raises(dc.InvalidOption, match="timeout must be a finite number"):
        handle.result(timeout=timeout)
