"""A committed execution is never lost to the broker: a wake-up that was never published,
or published and lost, is sent again by the poller after its grace period."""

from __future__ import annotations

import logging
import time
import uuid

from celery import Celery
from sqlalchemy import text

import durable_celery as dc
from durable_celery import install
from durable_celery.config import Settings
from durable_celery.engine import poll_once
from durable_celery.runtime import Runtime
from tests.integration.conftest import servers
from tests.integration.flows import ThreeSteps


def test_start_succeeds_with_the_broker_down_and_the_poller_dispatches_later(
    runtime, worker, db, caplog, monkeypatch
):
    # The session app's producer pool is made now, on the live broker: Celery reads
    # CELERY_BROKER_URL whenever it builds a connection, and a pool first made below would
    # keep the dead broker for the rest of the process (later tests' wake-ups lost).
    assert runtime.app.pool is not None
    # Celery prefers CELERY_BROKER_URL to the app's own setting: point it at nothing.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    dead = Celery("dead-broker")
    dead.conf.task_default_queue = "default"  # where the session worker listens
    dead.conf.broker_connection_timeout = 1
    dead.conf.task_publish_retry_policy = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.1,
        "interval_max": 0.1,
    }
    offline = install(dead, database_url=runtime.settings.database_url, workflows=[])
    try:
        with caplog.at_level(logging.WARNING, logger="durable_celery"):
            started = time.monotonic()
            handle = ThreeSteps.start_durable({"customer": "offline"})
            assert time.monotonic() - started < 15
        assert "could not publish the wake-up" in caplog.text
        assert handle.status() == "pending"  # committed, waiting for someone to notice
    finally:
        runtime.activate()
        monkeypatch.setenv("CELERY_BROKER_URL", servers().broker_url)  # the live one again
    assert offline.settings.database_url == runtime.settings.database_url

    # A poller with a short grace period (the default is 10 s) finds and dispatches it.
    quick = Runtime(
        runtime.app, Settings(database_url=runtime.settings.database_url, dispatch_grace=0.2)
    )
    time.sleep(0.3)  # let the grace period pass: the poller only re-sends older wake-ups
    assert poll_once(quick) >= 1
    assert handle.result(timeout=30)["n"] == 3


def test_a_wake_up_that_vanished_from_the_broker_is_sent_again(runtime, worker, db):
    # Written without any wake-up at all, like a publish lost after commit.
    with runtime.database.begin() as conn:
        conn.execute(text("SELECT 1"))
    handle = ThreeSteps.start_durable({"customer": "lost"}, queue="nobody-listens")
    with runtime.database.begin() as conn:
        conn.execute(
            text(
                "UPDATE workflow_executions SET queue = 'default', "
                "dispatched_at = now() - interval '1 minute' WHERE id = :id"
            ),
            {"id": handle.id},
        )
    # The session worker's own beat (grace 10 s) re-sends it; no manual wake-up.
    assert handle.result(timeout=30)["n"] == 3
    assert dc.get_execution(handle.id).status == "completed"


def test_wake_ups_nobody_claims_are_re_sent_ever_less_often_and_named_in_a_warning(
    runtime, redis_client, caplog
):
    queue = f"nobody-consumes-{uuid.uuid4().hex[:8]}"
    handle = ThreeSteps.start_durable({"customer": "unheard"}, queue=queue)
    quick = Runtime(
        runtime.app,
        Settings(
            database_url=runtime.settings.database_url,
            dispatch_grace=0.2,
            dispatch_backoff_max=0.8,
        ),
    )
    with caplog.at_level(logging.WARNING, logger="durable_celery.poller"):
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            poll_once(quick)
            time.sleep(0.05)
    # Every 0.2 s without a backoff (about 20 messages); with it, re-sends after 0.2, 0.4,
    # 0.8, 0.8, ... seconds: the start's own message and about 6 more.
    assert 4 <= redis_client.llen(queue) <= 9
    warning = next(r.getMessage() for r in caplog.records if handle.id in r.getMessage())
    assert f"on queue {queue!r}" in warning and f"celery worker -Q {queue}" in warning
    assert handle.status() == "pending"
