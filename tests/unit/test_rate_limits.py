"""Rate limits: parsing and validation at declaration (exact messages), the sliding
window's arithmetic, and the window key."""

from __future__ import annotations

import pytest

from durable_celery import RateLimit, StepContext, Workflow, WorkflowDefinitionError, step
from durable_celery.dsl.flow import MAX_RATE_LIMIT, next_free_in
from durable_celery.errors import InvalidOption


@pytest.mark.parametrize(
    ("rate", "limit", "period"),
    [("100/m", 100, 60.0), ("20/s", 20, 1.0), ("1/h", 1, 3600.0), (" 5 / s ", 5, 1.0)],
)
def test_rates_parse(rate, limit, period):
    parsed = RateLimit(rate)
    assert (parsed.limit, parsed.period_seconds, parsed.rate) == (limit, period, rate)


@pytest.mark.parametrize("rate", ["", "100", "100/min", "100/d", "/s", "1.5/s", "-1/s", "s/100"])
def test_malformed_rates_are_refused(rate):
    with pytest.raises(WorkflowDefinitionError) as error:
        RateLimit(rate)
    assert str(error.value) == (
        f"RateLimit({rate!r}): expected 'N/s', 'N/m' or 'N/h' (N starts per second, "
        f"minute or hour), e.g. '100/m'"
    )


@pytest.mark.parametrize("rate", ["0/s", f"{MAX_RATE_LIMIT + 1}/h"])
def test_rates_out_of_range_are_refused(rate):
    with pytest.raises(WorkflowDefinitionError) as error:
        RateLimit(rate)
    n = int(rate.split("/")[0])
    assert str(error.value) == (
        f"RateLimit({rate!r}): N must be between 1 and {MAX_RATE_LIMIT}, got {n}"
    )


def test_a_rate_must_be_a_string():
    with pytest.raises(WorkflowDefinitionError) as error:
        RateLimit(100)  # type: ignore[arg-type]
    assert str(error.value) == "RateLimit(rate) must be a string like '100/m', got 100"


def test_the_key_must_be_callable():
    with pytest.raises(WorkflowDefinitionError) as error:
        RateLimit("1/s", key="api")  # type: ignore[arg-type]
    assert str(error.value) == (
        "RateLimit(key=...) must be a function of the step context "
        "(lambda ctx: ctx.input[...]), got str"
    )


def test_a_step_rate_limit_must_be_a_rate_limit():
    with pytest.raises(WorkflowDefinitionError) as error:

        class Wrong(Workflow):
            name = "tests.rates.wrong"

            @step(rate_limit="10/s")  # type: ignore[arg-type]
            def call(ctx: StepContext) -> None: ...

    assert str(error.value) == (
        "workflow 'tests.rates.wrong', step 'call': rate_limit must be a "
        "RateLimit('N/s|m|h', key=...), got '10/s'"
    )


def test_window_keys_are_shared_by_key_and_per_step_without_one():
    keyed = RateLimit("5/s", key=lambda ctx: ctx.input["api"])
    assert keyed.window_key("wf", "call", {"api": "maps"}) == "rate:maps"
    assert RateLimit("5/s").window_key("wf", "call", {}) == "wf.call"
    with pytest.raises(InvalidOption) as error:
        keyed.window_key("wf", "call", {})
    assert str(error.value) == (
        "workflow 'wf': the rate limit key function failed on this input: KeyError: 'api'"
    )


def test_a_window_with_room_frees_now():
    assert next_free_in([], now=100.0, limit=3, period=1.0) == 0.0
    assert next_free_in([99.5, 99.8], now=100.0, limit=3, period=1.0) == 0.0


def test_a_full_window_frees_when_its_oldest_start_leaves_it():
    starts = [99.5, 99.25, 99.75]
    assert next_free_in(starts, now=100.0, limit=3, period=1.0) == pytest.approx(0.25)


def test_starts_older_than_the_period_do_not_count():
    assert next_free_in([98.0, 98.9, 99.5], now=100.0, limit=2, period=1.0) == 0.0


def test_a_window_over_its_limit_frees_when_enough_starts_left():
    # Five starts in the window under a limit of three (the limit was lowered): room
    # comes back when the three oldest have left.
    starts = [99.1, 99.2, 99.3, 99.4, 99.5]
    assert next_free_in(starts, now=100.0, limit=3, period=1.0) == pytest.approx(0.3)
