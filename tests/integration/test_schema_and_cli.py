"""`durable_schema` keeps the tables in a schema of their own; the CLI reads them back."""

from __future__ import annotations

import json
import subprocess
import sys

from celery import Celery
from sqlalchemy import create_engine, text

import durable_celery as dc
from durable_celery import install
from durable_celery.cli import main
from durable_celery.engine import run_execution
from durable_celery.testing import wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows import ThreeSteps


def test_durable_schema_puts_every_table_in_that_schema(empty_database, runtime, monkeypatch):
    # The CLI's --database-url / --schema set the environment; restore it afterwards.
    monkeypatch.setenv("DURABLE_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("DURABLE_SCHEMA", "")
    app = Celery("schema-test", broker="memory://")
    tenant = install(app, database_url=empty_database, schema="tenant_a", workflows=[])
    try:
        assert main(["--database-url", empty_database, "--schema", "tenant_a", "migrate"]) == 0
        handle = ThreeSteps.start_durable({"customer": "schema"}, queue="nobody-listens")
        assert run_execution(tenant, handle.id) == "completed"
        assert dc.get_execution(handle.id, runtime=tenant).result["n"] == 3
    finally:
        runtime.activate()
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT table_schema, count(*) FROM information_schema.tables "
                "WHERE table_name IN ('workflow_executions', 'step_executions') GROUP BY 1"
            )
        ).all()
        steps = conn.execute(text("SELECT count(*) FROM tenant_a.step_executions")).scalar_one()
    engine.dispose()
    assert [tuple(row) for row in tables] == [("tenant_a", 2)]
    assert steps == 3


def test_cli_list_and_show(worker, capsys):
    handle = ThreeSteps.start_durable({"customer": "cli"})
    handle.result(timeout=30)

    assert main(["show", handle.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "completed"
    assert [step["step"] for step in shown["steps"]] == ["first", "second", "third"]

    assert main(["show", handle.id]) == 0
    text_out = capsys.readouterr().out
    assert "completed" in text_out and "second" in text_out
    assert "started 20" in text_out and "ended 20" in text_out  # timestamps
    assert "WORKER" in text_out and ":" in text_out.split("WORKER")[1]  # host:pid per step

    assert main(["list", "--workflow", "tests.three_steps", "--json", "--limit", "500"]) == 0
    assert handle.id in [e["id"] for e in json.loads(capsys.readouterr().out)]

    assert main(["list", "--status", "completed", "--limit", "3"]) == 0
    assert capsys.readouterr().out.startswith("ID")

    assert main(["show", "not-a-uuid"]) == 2
    assert "is not a UUID" in capsys.readouterr().err

    assert main(["cancel", handle.id]) == 2
    assert "cannot cancel" in capsys.readouterr().err
    assert main(["retry", handle.id]) == 2
    assert "cannot retry" in capsys.readouterr().err


def test_cli_cancel_and_retry(runtime, capsys):
    handle = ThreeSteps.start_durable({"customer": "cli"}, queue="nobody-listens")
    assert main(["cancel", handle.id, "--reason", "from the shell"]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert handle.execution().error["message"] == "from the shell"


def test_cli_send_event_provide_input_and_inputs(worker, capsys):
    from tests.integration.flows_waits import Approval, EventWaiter

    waiter = EventWaiter.start_durable({})
    assert main(["send-event", waiter.id, "paid", '{"amount": 3}']) == 0
    assert waiter.result(timeout=30)["payload"] == {"amount": 3}

    asker = Approval.start_durable({"what": "the CLI"})
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=asker.id), timeout=30)
    capsys.readouterr()
    assert main(["show", asker.id]) == 0
    assert "waits for  input 'approval'" in capsys.readouterr().out
    assert main(["inputs", "--execution", asker.id]) == 0
    listed = capsys.readouterr().out
    assert "approval" in listed and "Approve the CLI?" in listed
    assert main(["inputs", "--json", "--workflow", "tests.approval"]) == 0
    assert asker.id in [item["execution_id"] for item in json.loads(capsys.readouterr().out)]
    assert main(["provide-input", asker.id, "approval", "not json"]) == 2
    assert "must be JSON" in capsys.readouterr().err
    assert main(["provide-input", asker.id, "approval", '{"approved": "yes", "note": ""}']) == 2
    assert "field 'approved' must be bool" in capsys.readouterr().err
    answer = '{"approved": true, "note": "from the shell"}'
    assert main(["provide-input", asker.id, "approval", answer]) == 0
    assert asker.result(timeout=30) == {"approved": True, "note": "from the shell"}


def test_demo_command_runs_the_example_workflows(session_database):
    result = subprocess.run(
        [sys.executable, "-m", "durable_celery.cli", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("completed {'order'") == 2
    assert "charge         failed" in out and "'attempt': 2" in out  # retried once
    assert "compensated workflows.examples.ShippingError" in out
    assert "refund         completed" in out and "release_stock  completed" in out
    assert "failed    durable_celery.errors.FanoutFailed" in out
    assert "asking    Approve 120 EUR for ada? (status waiting, no worker held)" in out
    assert "result    expense    completed {'amount': 120, 'status': 'paid'}" in out
    assert "durable-celery list / " in out  # how to call it from here, on PATH or not
