"""Query filters, counts, children, the workflow list, cleanup, and the command line's
start / status / cleanup / list / show / workflows."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import create_engine, text

import durable_celery as dc
from durable_celery import Workflow, install, step
from durable_celery.cli import main
from durable_celery.cli.broker import message_counts
from durable_celery.client import (
    ScheduleInfo,
    cleanup,
    count_executions,
    list_workflows,
)
from durable_celery.dsl.schedules import Cron, Every
from durable_celery.engine import run_execution
from durable_celery.states import ExecutionStatus
from tests.integration.conftest import ROOT, RUN, clone_database, drop_database

DURABLE_CELERY = Path(sys.executable).parent / "durable-celery"
THIRTY_DAYS = timedelta(days=30)


class Nightly(Workflow):
    """Declared here, not in a module the workers import, so no beat ever syncs its
    schedules: list_workflows reads this process's registry."""

    name = "tests.queries.nightly"
    version = 7
    schedule = [
        Cron("0 3 1 1 *", timezone="Europe/Paris", key="new-year"),
        Every(timedelta(days=7), key="weekly"),
    ]

    @step
    def report(ctx) -> None:
        return None


def unique_queue() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"


def execute(db, statement: str, **params) -> None:
    db.execute(text(statement), params)
    db.commit()


def ids_of(executions) -> set[str]:
    return {execution.id for execution in executions}


# --- filters, counts, children ------------------------------------------------------


@dataclass(frozen=True)
class Family:
    queue: str
    a: str
    b: str
    c: str
    d: str


@pytest.fixture()
def family(runtime, db):
    """On a queue of its own: a top-level pending `a` with two children (`c` compensating,
    `d` pending and created 3 hours ago), and a cancelled top-level `b`."""
    queue = unique_queue()
    a, b, c, d = (dc.start("tests.queries.idle", {"i": i}, queue=queue).id for i in range(4))
    dc.cancel(b)
    execute(
        db,
        "UPDATE workflow_executions SET parent_id = :a WHERE id = ANY(CAST(:ids AS uuid[]))",
        a=a,
        ids=[c, d],
    )
    execute(db, "UPDATE workflow_executions SET compensations = '[]' WHERE id = :id", id=c)
    execute(
        db,
        "UPDATE workflow_executions SET created_at = now() - interval '3 hours' WHERE id = :id",
        id=d,
    )
    return Family(queue, a, b, c, d)


def test_list_filters_by_statuses_time_parent_and_id_prefix(family):
    queue, a, b, c, d = family.queue, family.a, family.b, family.c, family.d
    now = datetime.now(UTC)

    def listed(**filters) -> set[str]:
        return ids_of(dc.list_executions(queue=queue, **filters))

    assert [e.id for e in dc.list_executions(queue=queue)][-1] == d  # newest first
    assert listed(status="pending") == {a, d}  # a saga's compensating run is left out
    assert listed(status=["cancelled", "compensating"]) == {b, c}
    assert listed(status=("pending", ExecutionStatus.CANCELLED)) == {a, b, d}
    assert listed(since=now - timedelta(hours=2)) == {a, b, c}
    assert listed(until=now - timedelta(hours=2)) == {d}
    assert listed(since=now - timedelta(hours=4), until=now - timedelta(hours=2)) == {d}
    assert listed(parent_id=a) == {c, d}
    assert listed(parent_id=uuid.UUID(a), status="pending") == {d}
    assert listed(top_level_only=True) == {a, b}
    assert listed(id_prefix=a[:8]) == {a}
    assert listed(id_prefix=a[:13].upper()) == {a}  # dashes and any case
    assert listed(id_prefix=a.replace("-", "")) == {a}
    assert listed(id_prefix=a) == {a}
    assert [e.id for e in dc.list_executions(queue=queue, limit=1, offset=3)] == [d]


