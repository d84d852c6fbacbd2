"""The bundled app and `install()` on an existing Celery app, each with a real worker."""

from __future__ import annotations

import subprocess
import sys

from celery import Celery

import durable_celery as dc
from durable_celery import install
from durable_celery.runtime import ITEM_TASK, POLL_TASK, RECOVER_TASK, WAKE_TASK
from durable_celery.testing import WorkerProcess
from tests.integration.conftest import ROOT


def test_install_on_an_existing_app_runs_workflows_on_its_worker(runtime):
    with WorkerProcess(
        app="tests.integration.user_app",
        queues=["userapp"],
        concurrency=1,
        cwd=ROOT,
        name="userapp",
    ) as user_worker:
        handle = dc.start("tests.who_runs_me")
        try:
            result = handle.result(timeout=60)
        except Exception:
            print(user_worker.log_tail())
            raise
    assert result["app"] == "userapp"
    assert result["pid"] != user_worker.pid  # ran in a pool child of the user's worker


def test_install_registers_tasks_beat_schedule_and_settings(runtime):
    app = Celery("someapp", broker="memory://")
    app.conf.beat_schedule = {"theirs": {"task": "x", "schedule": 60}}
    try:
        installed = install(
            app,
            database_url="postgresql://u@h/db",
            workflows=["tests.integration.flows"],
            schema="tenant_1",
            poll_interval=2,
        )
        assert {WAKE_TASK, POLL_TASK, ITEM_TASK, RECOVER_TASK} <= set(app.tasks)
        assert set(app.conf.beat_schedule) == {
            "theirs",
            "durable-celery-poll",
            "durable-celery-recover",
        }
        assert app.conf.beat_schedule["durable-celery-poll"]["schedule"] == 2
        assert installed.settings.database_url == "postgresql+psycopg://u@h/db"
        assert installed.settings.schema == "tenant_1"
        assert app.conf.durable_schema == "tenant_1"
        assert "tests.integration.flows" in app.conf.include
    finally:
        runtime.activate()  # give the session its runtime back


def test_bundled_app_reads_celeryconfig_and_environment():
    code = (
        "from durable_celery.celery import app;"
        "from durable_celery.runtime import current_runtime as c;"
        "s = c().settings;"
        "print(app.conf.broker_url, app.conf.task_serializer, app.conf.task_default_queue,"
        " s.schema, s.poll_interval, ','.join(s.workflow_modules), sorted(app.conf.accept_content))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9",
        "DURABLE_SCHEMA": "envschema",
        "DURABLE_POLL_INTERVAL": "4",
        "DURABLE_DATABASE_URL": "postgresql://postgres@127.0.0.1/nowhere",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [
        "redis://127.0.0.1:6379/9",
        "json",
        "default",
        "envschema",
        "4.0",
        "workflows.examples",
        "['json']",
    ]


def test_celery_finds_the_bundled_app_with_dash_a():
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "durable_celery", "inspect", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    listing = subprocess.run(
        [
            sys.executable,
            "-c",
            "from celery.app.utils import find_app; app = find_app('durable_celery');"
            "print(app.main, sorted(t for t in app.tasks if t.startswith('durable_celery')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listing.strip() == (
        "durable_celery ['durable_celery.poll', 'durable_celery.recover', "
        "'durable_celery.retention', 'durable_celery.run_item', 'durable_celery.wake']"
    )


def test_maintenance_tasks_can_have_a_queue_of_their_own(runtime):
    app = Celery("maintained", broker="memory://")
    try:
        install(app, database_url="postgresql://u@h/db")
        assert "queue" not in app.conf.beat_schedule["durable-celery-poll"]["options"]
        app.conf.durable_maintenance_queue = "upkeep"
        app.conf.durable_recovery_interval = "3"
        installed = install(app, database_url="postgresql://u@h/db")
        assert installed.settings.recovery_interval == 3.0
        for key in ("durable-celery-poll", "durable-celery-recover"):
            assert app.conf.beat_schedule[key]["options"]["queue"] == "upkeep"
        assert app.conf.beat_schedule["durable-celery-recover"]["schedule"] == 3.0
    finally:
        runtime.activate()
