"""Scheduled workflows on real beats, workers and PostgreSQL: one execution per fire time
from any number of beats, misfire and overlap policies, and the run-time API.

These tests use a database and a broker database of their own, so their schedules never
reach the session's workers (whose beat would fire them too).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.cli import main
from durable_celery.config import Settings
from durable_celery.dsl.schedules import Every
from durable_celery.engine.schedules import fire_due
from durable_celery.errors import ExecutionStateError, InvalidOption, ScheduleNotFound
from durable_celery.runtime import Runtime, bundled_app
from durable_celery.states import MisfirePolicy, OverlapPolicy
from durable_celery.store import schedules as stored
from durable_celery.store.connections import dispose_engines, transaction
from durable_celery.testing import BeatProcess, WorkerProcess, wait_until
from durable_celery.time import seconds
from tests.integration.conftest import ROOT, RUN, clone_database, drop_database, servers

SCHED_DB = f"durable_sched_{RUN}"
BROKER_DB = 5
# The bar is three minutes (DURABLE_SCHEDULE_BAR_SECONDS=180); the suite runs a shorter one.
BAR_SECONDS = float(os.environ.get("DURABLE_SCHEDULE_BAR_SECONDS", "30"))


@dataclass
class Scheduling:
    url: str
    runtime: Runtime

    def env(self, modules: str = "tests.integration.flows_schedules") -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DURABLE_DATABASE_URL=self.url,
            CELERY_BROKER_URL=servers().redis.url(BROKER_DB),
            DURABLE_WORKFLOW_MODULES=modules,
            DURABLE_POLL_INTERVAL="0.5",
        )
        return env

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.runtime.database.connect() as conn:
            return list(conn.execute(text(sql), params))

    def fires(self, key: str) -> list[datetime]:
        rows = self.query(
            "SELECT scheduled_at FROM workflow_executions WHERE schedule_key = :key "
            "ORDER BY scheduled_at",
            key=key,
        )
        return [row.scheduled_at for row in rows]

    def reset(self) -> None:
        self.query("SELECT 1")
        with self.runtime.database.begin() as conn:
            conn.execute(text("DELETE FROM scheduled_workflows"))
            conn.execute(text("DELETE FROM workflow_executions"))


@pytest.fixture(scope="module")
def sched(session_database: str) -> Iterator[Scheduling]:
    url = clone_database(SCHED_DB)
    app = bundled_app()
    app.conf.broker_url = servers().redis.url(BROKER_DB)
    runtime = Runtime(
        app, Settings(database_url=url, workflow_modules=("tests.integration.flows_schedules",))
    )
    yield Scheduling(url, runtime)
    dispose_engines()
    drop_database(SCHED_DB)


@pytest.fixture()
def clean(sched: Scheduling) -> Scheduling:
    sched.reset()
    return sched


@pytest.fixture(scope="module")
def sched_worker(sched: Scheduling) -> Iterator[WorkerProcess]:
    with WorkerProcess(
        queues=["default"], concurrency=2, env=sched.env(), cwd=ROOT, name="sched"
    ) as worker:
        yield worker


def now() -> datetime:
    return datetime.now(UTC)


def wait_for_clock(moment: datetime) -> None:
    """The tests below are about wall-clock fire times: waiting for one is the point."""
    delay = (moment - now()).total_seconds()
    if delay > 0:
        time.sleep(delay)


def live_count(sched: Scheduling) -> int:
    rows = sched.query(
        "SELECT count(*) AS n FROM workflow_executions "
        "WHERE status IN ('pending', 'running', 'waiting')"
    )
    return int(rows[0].n)


# --- the bars ----------------------------------------------------------------------------


@pytest.mark.timeout(BAR_SECONDS + 240)
def test_five_beats_fire_every_fire_time_exactly_once(clean: Scheduling) -> None:
    env = clean.env("tests.integration.scheduled_flows")
    workers = [
        WorkerProcess(queues=["default"], concurrency=2, env=env, cwd=ROOT, name=f"bar-w{i}")
        for i in range(2)
    ]
    beats = [BeatProcess(env=env, cwd=ROOT, name=f"bar-b{i}") for i in range(5)]
    began = now()
    try:
        for process in [*workers, *beats]:
            process.start()
        assert wait_until(lambda: len(clean.query("SELECT key FROM scheduled_workflows")) == 2, 30)
        wait_for_clock(began + timedelta(seconds=BAR_SECONDS))
        for beat in beats:
            beat.stop()
        stopped = now()
        assert wait_until(lambda: live_count(clean) == 0, 60), workers[0].log_tail()
    finally:
        for process in [*beats, *workers]:
            process.stop()

    declared = clean.query("SELECT key, origin, status FROM scheduled_workflows ORDER BY key")
    assert [(r.key, r.origin, r.status) for r in declared] == [
        ("sched.every_5s", "code", "active"),
        ("sched.every_minute", "code", "active"),
    ]
    for key, interval in (("sched.every_5s", 5), ("sched.every_minute", 60)):
        fires = clean.fires(key)
        if interval > BAR_SECONDS - 10 and not fires:
            continue  # the suite's short run may end before the next whole minute
        assert fires, f"{key} never fired"
        assert len(fires) == len(set(fires)), f"{key} fired twice for one fire time"
        gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(fires)}
        assert gaps <= {float(interval)}, f"{key} missed a fire time: gaps {sorted(gaps)}"
        # From the first fire time after the beats started to the last before they stopped.
        assert fires[0] - began <= timedelta(seconds=interval + 10)
        assert stopped - fires[-1] <= timedelta(seconds=interval + 2)
        print(f"{key}: {len(fires)} fire times, one execution each, from {fires[0]} to {fires[-1]}")
    statuses = clean.query("SELECT DISTINCT status FROM workflow_executions")
    assert [row.status for row in statuses] == ["completed"]
    # Each run knows the fire time it was started for, not when it started.
    for row in clean.query("SELECT scheduled_at, schedule_key, result FROM workflow_executions"):
        assert row.result["schedule_key"] == row.schedule_key
        assert datetime.fromisoformat(row.result["scheduled_at"]) == row.scheduled_at


def test_after_three_missed_fires_coalesce_runs_once_skip_never_catch_up_three_times(
    clean: Scheduling, sched_worker: WorkerProcess
) -> None:
    for policy in ("coalesce", "skip", "catch_up"):
        dc.schedule(
            f"missed-{policy}",
            "sched.stamp",
            timedelta(seconds=10),
            input={"policy": policy},
            misfire=policy,
            misfire_grace=seconds(1),
            runtime=clean.runtime,
        )
    first = dc.get_schedule("missed-skip", runtime=clean.runtime).next_fire_at
    missed = [first + timedelta(seconds=10 * n) for n in range(3)]
    # No beat runs while these three fire times pass; one starts just after the third.
    wait_for_clock(missed[-1] + timedelta(seconds=1.5))
    with BeatProcess(env=clean.env(), cwd=ROOT, name="misfire-beat"):
        assert wait_until(
            lambda: all(
                schedule.next_fire_at > missed[-1]
                for schedule in dc.list_schedules(runtime=clean.runtime)
            ),
            15,
        )
    assert clean.fires("missed-coalesce") == [missed[-1]]
    assert clean.fires("missed-skip") == []
    assert clean.fires("missed-catch_up") == missed
    for schedule in dc.list_schedules(runtime=clean.runtime):
        assert schedule.next_fire_at == missed[-1] + timedelta(seconds=10)
    assert wait_until(lambda: live_count(clean) == 0, 30)


def test_overlap_skip_never_runs_two_at_once(clean: Scheduling, sched_worker) -> None:
    dc.schedule(
        "slow-skip",
        "sched.slow",
        timedelta(seconds=1),
        input={"seconds": 2.5},
        overlap="skip",
        runtime=clean.runtime,
    )
    with BeatProcess(env=clean.env(), cwd=ROOT, name="overlap-beat"):
        assert wait_until(lambda: len(clean.fires("slow-skip")) >= 3, 30)
        dc.pause_schedule("slow-skip", runtime=clean.runtime)
    assert wait_until(lambda: live_count(clean) == 0, 30)
    runs = clean.query(
        "SELECT created_at, completed_at, status FROM workflow_executions "
        "WHERE schedule_key = 'slow-skip' ORDER BY created_at"
    )
    assert {run.status for run in runs} == {"completed"}
    for earlier, later in itertools.pairwise(runs):
        assert later.created_at >= earlier.completed_at, "two runs of the schedule overlapped"
    # Fires came every second, runs every 2.5 s or more: the skipped fires started nothing.
    fires = clean.fires("slow-skip")
    assert min(b - a for a, b in itertools.pairwise(fires)) >= timedelta(seconds=2)


def test_overlap_cancel_previous_cancels_the_live_run(clean: Scheduling, sched_worker) -> None:
    dc.schedule(
        "sleepy",
        "sched.sleeper",
        timedelta(seconds=1),
        overlap="cancel_previous",
        runtime=clean.runtime,
    )
    with BeatProcess(env=clean.env(), cwd=ROOT, name="cancel-beat"):
        assert wait_until(lambda: len(clean.fires("sleepy")) >= 3, 30)
        dc.pause_schedule("sleepy", runtime=clean.runtime)
    runs = clean.query(
        "SELECT status, error FROM workflow_executions WHERE schedule_key = 'sleepy' "
        "ORDER BY scheduled_at"
    )
    *earlier, newest = runs
    assert {run.status for run in earlier} == {"cancelled"}
    assert all("overlap='cancel_previous'" in run.error["message"] for run in earlier)
    assert newest.status in ("pending", "running", "waiting")


# --- exactly once without beats: the sweep itself, from many threads -----------------------


def test_concurrent_sweeps_start_one_execution_per_fire_time(clean: Scheduling) -> None:
    dc.schedule("busy", "sched.stamp", timedelta(seconds=1), runtime=clean.runtime)
    with transaction(clean.runtime.database) as conn:
        conn.execute(
            text(
                "UPDATE scheduled_workflows "
                "SET next_fire_at = date_trunc('second', now()) - interval '30 seconds', "
                "misfire = 'catch_up', catch_up_limit = 1000, misfire_grace = 60"
            )
        )
    errors: list[BaseException] = []
    stop = time.monotonic() + 4

    def sweep() -> None:
        try:
            while time.monotonic() < stop:
                fire_due(clean.runtime, 50)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    fires = clean.fires("busy")
    assert len(fires) >= 33
    assert len(fires) == len(set(fires))
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(fires))


# --- the run-time API ---------------------------------------------------------------------


def test_schedules_are_listed_paused_resumed_triggered_and_deleted(clean: Scheduling) -> None:
    rt = clean.runtime
    created = dc.schedule(
        "nightly-report",
        "sched.stamp",
        "0 3 * * *",
        timezone="Europe/Paris",
        input={"kind": "daily"},
        runtime=rt,
    )
    assert created.origin == "api" and created.status == "active"
    assert created.next_fire_at.astimezone(UTC).hour in (1, 2)  # 03:00 in Paris
    assert [s.key for s in dc.list_schedules(runtime=rt)] == ["nightly-report"]

    paused = dc.pause_schedule("nightly-report", runtime=rt)
    assert paused.status == "paused"
    assert dc.list_schedules(status="paused", runtime=rt)[0].key == "nightly-report"
    resumed = dc.resume_schedule("nightly-report", runtime=rt)
    assert resumed.status == "active" and resumed.next_fire_at > now()

    handle = dc.trigger_schedule("nightly-report", runtime=rt)
    execution = dc.get_execution(handle.id, runtime=rt)
    assert execution.schedule_key == "nightly-report"
    assert execution.input == {"kind": "daily"}
    assert execution.scheduled_at is not None
    assert dc.get_schedule("nightly-report", runtime=rt).next_fire_at == resumed.next_fire_at

    changed = dc.schedule("nightly-report", "sched.stamp", "0 4 * * *", runtime=rt)
    assert changed.expression == "0 4 * * *" and changed.timezone == "UTC"
    assert changed.next_fire_at.hour == 4

    dc.delete_schedule("nightly-report", runtime=rt)
    assert dc.list_schedules(runtime=rt) == []
    with pytest.raises(ScheduleNotFound, match="nightly-report"):
        dc.pause_schedule("nightly-report", runtime=rt)
    # The executions it started are kept.
    assert dc.get_execution(handle.id, runtime=rt).schedule_key == "nightly-report"


def test_trigger_respects_overlap_skip(clean: Scheduling) -> None:
    rt = clean.runtime
    dc.schedule("one-at-a-time", "sched.sleeper", "0 0 1 1 *", overlap="skip", runtime=rt)
    first = dc.trigger_schedule("one-at-a-time", runtime=rt)
    with pytest.raises(ExecutionStateError, match="overlap policy is 'skip'"):
        dc.trigger_schedule("one-at-a-time", runtime=rt)
    assert [e.id for e in dc.list_executions(runtime=rt)] == [first.id]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (("k", "sched.stamp", "61 * * * *"), InvalidOption, "minute 61 is out of range"),
        # An unknown workflow is bad input like the others: UnknownWorkflow is an InvalidOption.
        (("k", "sched.nope", "* * * * *"), InvalidOption, "no workflow is registered as"),
        (("k", "sched.stamp", "* * * * *", {"timezone": "Mars/Olympus"}), InvalidOption, "Mars"),
        (("k", "sched.stamp", "* * * * *", {"overlap": "sometimes"}), InvalidOption, "overlap"),
        (("k", "sched.stamp", "* * * * *", {"misfire": "later"}), InvalidOption, "misfire"),
        (("k", "sched.stamp", "* * * * *", {"input": "x"}), InvalidOption, "must be a dict"),
        (("", "sched.stamp", "* * * * *"), InvalidOption, "schedule key"),
        (("k", "sched.stamp", timedelta(milliseconds=10)), InvalidOption, "at least 1 second"),
    ],
)
def test_bad_schedules_are_refused_and_write_nothing(clean: Scheduling, arguments, error, message):
    key, workflow, cron, *options = arguments
    with pytest.raises(error, match=message):
        dc.schedule(key, workflow, cron, runtime=clean.runtime, **(options[0] if options else {}))
    assert clean.query("SELECT key FROM scheduled_workflows") == []


def test_declared_schedules_are_upserted_disabled_when_gone_and_keep_a_pause(
    clean: Scheduling,
) -> None:
    rt = clean.runtime
    morning = Every(seconds(60), key="a").trigger
    evening = Every(seconds(120), key="b").trigger

    def row(key: str, trigger: Any, fire: datetime) -> stored.ScheduleRow:
        return stored.ScheduleRow(
            key=key,
            workflow="sched.stamp",
            trigger_kind=trigger.kind,
            expression=trigger.expression,
            timezone="UTC",
            input={},
            queue=None,
            overlap=OverlapPolicy.ALLOW,
            misfire=MisfirePolicy.COALESCE,
            misfire_grace=15.0,
            catch_up_limit=10,
            next_fire_at=fire,
        )

    soon, later = now() + timedelta(minutes=1), now() + timedelta(hours=1)
    WF = ["sched.stamp"]
    with transaction(rt.database) as conn:
        stored.declare(conn, [row("a", morning, soon), row("b", evening, soon)], WF, rt.codec)
    dc.pause_schedule("a", runtime=rt)
    # Beat starts again with the same code: the pause and the next fire time survive.
    with transaction(rt.database) as conn:
        stored.declare(conn, [row("a", morning, later), row("b", evening, later)], WF, rt.codec)
    assert dc.get_schedule("a", runtime=rt).status == "paused"
    assert dc.get_schedule("b", runtime=rt).next_fire_at == soon
    # A deploy without "b": disabled, not deleted, never fired; the API cannot take over "a".
    with transaction(rt.database) as conn:
        # A process that knows nothing of the workflow leaves its schedules alone.
        assert stored.declare(conn, [], [], rt.codec) == ([], [])
        _, disabled = stored.declare(conn, [row("a", morning, later)], WF, rt.codec)
    assert disabled == ["b"]
    assert dc.get_schedule("b", runtime=rt).status == "disabled"
    with pytest.raises(InvalidOption, match=r"declared in the code of workflow 'sched\.stamp'"):
        dc.schedule("a", "sched.stamp", timedelta(minutes=5), runtime=rt)
    with pytest.raises(InvalidOption, match="remove it there"):
        dc.delete_schedule("a", runtime=rt)
    # "b" comes back with the code, counting from now.
    with transaction(rt.database) as conn:
        stored.declare(conn, [row("a", morning, later), row("b", evening, later)], WF, rt.codec)
    assert dc.get_schedule("b", runtime=rt).status == "active"
    assert dc.get_schedule("b", runtime=rt).next_fire_at == later


def test_beat_start_up_stores_the_declared_schedules(clean: Scheduling) -> None:
    env = clean.env("tests.integration.scheduled_flows")
    with BeatProcess(env=env, cwd=ROOT, name="sync-beat", loglevel="info") as beat:
        assert wait_until(
            lambda: len(clean.query("SELECT key FROM scheduled_workflows")) == 2, 30
        ), beat.log_tail()
        assert wait_until(lambda: "schedule sched.every_minute: declared" in beat.log_tail(200), 10)
    minute = dc.get_schedule("sched.every_minute", runtime=clean.runtime)
    assert (minute.expression, minute.timezone, minute.origin) == (
        "* * * * *",
        "Europe/Paris",
        "code",
    )
    assert minute.next_fire_at.second == 0 and minute.next_fire_at > now() - timedelta(minutes=1)


def test_the_command_line_lists_schedules_with_next_fire_times_and_steers_them(
    clean: Scheduling, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*arguments: str) -> tuple[int, str]:
        code = main(["--database-url", clean.url, "schedules", *arguments])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    dc.schedule(
        "paris-morning", "sched.stamp", "0 9 * * *", timezone="Europe/Paris", runtime=clean.runtime
    )
    code, out = cli("list")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["KEY", "WORKFLOW", "WHEN", "STATUS"]
    assert "paris-morning" in row and "0 9 * * * (Europe/Paris)" in row
    next_fire = dc.get_schedule("paris-morning", runtime=clean.runtime).next_fire_at
    local = next_fire.astimezone(ZoneInfo("Europe/Paris"))
    assert local.strftime("%Y-%m-%d 09:00:00 CE") in row  # CET or CEST
    code, out = cli("list", "--json")
    assert json.loads(out)[0]["next_fire_at"] == next_fire.isoformat()

    assert cli("pause", "paris-morning") == (0, "paris-morning: paused\n")
    code, out = cli("resume", "paris-morning")
    assert code == 0 and out.startswith("paris-morning: active, next fire at ")
    code, out = cli("trigger", "paris-morning")
    assert code == 0 and "started execution" in out
    assert cli("delete", "paris-morning") == (0, "paris-morning: deleted\n")
    code, out = cli("pause", "paris-morning")
    assert code == 2 and "error: no schedule with key 'paris-morning'" in out


def test_a_schedule_that_cannot_fire_records_why_and_never_stops_the_others(
    clean: Scheduling,
) -> None:
    rt = clean.runtime
    for key in ("healthy", "gone-workflow", "unknown-zone"):
        dc.schedule(key, "sched.stamp", timedelta(seconds=10), runtime=rt)
    while time.time() % 10 > 7:  # not so near the grid's next point that it comes due too
        time.sleep(0.1)
    with transaction(rt.database) as conn:
        # What a deploy can leave behind: a workflow that no longer exists, and a zone
        # this host's time zone database does not know.
        for statement in (
            "UPDATE scheduled_workflows SET workflow = 'sched.gone' WHERE key = 'gone-workflow'",
            "UPDATE scheduled_workflows SET trigger_kind = 'cron', expression = '* * * * *', "
            "timezone = 'Mars/Olympus_Mons' WHERE key = 'unknown-zone'",
            # Due now, on the 10-second grid of `healthy` (whose next fire is then in
            # the future: it fires exactly once).
            "UPDATE scheduled_workflows "
            "SET next_fire_at = to_timestamp(floor(extract(epoch FROM now()) / 10) * 10)",
        ):
            conn.execute(text(statement))
    fired = fire_due(rt, 10)
    assert len(fired.started) == 1
    found = {s.key: s for s in dc.list_schedules(runtime=rt)}
    assert found["healthy"].last_error is None
    assert found["healthy"].last_execution_id == fired.started[0]
    assert "no workflow is registered as 'sched.gone'" in found["gone-workflow"].last_error
    assert "unknown time zone 'Mars/Olympus_Mons'" in found["unknown-zone"].last_error
    # Each moved on: the next poll does not stumble on them again at once.
    for schedule in found.values():
        assert schedule.next_fire_at > now()
    assert fire_due(rt, 10).started == []
    assert clean.fires("gone-workflow") == [] and clean.fires("unknown-zone") == []
