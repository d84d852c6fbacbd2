"""Retention: the beat task `durable_celery.retention` deletes finished executions by the
age `durable_retention` gives their status, with cleanup's family rules; two runs at once
split the work; and the command line's cleanup forms."""

from __future__ import annotations

import json
import logging
import threading
import uuid

import pytest
from celery import Celery
from sqlalchemy import create_engine

from durable_celery import install
from durable_celery.cli import main
from durable_celery.client import apply_retention, cleanup
from durable_celery.runtime import RETENTION_TASK
from tests.integration.conftest import RUN, clone_database, drop_database
from tests.integration.test_queries_and_cli import Private


class Tenant(Private):
    """cleanup's private database (a database of its own: retention deletes across the
    whole database; a runtime on it whose broker is in memory, executions run here),
    installed with retention settings."""

    def steps_of(self, ids: set[str]) -> int:
        rows = self.sql(
            "SELECT count(*) FROM step_executions WHERE execution_id = ANY(CAST(:ids AS uuid[]))",
            ids=list(ids),
        )
        return int(rows[0][0])


@pytest.fixture()
def tenant(runtime):
    name = f"durable_retention_{RUN}_{uuid.uuid4().hex[:8]}"
    url = clone_database(name)
    app = Celery("retention-test", broker="memory://")
    tenant_runtime = install(
        app,
        database_url=url,
        workflows=[],
        retention="completed=30d,failed=90d",
        retention_batch_size=2,
    )
    engine = create_engine(url)
    try:
        yield Tenant(tenant_runtime, engine, url)
    finally:
        runtime.activate()
        engine.dispose()
        drop_database(name)


def test_the_beat_task_deletes_by_each_status_age_and_keeps_the_rest(tenant, caplog):
    old_completed = [tenant.completed() for _ in range(3)]
    young_completed = tenant.completed()
    failed_40, failed_100 = tenant.failed(), tenant.failed()
    cancelled = tenant.cancelled()  # its status has no retention: kept forever
    live = tenant.pending()
    tenant.age(*old_completed, failed_40, days=40)
    tenant.age(young_completed, days=10)
    tenant.age(failed_100, days=100)
    tenant.age(cancelled, days=1000)
    doomed = {*old_completed, failed_100}
    assert tenant.steps_of(doomed) == 4

    task = tenant.runtime.app.tasks[RETENTION_TASK]
    with caplog.at_level(logging.INFO, logger="durable_celery.retention"):
        assert task.apply().get() == 4
    assert tenant.ids() == {young_completed, failed_40, cancelled, live}
    assert tenant.steps_of(doomed) == 0  # their step attempts went with them
    assert caplog.messages[-1].startswith(
        "retention: deleted 4 finished executions (failed older than 90d: 1; "
        "completed older than 30d: 3) in "
    )
    assert task.apply().get() == 0


def test_retention_keeps_families_together(tenant):
    # A failed parent kept 90 days and its completed child kept 30: the child waits for
    # its parent, and both go in one run once the parent's time is up.
    failed_parent, completed_child = tenant.failed(), tenant.completed()
    tenant.link(failed_parent, completed_child)
    tenant.age(failed_parent, completed_child, days=100)
    young_parent, old_child = tenant.failed(), tenant.completed()
    tenant.link(young_parent, old_child)
    tenant.age(young_parent, old_child, days=40)
    # A finished parent with a live child, and a finished child of a live parent.
    done_parent, live_child = tenant.completed(), tenant.pending()
    tenant.link(done_parent, live_child)
    live_parent, done_child = tenant.pending(), tenant.completed()
    tenant.link(live_parent, done_child)
    tenant.age(done_parent, done_child, days=40)

    run = apply_retention(tenant.runtime)
    assert run.total == 2
    assert tenant.ids() == {
        young_parent,
        old_child,
        done_parent,
        live_child,
        live_parent,
        done_child,
    }


def test_a_run_stops_at_its_time_budget_and_the_next_goes_on(tenant):
    old = [tenant.completed() for _ in range(5)]
    tenant.age(*old, days=40)
    first = apply_retention(tenant.runtime, time_budget=0)
    assert (first.total, first.out_of_time) == (2, True)  # one batch of 2, then no more
    assert len(tenant.ids()) == 3
    assert apply_retention(tenant.runtime).total == 3
    assert tenant.ids() == set()


def test_two_runs_at_once_delete_each_execution_once(tenant):
    # 1,500 old completed executions, a third of them in parent-child-grandchild chains.
    tenant.sql(
        """
        INSERT INTO workflow_executions
            (id, workflow, status, queue, input, run_at, created_at, started_at, completed_at)
        SELECT gen_random_uuid(), 'history', 'completed', 'default', '{}'::jsonb,
               now(), now(), now(), now() - interval '40 days' - g * interval '1 second'
        FROM generate_series(1, 1500) AS g
        """
    )
    tenant.sql(
        """
        WITH numbered AS (
            SELECT id, row_number() OVER (ORDER BY completed_at) AS n FROM workflow_executions)
        UPDATE workflow_executions AS e SET parent_id = parent.id
        FROM numbered AS child, numbered AS parent
        WHERE e.id = child.id AND child.n <= 500 AND child.n % 3 <> 1
          AND parent.n = child.n - 1
        """
    )
    live = tenant.pending()
    total = len(tenant.ids()) - 1
    runtime = tenant.runtime
    start = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait(timeout=30)
        try:
            counts.append(apply_retention(runtime).total)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(counts) == 2
    assert sum(counts) == total
    assert tenant.ids() == {live}


def test_cli_cleanup_forms(tenant, capsys):
    completed = [tenant.completed() for _ in range(2)]
    failed, cancelled = tenant.failed(), tenant.cancelled()
    recent = tenant.completed()
    tenant.age(*completed, failed, cancelled, days=2)
    base = ["--database-url", tenant.url, "cleanup"]

    for older_than in ("1d", "36h", "90m", "3600s", "1.5d"):
        assert main([*base, "--older-than", older_than, "--dry-run", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"would_delete": 4}
    assert main([*base, "--older-than", "3d", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"would_delete": 0}
    repeated = ["--status", "failed", "--status", "cancelled"]
    assert main([*base, "--older-than", "1d", *repeated, "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        "would delete 2 executions finished more than 1d ago (dry run)\n"
    )
    assert main([*base, "--older-than", "24h", "--status", "failed,cancelled"]) == 0
    assert capsys.readouterr().out == "deleted 2 executions finished more than 24h ago\n"
    assert tenant.ids() == {*completed, recent}
    assert main([*base, "--older-than", "1w"]) == 2
    assert "--older-than must be a number with a unit s, m, h or d" in capsys.readouterr().err
    assert main([*base, "--older-than", "1d", "--status", "completed,running"]) == 2
    assert "never live ones: got running" in capsys.readouterr().err
    assert cleanup(86_400, runtime=tenant.runtime) == 2
    assert tenant.ids() == {recent}
