"""examples/shop: an ordinary Celery app with its own queues, routes and Alembic gains
durable workflows by the README's recipe, and runs with a plain `celery -A examples.shop
worker -B`. Everything here talks to the shop through its own app: its broker (a Redis
database of its own), its database, its command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from durable_celery.store.migrate import head_revision
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT, RUN, create_database, drop_database, servers

SHOP_DB = f"durable_shop_{RUN}"


@pytest.fixture(scope="module")
def shop_env(session_database: str) -> Iterator[dict[str, str]]:
    url = create_database(SHOP_DB)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DURABLE_", "CELERY_"))  # the shop's settings, not the suite's
    }
    env.update(
        SHOP_DATABASE_URL=url,
        SHOP_BROKER_URL=servers().redis.url(4),
        SHOP_FLAKY_GATEWAY="1",
        PYTHONPATH=str(ROOT),
    )
    yield env
    drop_database(SHOP_DB)


@pytest.fixture(scope="module")
def migrated(shop_env: dict[str, str]) -> tuple[str, str]:
    """The shop's own migrations, then durable-celery's: what each `migrate` said."""
    alembic = ("-m", "alembic", "-c", "examples/shop/alembic.ini", "upgrade", "head")
    run(shop_env, sys.executable, *alembic)
    return shop(shop_env, "migrate"), shop(shop_env, "migrate")


def run(env: dict[str, str], *command: str) -> str:
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def shop(env: dict[str, str], *arguments: str) -> str:
    """`durable-celery -A examples.shop ...`"""
    cli = Path(sys.executable).with_name("durable-celery")
    return run(env, str(cli), "-A", "examples.shop", *arguments)


def query(env: dict[str, str], sql: str, **params: Any) -> list[Any]:
    engine = create_engine(env["SHOP_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def test_the_shop_migrates_both_histories_side_by_side(shop_env):
    run(
        shop_env,
        sys.executable,
        "-m",
        "alembic",
        "-c",
        "examples/shop/alembic.ini",
        "upgrade",
        "head",
    )
    out = shop(shop_env, "migrate")
    assert f"127.0.0.1:{servers().postgres.port}/{SHOP_DB}" in out
    head = head_revision()
    assert f"migrated from nothing to revision {head}" in out
    assert f"already at revision {head}" in shop(shop_env, "migrate")
    assert [row[0] for row in query(shop_env, "SELECT version_num FROM alembic_version")] == [
        "a1b2c3"
    ]
    assert [r[0] for r in query(shop_env, "SELECT version_num FROM durable_alembic_version")] == [
        head
    ]


def test_a_checkout_runs_on_the_shops_queues_with_its_tasks(shop_env, migrated):
    order = f"S-{uuid.uuid4().hex[:8]}"
    with WorkerProcess(
        app="examples.shop", queues=None, beat=True, loglevel="info", cwd=ROOT, env=shop_env
    ) as worker:
        started = json.loads(
            run(shop_env, sys.executable, "-m", "examples.shop.place_order", order)
        )
        execution_id = started["execution"]

        def status() -> str:
            return str(
                query(
                    shop_env,
                    "SELECT status FROM workflow_executions WHERE id = :id",
                    id=execution_id,
                )[0][0]
            )

        assert wait_until(lambda: status() == "waiting", timeout=60), worker.log_tail()
        # Through the shop's app and broker, as a Celery sub-command: resumed at once.
        run(
            shop_env,
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "examples.shop",
            "durable",
            "send-event",
            execution_id,
            "packed",
            '{"by": "ann"}',
        )
        sent = time.monotonic()
        assert wait_until(lambda: status() == "completed", timeout=30), worker.log_tail()
        assert time.monotonic() - sent < 5  # not the poller's 10 s grace: published directly

        charge = json.loads(
            run(
                shop_env,
                sys.executable,
                "-c",
                "from examples.shop.tasks import charge_card; import json;"
                f"print(json.dumps({{'id': charge_card.start_durable('{order}-2', 3.0).id}}))",
            )
        )["id"]
        assert wait_until(
            lambda: (
                query(shop_env, "SELECT status FROM workflow_executions WHERE id = :id", id=charge)[
                    0
                ][0]
                == "completed"
            ),
            timeout=60,
        ), worker.log_tail()
        log = worker.log_tail(2_000)

    shown = json.loads(shop(shop_env, "show", execution_id, "--json"))
    assert shown["queue"] == "orders"  # task_routes["durable:shop.*"]
    assert [(s["step"], s["attempt"], s["status"]) for s in shown["steps"]] == [
        ("reserve", 1, "completed"),
        ("charge", 1, "failed"),  # the gateway timed out: charge_card's autoretry_for
        ("charge", 2, "completed"),
        ("packed", 1, "completed"),
        ("receipt", 1, "completed"),
    ]
    assert shown["steps"][1]["error"]["type"] == "examples.shop.tasks.GatewayTimeout"
    assert shown["steps"][3]["output"] == {"by": "ann"}
    assert shown["result"] == f"receipt for {order} sent to ada@example.com"
    task_run = json.loads(shop(shop_env, "show", charge, "--json"))
    assert task_run["workflow"] == "task:examples.shop.tasks.charge_card"
    assert task_run["queue"] == "payments"  # where the shop routes charge_card itself
    assert task_run["result"] == {"order_id": f"{order}-2", "charged": 3.0}
    # What a Celery operator sees: named wake-ups, steps, and the retried failure.
    assert "durable:shop.checkout" in log
    assert "step charge attempt 1 failed; retrying in 1.0 s" in log
    assert "GatewayTimeout: the gateway timed out" in log
    for path in Path("/tmp").glob(f"shop-charge-{order}*"):
        path.unlink()