def test_count_executions_by_reported_status(family):
    queue, a = family.queue, family.a
    counts = count_executions(queue=queue)
    assert counts == {"pending": 2, "cancelled": 1, "compensating": 1}
    assert list(counts) == [ExecutionStatus.PENDING, "cancelled", "compensating"]
    assert all(isinstance(status, ExecutionStatus) for status in counts)
    assert count_executions(queue=queue, top_level_only=True) == {"pending": 1, "cancelled": 1}
    assert count_executions(queue=queue, parent_id=a) == {"pending": 1, "compensating": 1}
    assert count_executions(queue=queue, status=["compensating", "completed"]) == {
        "compensating": 1
    }
    hours_ago = datetime.now(UTC) - timedelta(hours=2)
    assert count_executions("tests.queries.idle", queue=queue, until=hours_ago) == {"pending": 1}
    assert count_executions(queue=queue, status="failed") == {}


def test_get_execution_counts_children_and_show_prints_them(family, db, capsys):
    a, b = family.a, family.b
    assert dc.get_execution(a).children == {"pending": 1, "compensating": 1}
    assert dc.get_execution(b, include_steps=False).children == {}
    execute(
        db,
        "UPDATE workflow_executions SET schedule_key = 'nightly-report', "
        "scheduled_at = '2024-05-01T03:00:00+00:00' WHERE id = :id",
        id=a,
    )
    assert main(["show", a]) == 0
    shown = capsys.readouterr().out
    assert "children   pending 1, compensating 1" in shown
    assert "schedule   nightly-report   fire time 2024-05-01" in shown
    assert main(["show", b]) == 0
    plain = capsys.readouterr().out
    assert "children" not in plain and "schedule" not in plain
    assert main(["show", a, "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["children"] == {"pending": 1, "compensating": 1}
    assert as_json["schedule_key"] == "nightly-report"
    assert datetime.fromisoformat(as_json["scheduled_at"]) == datetime(2024, 5, 1, 3, tzinfo=UTC)


def test_cli_list_filters(family, capsys):
    queue, a, b, c, d = family.queue, family.a, family.b, family.c, family.d

    def listed(*argv: str) -> set[str]:
        assert main(["list", "--queue", queue, "--json", *argv]) == 0
        return {e["id"] for e in json.loads(capsys.readouterr().out)}

    assert listed("--status", "cancelled,compensating") == {b, c}
    assert listed("--status", "cancelled", "--status", "pending") == {a, b, d}
    assert listed("--since", "2h") == {a, b, c}
    assert listed("--until", "2h") == {d}
    iso = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    assert listed("--until", iso) == {d}
    assert listed("--parent", a) == {c, d}
    assert listed("--top-level") == {a, b}
    assert listed("--id-prefix", b[:9]) == {b}
    assert main(["list", "--queue", queue, "--top-level"]) == 0
    table_out = capsys.readouterr().out
    assert table_out.startswith("ID") and a in table_out and c not in table_out
    assert main(["list", "--since", "2024-05-01T00:00:00"]) == 2
    assert "--since needs a UTC offset" in capsys.readouterr().err
    assert main(["list", "--parent", a, "--top-level"]) == 2
    assert capsys.readouterr().err == "error: give parent_id or top_level_only, not both\n"


@pytest.mark.parametrize(
    ("filters", "error", "message"),
    [
        (
            {"since": datetime(2024, 5, 1)},
            dc.InvalidOption,
            "since must be timezone-aware, got naive 2024-05-01T00:00:00",
        ),
        (
            {"until": "yesterday"},
            dc.InvalidOption,
            "until must be a datetime, got 'yesterday'",
        ),
        (
            {
                "since": datetime(2024, 5, 2, tzinfo=UTC),
                "until": datetime(2024, 5, 1, tzinfo=UTC),
            },
            dc.InvalidOption,
            "since must not be after until, got since=2024-05-02T00:00:00+00:00 "
            "until=2024-05-01T00:00:00+00:00",
        ),
        ({"parent_id": "nope"}, dc.InvalidExecutionId, "execution id 'nope' is not a UUID"),
        (
            {"id_prefix": "xyz"},
            dc.InvalidOption,
            "id_prefix must be the start of an execution id (hex digits and dashes), got 'xyz'",
        ),
        ({"id_prefix": "--"}, dc.InvalidOption, "id_prefix must have from 1 to 32 hex digits"),
        ({"id_prefix": ""}, dc.InvalidOption, "id_prefix must be the start of an execution id"),
        ({"status": []}, dc.InvalidOption, "status must name at least one status, got none"),
        ({"status": ["pending", "done"]}, dc.InvalidOption, "status must be one of pending"),
        (
            {"parent_id": str(uuid.uuid4()), "top_level_only": True},
            dc.InvalidOption,
            "give parent_id or top_level_only, not both",
        ),
        ({"top_level_only": "yes"}, dc.InvalidOption, "top_level_only must be a bool"),
    ],
)
def test_bad_filters_raise_typed_errors(runtime, filters, error, message):
    for query in (dc.list_executions, count_executions):
        if "id_prefix" in filters and query is count_executions:
            continue
        with pytest.raises(error) as raised:
            query(**filters)
        assert str(raised.value).startswith(message)


# --- list_workflows -----------------------------------------------------------------


def test_list_workflows_reports_versions_queues_steps_and_schedules(runtime, capsys):
    workflows = {info.name: info for info in list_workflows()}
    assert list(workflows) == sorted(workflows)
    versioned = workflows["tests.queries.versioned"]
    assert (versioned.version, versioned.queue, versioned.steps, versioned.schedules) == (
        3,
        "other",
        ("receive", "check", "store"),
        (),
    )
    nightly = workflows["tests.queries.nightly"]
    assert (nightly.version, nightly.queue, nightly.steps) == (7, None, ("report",))
    assert nightly.schedules == (
        ScheduleInfo("new-year", "cron", "0 3 1 1 *", "Europe/Paris"),
        ScheduleInfo("weekly", "every", "604800", "UTC"),
    )
    assert (workflows["tests.queries.echo"].version, workflows["tests.queries.echo"].versions) == (
        1,
        (1,),
    )

    assert main(["workflows", "--json"]) == 0
    as_json = {item["name"]: item for item in json.loads(capsys.readouterr().out)}
    assert as_json["tests.queries.nightly"] == {
        "name": "tests.queries.nightly",
        "version": 7,
        "versions": [7],
        "queue": None,
        "steps": ["report"],
        "schedules": [
            {
                "key": "new-year",
                "kind": "cron",
                "expression": "0 3 1 1 *",
                "timezone": "Europe/Paris",
            },
            {"key": "weekly", "kind": "every", "expression": "604800", "timezone": "UTC"},
        ],
    }
    assert main(["workflows"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "QUEUE", "STEPS", "SCHEDULES"]
    row = next(line for line in lines if line.startswith("tests.queries.nightly "))
    assert "new-year: cron 0 3 1 1 * Europe/Paris; weekly: every 604800" in row
    row = next(line for line in lines if line.startswith("tests.queries.versioned "))
    assert row.split()[1:5] == ["3", "other", "receive,", "check,"]


# --- start and status on the command line -----------------------------------------


def test_cli_start_prints_the_id_and_refuses_bad_input(worker, db, capsys):
    assert main(["start", "tests.queries.echo", '{"n": 2}']) == 0
    started = capsys.readouterr().out.strip()
    assert dc.ExecutionHandle(started).result(timeout=30) == {"n": 2}

    queue, key = unique_queue(), f"cli-{uuid.uuid4()}"
    argv = ["start", "tests.queries.echo", '{"n": 3}', "--queue", queue]
    assert main([*argv, "--idempotency-key", key, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["workflow"] == "tests.queries.echo" and first["status"] == "pending"
    assert main([*argv, "--idempotency-key", key]) == 0
    assert capsys.readouterr().out.strip() == first["id"]
    assert dc.get_execution(first["id"]).queue == queue

    assert main(["start", "tests.queries.echo", "--delay", "10m", "--queue", queue]) == 0
    delayed = capsys.readouterr().out.strip()
    later = db.execute(
        text("SELECT run_at - created_at FROM workflow_executions WHERE id = :id"), {"id": delayed}
    ).scalar_one()
    db.rollback()
    assert timedelta(minutes=9, seconds=59) < later < timedelta(minutes=10, seconds=1)

    before = count_executions("tests.queries.echo")
    assert main(["start", "tests.queries.nope", "{}"]) == 2
    unknown = capsys.readouterr().err
    assert unknown.startswith("error: no workflow is registered as 'tests.queries.nope'")
    assert "tests.queries.echo" in unknown  # names the known ones
    assert main(["start", "tests.queries.echo", "{'n': 1}"]) == 2
    assert capsys.readouterr().err.startswith("error: the input must be JSON (")
    assert main(["start", "tests.queries.echo", "[1]"]) == 2
    assert capsys.readouterr().err == (
        "error: the input must be a JSON object ({...}), got an array: [1]\n"
    )
    assert main(["start", "tests.queries.echo", "{}", "--delay", "ten minutes"]) == 2
    assert "--delay must be a number with a unit s, m, h or d" in capsys.readouterr().err
    assert count_executions("tests.queries.echo") == before


def test_cli_start_as_a_real_subprocess(worker):
    result = subprocess.run(
        [str(DURABLE_CELERY), "start", "tests.queries.echo", '{"via": "subprocess"}'],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    execution_id = result.stdout.strip()
    assert dc.ExecutionHandle(execution_id).result(timeout=30) == {"via": "subprocess"}


def test_cli_status_shows_queue_depth_broker_counts_and_the_oldest_due(runtime, db, capsys):
    queue = unique_queue()
    first = dc.start("tests.queries.idle", {}, queue=queue).id
    dc.start("tests.queries.idle", {}, queue=queue)
    dc.start("tests.queries.idle", {}, queue=queue, delay=3600)  # live, not due yet
    execute(
        db,
        "UPDATE workflow_executions SET run_at = now() - interval '1 hour' WHERE id = :id",
        id=first,
    )
    assert main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    mine = next(load for load in report["queues"] if load["queue"] == queue)
    assert (mine["live"], mine["due"]) == (3, 2)
    assert 3600 <= mine["oldest_due_seconds"] < 3700
    assert mine["broker_messages"] >= 2  # the two wake-ups sent at start, in Redis
    assert report["oldest_due"]["seconds"] >= 3600
    idle = next(load for load in report["workflows"] if load["workflow"] == "tests.queries.idle")
    assert idle["pending"] >= 3

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "QUEUE",
        "DUE",
        "OLDEST",
        "DUE",
        "LIVE",
        "BROKER",
        "MESSAGES",
    ]
    row = next(line for line in out.splitlines() if line.startswith(queue + " "))
    assert row.split()[1:4] == ["2", "1h00m", "3"]
    assert "WORKFLOW" in out and "oldest due wake-up: " in out


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_status_shows_a_dash_when_the_broker_cannot_say(runtime, capsys, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL")  # it would win over the app's broker
    unreachable = f"redis://127.0.0.1:{_closed_port()}/0"
    assert message_counts(Celery("down", broker=unreachable), ["default"], timeout=0.5) == {
        "default": None
    }
    app = Celery("down", broker=unreachable)
    install(app, database_url=runtime.settings.database_url, workflows=[])
    try:
        assert main(["status", "--broker-timeout", "0.5"], app=app) == 0
    finally:
        runtime.activate()
    lines = capsys.readouterr().out.splitlines()
    default_queue = str(app.conf.task_default_queue)
    row = next(line for line in lines if line.startswith(default_queue + " "))
    assert row.split()[-1] == "-"


# --- cleanup ------------------------------------------------------------------------


@pytest.fixture()
def private(runtime):
    """A database of its own (cleanup deletes across the whole database) and a runtime on
    it whose broker is in memory: executions are run here, in this process."""
    name = f"durable_cleanup_{RUN}_{uuid.uuid4().hex[:8]}"
    url = clone_database(name)
    tenant = install(Celery("cleanup-test", broker="memory://"), database_url=url, workflows=[])
    engine = create_engine(url)
    try:
        yield Private(tenant, engine, url)
    finally:
        runtime.activate()
        engine.dispose()
        drop_database(name)


class Private:
    def __init__(self, runtime, engine, url: str) -> None:
        self.runtime, self.engine, self.url = runtime, engine, url

    def pending(self) -> str:
        return dc.start("tests.queries.idle", {}, queue="nobody-listens", runtime=self.runtime).id

    def completed(self) -> str:
        execution_id = self.pending()
        assert run_execution(self.runtime, execution_id) == "completed"
        return execution_id

    def failed(self) -> str:
        execution_id = dc.start("tests.queries.fails", {}, runtime=self.runtime).id
        assert run_execution(self.runtime, execution_id) == "failed"
        return execution_id

    def cancelled(self) -> str:
        execution_id = self.pending()
        dc.cancel(execution_id, runtime=self.runtime)
        return execution_id

    def sql(self, statement: str, **params):
        with self.engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else []

    def age(self, *ids: str, days: int = 40) -> None:
        self.sql(
            "UPDATE workflow_executions SET completed_at = now() - make_interval(days => :days) "
            "WHERE id = ANY(CAST(:ids AS uuid[]))",
            days=days,
            ids=list(ids),
        )

    def link(self, parent: str, *children: str) -> None:
        self.sql(
            "UPDATE workflow_executions SET parent_id = :parent "
            "WHERE id = ANY(CAST(:ids AS uuid[]))",
            parent=parent,
            ids=list(children),
        )

    def ids(self) -> set[str]:
        return {str(row.id) for row in self.sql("SELECT id FROM workflow_executions")}

    def rows_of(self, ids: list[str]) -> int:
        total = 0
        for table in ("step_executions", "workflow_events", "step_waits", "pending_inputs"):
            total += self.sql(
                f"SELECT count(*) FROM {table} WHERE execution_id = ANY(CAST(:ids AS uuid[]))",
                ids=ids,
            )[0][0]
        return total

    def cleanup(self, **options) -> int:
        return cleanup(options.pop("older_than", THIRTY_DAYS), runtime=self.runtime, **options)


def test_cleanup_deletes_old_finished_executions_with_their_rows(private):
    old_completed = [private.completed() for _ in range(3)]
    old_failed, old_cancelled = private.failed(), private.cancelled()
    recent = private.completed()
    live = private.pending()
    private.age(*old_completed, old_failed, old_cancelled)
    private.sql("UPDATE workflow_executions SET created_at = now() - interval '90 days'")
    private.sql(
        "INSERT INTO workflow_events (id, execution_id, name, payload) "
        "VALUES (gen_random_uuid(), :id, 'late', 'null')",
        id=old_failed,
    )
    everything = private.ids()
    doomed = [*old_completed, old_failed, old_cancelled]
    assert private.rows_of(doomed) == 3 + 1 + 1  # one step attempt each, and the event

    assert private.cleanup(dry_run=True) == 5
    assert private.cleanup(status="failed", dry_run=True) == 1
    assert private.cleanup(older_than=50 * 86400, dry_run=True) == 0  # seconds work too
    assert private.ids() == everything  # a dry run deletes nothing

    assert private.cleanup(status=["failed", "cancelled"]) == 2
    assert private.ids() == everything - {old_failed, old_cancelled}
    assert private.cleanup() == 3
    assert private.ids() == {recent, live}
    assert private.rows_of(doomed) == 0  # step attempts and events went with them
    assert private.cleanup() == 0


def test_cleanup_keeps_families_together(private):
    done_parent, live_child = private.completed(), private.pending()
    private.link(done_parent, live_child)
    live_parent, done_child = private.pending(), private.completed()
    private.link(live_parent, done_child)
    old_parent, old_child = private.completed(), private.completed()
    private.link(old_parent, old_child)
    failed_parent, completed_child = private.failed(), private.completed()
    private.link(failed_parent, completed_child)
    private.age(done_parent, done_child, old_parent, old_child, failed_parent, completed_child)

    # A completed child of a failed parent stays while the parent does: a retried parent
    # would start it again.
    assert private.cleanup(status="completed", dry_run=True) == 2
    assert private.cleanup(status="completed") == 2
    assert {old_parent, old_child} & private.ids() == set()
    assert {done_parent, live_child, live_parent, done_child, completed_child} <= private.ids()
    parent_of = private.sql(
        "SELECT parent_id FROM workflow_executions WHERE id = :id", id=live_child
    )
    assert str(parent_of[0][0]) == done_parent

    dc.cancel(live_child, runtime=private.runtime)
    private.age(live_child)
    assert private.cleanup() == 4  # done_parent and its child, failed_parent and its child
    assert private.ids() == {live_parent, done_child}


def test_cleanup_takes_short_batches_and_skips_locked_rows(private):
    ids = [private.completed() for _ in range(5)]
    private.age(*ids)
    progress: list[int] = []
    outcome: dict[str, int] = {}
    with private.engine.connect() as other:
        other.execute(
            text("SELECT id FROM workflow_executions WHERE id = :id FOR UPDATE"), {"id": ids[0]}
        )
        worker = threading.Thread(
            target=lambda: outcome.update(
                n=private.cleanup(batch_size=2, progress=progress.append)
            ),
            daemon=True,
        )
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "cleanup waited for a row somebody else holds"
        assert outcome["n"] == 4
        assert progress == [2, 4]
        assert private.ids() == {ids[0]}
        other.rollback()
    assert private.cleanup() == 1


@pytest.mark.parametrize(
    ("older_than", "options", "message"),
    [
        (0, {}, "older_than must be positive, got 0:00:00"),
        (-5, {}, "older_than must not be negative, got -1 day, 23:59:55"),
        ("30d", {}, "older_than must be a timedelta or a number of seconds, got '30d'"),
        (None, {}, "older_than must be a timedelta or a number of seconds, got None"),
        (
            THIRTY_DAYS,
            {"status": ["completed", "compensating"]},
            "cleanup deletes finished executions only (cancelled, compensated, "
            "compensation_failed, completed, failed, timed_out), never live ones: "
            "got compensating",
        ),
        (THIRTY_DAYS, {"status": "done"}, "status must be one of pending, running"),
        (THIRTY_DAYS, {"status": []}, "status must name at least one status, got none"),
        (THIRTY_DAYS, {"batch_size": 0}, "batch_size must be an int from 1 to 10000, got 0"),
        (THIRTY_DAYS, {"batch_size": 10_001}, "batch_size must be an int from 1 to 10000"),
        (THIRTY_DAYS, {"dry_run": "yes"}, "dry_run must be a bool, got 'yes'"),
    ],
)
def test_bad_cleanup_options_raise_and_delete_nothing(private, older_than, options, message):
    old = private.completed()
    private.age(old)
    with pytest.raises(dc.InvalidOption) as raised:
        cleanup(older_than, runtime=private.runtime, **options)
    assert str(raised.value).startswith(message)
    assert private.ids() == {old}


def test_cli_cleanup(private, capsys):
    old = [private.completed() for _ in range(2)]
    old_failed = private.failed()
    recent = private.completed()
    private.age(*old, old_failed)
    base = ["--database-url", private.url, "cleanup", "--older-than", "30d"]

    assert main([*base, "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        "would delete 3 executions finished more than 30d ago (dry run)\n"
    )
    assert main([*base, "--status", "failed", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"would_delete": 1}
    assert main([*base, "--status", "completed", "--batch-size", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "deleted 2 executions finished more than 30d ago\n"
    assert captured.err == "... 1 deleted so far\n... 2 deleted so far\n"
    assert private.ids() == {old_failed, recent}
    assert main(["--database-url", private.url, "cleanup", "--older-than", "30"]) == 2
    assert "--older-than must be a number with a unit" in capsys.readouterr().err
    assert private.ids() == {old_failed, recent}

    result = subprocess.run(
        [str(DURABLE_CELERY), *base],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "deleted 1 execution finished more than 30d ago\n"
    assert private.ids() == {recent}
