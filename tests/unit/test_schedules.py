"""Schedules without a database: declarations, intervals, and which fire times start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab

from durable_celery.dsl import Workflow, step
from durable_celery.dsl.schedules import (
    Cron,
    Every,
    IntervalTrigger,
    declared_schedules,
    schedule_spec,
    trigger_of,
)
from durable_celery.engine.firing import plan_fires
from durable_celery.engine.schedules import fire_key
from durable_celery.errors import InvalidOption, WorkflowDefinitionError
from durable_celery.states import MisfirePolicy, OverlapPolicy, TriggerKind
from durable_celery.time import minutes, seconds


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def every(interval: timedelta) -> IntervalTrigger:
    return IntervalTrigger(interval)


# --- intervals ---------------------------------------------------------------------------


def test_an_interval_fires_on_multiples_of_itself_from_the_epoch():
    quarter = every(minutes(15))
    assert quarter.next_after(at("2026-11-26 10:07:31")) == at("2026-11-26 10:15:00")
    assert quarter.next_after(at("2026-11-26 10:15:00")) == at("2026-11-26 10:30:00")
    assert every(seconds(5)).next_after(at("2026-11-26 10:00:04.999")) == at("2026-11-26 10:00:05")


def test_an_interval_is_stored_as_whole_seconds_and_rebuilt_from_them():
    trigger = every(minutes(15))
    assert (trigger.kind, trigger.expression, trigger.timezone) == (TriggerKind.EVERY, "900", "UTC")
    assert trigger_of("every", "900").next_after(at("2026-01-01 00:00:01")) == at(
        "2026-01-01 00:15:00"
    )


def test_intervals_under_a_second_are_refused():
    with pytest.raises(InvalidOption, match="at least 1 second"):
        Every(0.5)
    with pytest.raises(InvalidOption, match="schedule interval must be a timedelta"):
        Every("5 minutes")  # type: ignore[arg-type]


# --- declaring ---------------------------------------------------------------------------


def test_a_single_declared_schedule_is_keyed_by_its_workflow():
    class Nightly(Workflow):
        name = "unit.sched.nightly"
        schedule = Cron("0 3 * * *", timezone="Europe/Paris", input={"kind": "daily"})

        @step
        def report(ctx):
            return None

    (spec,) = Nightly.__schedules__
    assert spec.key == "unit.sched.nightly"
    assert spec.options.input == {"kind": "daily"}
    assert spec.trigger.timezone == "Europe/Paris"
    # 03:00 in Paris is 02:00 UTC in winter.
    assert spec.next_after(at("2026-11-26 12:00")) == at("2026-11-27 02:00")


def test_several_schedules_need_keys_and_a_subclass_does_not_inherit_them():
    class Twice(Workflow):
        name = "unit.sched.twice"
        schedule = [Cron("0 9 * * 1-5", key="weekdays"), Every(minutes(30), key="half-hourly")]

        @step
        def run(ctx):
            return None

    class Child(Twice):
        name = "unit.sched.child"

    assert [spec.key for spec in Twice.__schedules__] == ["weekdays", "half-hourly"]
    assert Child.__schedules__ == ()

    with pytest.raises(WorkflowDefinitionError, match="give each a key"):
        declared_schedules("w", [Cron("0 9 * * *"), Every(60)])
    with pytest.raises(WorkflowDefinitionError, match="two schedules have the key 'a'"):
        declared_schedules("w", [Cron("0 9 * * *", key="a"), Every(60, key="a")])
    with pytest.raises(WorkflowDefinitionError, match="must be a Cron"):
        declared_schedules("w", "0 9 * * *")


def test_celery_crontab_is_accepted_where_a_cron_string_is():
    from_celery = Cron(crontab(minute=0, hour=3))
    assert from_celery.trigger.expression == Cron("0 3 * * *").trigger.expression
    spec = schedule_spec("k", "w", crontab(minute="*/15"))
    assert spec.trigger.expression == "*/15 * * * *"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Cron("61 * * * *"), "minute 61 is out of range"),
        (lambda: Cron("0 3 * * *", timezone="Europe/Pariss"), "unknown time zone 'Europe/Pariss'"),
        (lambda: Cron("0 3 * * *", overlap="never"), "overlap must be one of 'allow', 'skip'"),
        (lambda: Cron("0 3 * * *", misfire="later"), "misfire must be one of 'coalesce'"),
        (lambda: Every(60, catch_up_limit=0), "catch_up_limit must be an int from 1 to 1000"),
        (lambda: Every(60, input=[1]), "schedule input must be a dict, got list"),
        (lambda: Every(60, input={"x": float("nan")}), "schedule input is not JSON"),
        (lambda: Every(60, key=""), "schedule key must be a non-empty string"),
        (lambda: Every(60, queue="no spaces"), "queue may contain letters"),
        (lambda: Every(60, misfire_grace=-1), "misfire_grace"),
        (lambda: Every(60, surprise=True), "unexpected keyword argument 'surprise'"),
    ],
)
def test_bad_declarations_fail_where_they_are_written(build, message):
    with pytest.raises((InvalidOption, TypeError), match=message):
        build()


def test_run_time_schedules_take_strings_crontabs_intervals_and_declarations():
    by_string = schedule_spec("k", "w", "30 1 * * *", timezone="America/New_York")
    assert (by_string.trigger.expression, by_string.trigger.timezone) == (
        "30 1 * * *",
        "America/New_York",
    )
    by_interval = schedule_spec("k", "w", timedelta(minutes=5), overlap="skip")
    assert by_interval.trigger.expression == "300"
    assert by_interval.options.overlap is OverlapPolicy.SKIP
    declared = schedule_spec("k", "w", Every(60, input={"a": 1}), misfire="skip")
    assert declared.options.input == {"a": 1} and declared.options.misfire is MisfirePolicy.SKIP
    with pytest.raises(InvalidOption, match="takes no time zone"):
        schedule_spec("k", "w", timedelta(minutes=5), timezone="UTC")
    with pytest.raises(InvalidOption, match="give the time zone to Cron"):
        schedule_spec("k", "w", Cron("* * * * *"), timezone="UTC")


def test_the_idempotency_key_of_a_fire_names_the_schedule_and_the_utc_fire_time():
    paris = datetime.fromisoformat("2026-11-27T03:00:00+01:00")
    assert fire_key("nightly", paris) == "schedule:nightly:2026-11-27T02:00:00+00:00"


# --- which fire times start ----------------------------------------------------------------

MINUTE = every(timedelta(minutes=1))
GRACE = timedelta(seconds=15)


def plan(policy: MisfirePolicy, next_fire: str, now: str, limit: int = 10):  # type: ignore[no-untyped-def]
    return plan_fires(MINUTE, at(next_fire), at(now), policy, GRACE, limit)


@pytest.mark.parametrize("policy", list(MisfirePolicy))
def test_a_fire_reached_in_time_always_starts(policy):
    fired = plan(policy, "2026-01-01 10:00", "2026-01-01 10:00:02")
    assert fired.fires == (at("2026-01-01 10:00"),)
    assert fired.missed == 0
    assert fired.next_fire_at == at("2026-01-01 10:01")


def test_nothing_is_due_before_the_fire_time():
    fired = plan(MisfirePolicy.CATCH_UP, "2026-01-01 10:00", "2026-01-01 09:59:59")
    assert (fired.fires, fired.missed, fired.next_fire_at) == ((), 0, at("2026-01-01 10:00"))


def test_three_fire_times_missed_coalesce_to_one_skip_to_none_catch_up_to_three():
    # Beats were down from 10:00 to 10:02:40: 10:00, 10:01 and 10:02 were missed.
    now = "2026-01-01 10:02:40"
    coalesce = plan(MisfirePolicy.COALESCE, "2026-01-01 10:00", now)
    skip = plan(MisfirePolicy.SKIP, "2026-01-01 10:00", now)
    catch_up = plan(MisfirePolicy.CATCH_UP, "2026-01-01 10:00", now)
    assert coalesce.fires == (at("2026-01-01 10:02"),) and coalesce.missed == 2
    assert skip.fires == () and skip.missed == 3
    assert catch_up.fires == tuple(at(f"2026-01-01 10:0{m}") for m in range(3))
    assert {coalesce.next_fire_at, skip.next_fire_at, catch_up.next_fire_at} == {
        at("2026-01-01 10:03")
    }


def test_an_on_time_fire_covers_the_missed_ones_when_coalescing():
    fired = plan(MisfirePolicy.COALESCE, "2026-01-01 10:00", "2026-01-01 10:03:05")
    assert fired.fires == (at("2026-01-01 10:03"),)
    assert fired.missed == 3


def test_catch_up_starts_the_latest_missed_fires_up_to_its_limit():
    fired = plan(MisfirePolicy.CATCH_UP, "2026-01-01 10:00", "2026-01-01 11:00:05", limit=5)
    assert fired.fires == (
        *tuple(at(f"2026-01-01 10:{m}") for m in range(55, 60)),
        at("2026-01-01 11:00"),
    )
    assert fired.missed == 61 - 6


def test_a_months_long_outage_on_a_per_second_schedule_is_planned_quickly():
    per_second = every(timedelta(seconds=1))
    fired = plan_fires(
        per_second,
        at("2026-01-01 00:00"),
        at("2026-03-01 00:00"),
        MisfirePolicy.COALESCE,
        GRACE,
        10,
    )
    assert fired.next_fire_at == at("2026-03-01 00:00:01")
    assert fired.fires and fired.fires[-1] > at("2026-02-28 23:59:44")
    assert fired.missed > 100_000


def test_schedule_keys_are_unique_across_workflows():
    class First(Workflow):
        name = "unit.sched.first"
        schedule = Every(minutes(5), key="unit-shared-key")

        @step
        def run(ctx):
            return None

    with pytest.raises(WorkflowDefinitionError, match=r"already declared by workflow 'unit\.sched"):

        class Second(Workflow):
            name = "unit.sched.second"
            schedule = Every(minutes(10), key="unit-shared-key")

            @step
            def run(ctx):
                return None

    assert First.__schedules__[0].key == "unit-shared-key"


@pytest.mark.parametrize("option", ["schedule", "version", "queue", "timeout"])
def test_a_step_cannot_take_the_name_of_a_workflow_option(option):
    body = {option: step(lambda ctx: None), "first": step(lambda ctx: None)}
    with pytest.raises(WorkflowDefinitionError, match=f"a step cannot be named '{option}'"):
        type("Clash", (Workflow,), body)


def test_a_misfire_grace_under_a_second_would_miss_every_fire():
    with pytest.raises(InvalidOption, match="misfire_grace must be at least 1 second"):
        Every(60, misfire_grace=0)
