"""Debounce options are checked before anything is written, with exact messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import durable_celery as dc
from durable_celery import StepContext, Workflow, step
from durable_celery.client.start import start_many
from durable_celery.store.starts import NewExecution
from durable_celery.time import seconds


class Debounced(Workflow):
    name = "tests.unit.debounced"

    @step
    def only(ctx: StepContext) -> None: ...


def _new(**options: Any) -> NewExecution:
    return NewExecution.of(Debounced, {"n": 1}, queue="default", **options)


def test_a_debounced_start_is_due_one_window_later_and_never_dispatched_at_once():
    new = _new(debounce=seconds(30), debounce_key="tenant-7", debounce_max=120)
    assert new.debounce_key == "tenant-7"
    assert new.delay_seconds == 30.0
    assert new.debounce_max_seconds == 120.0
    assert new.dispatch_now is False
    assert new.idempotency_key is None and new.run_at is None

    plain = _new()
    assert plain.debounce_key is None and plain.debounce_max_seconds is None
    assert plain.dispatch_now is True
    uncapped = _new(debounce=0.5, debounce_key="k")
    assert uncapped.delay_seconds == 0.5 and uncapped.debounce_max_seconds is None
    # A cap equal to the window is allowed: every start then waits exactly the window.
    assert _new(debounce=5, debounce_key="k", debounce_max=5).debounce_max_seconds == 5.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"debounce": 30}, "debounce needs debounce_key: the starts that collapse share it"),
        ({"debounce_key": "k"}, "debounce_key needs debounce (the window, e.g. seconds(30))"),
        ({"debounce_max": 60}, "debounce_max needs debounce (the window, e.g. seconds(30))"),
        ({"debounce": 0, "debounce_key": "k"}, "debounce must be positive, got 0:00:00"),
        (
            {"debounce": -1, "debounce_key": "k"},
            "debounce must not be negative, got -1 day, 23:59:59",
        ),
        (
            {"debounce": float("nan"), "debounce_key": "k"},
            "debounce must be finite, got nan",
        ),
        (
            {"debounce": "30s", "debounce_key": "k"},
            "debounce must be a timedelta or a number of seconds, got '30s'",
        ),
        (
            {"debounce": 30, "debounce_key": ""},
            "debounce_key must be a non-empty string of at most 255 characters, got ''",
        ),
        (
            {"debounce": 30, "debounce_key": 7},
            "debounce_key must be a non-empty string of at most 255 characters, got 7",
        ),
        (
            {"debounce": 30, "debounce_key": "k" * 256},
            "debounce_key must be a non-empty string of at most 255 characters",
        ),
        (
            {"debounce": 30, "debounce_key": "a\x00b"},
            "debounce_key contains a NUL character or a lone surrogate",
        ),
        (
            {"debounce": 30, "debounce_key": "k", "idempotency_key": "i"},
            "give either debounce or idempotency_key, not both: a debounced start already "
            "returns the execution of its window",
        ),
        (
            {"debounce": 30, "debounce_key": "k", "delay": 5},
            "give either debounce or delay/run_at, not both: a debounced execution runs "
            "debounce after the last start",
        ),
        (
            {"debounce": 30, "debounce_key": "k", "run_at": datetime.now(UTC)},
            "give either debounce or delay/run_at, not both",
        ),
        (
            {"debounce": 30, "debounce_key": "k", "debounce_max": 10},
            "debounce_max must be at least debounce (0:00:30), got 0:00:10",
        ),
        (
            {"debounce": 30, "debounce_key": "k", "debounce_max": timedelta(days=-1)},
            "debounce_max must not be negative",
        ),
    ],
)
def test_bad_debounce_options_are_invalid_options(options, message):
    with pytest.raises(dc.InvalidOption, match=f"^{re.escape(message)}"):
        _new(**options)


@pytest.mark.parametrize(
    "options", [{"debounce": 30, "debounce_key": "k"}, {"debounce_key": "k"}, {"debounce": 30}]
)
def test_start_many_refuses_debounce_before_anything_else(options):
    message = "start_many does not debounce: start each input with start(..., debounce=...)"
    with pytest.raises(dc.InvalidOption, match=f"^{re.escape(message)}$"):
        start_many("tests.unit.debounced", [{}, {}], **options)
    with pytest.raises(dc.InvalidOption, match=f"^{re.escape(message)}$"):
        Debounced.start_many([{}], **options)
