"""The broker-involving behaviours on RabbitMQ (amqp://guest:guest@127.0.0.1:5672//): the
rest of the suite runs them on Redis (test_execution, test_waits, test_lost_signals,
test_faults). One worker subprocess of this module, on a database and a queue of its own
(named after the run, deleted at the end), covers:

- start -> wake-up -> completion (the app's task_default_queue routes the wake-ups);
- fan-out items (@each), one message per item;
- a durable sleep woken by the poller (the worker's embedded beat);
- a wake-up lost before it reached the broker, re-sent by the poller;
- cancel of a waiting child, whose end wakes its waiting parent;
- an event resuming a waiting execution;
- a broker restart with executions waiting on a quorum queue (a private RabbitMQ node:
  the machine's own is never restarted).

Skipped when nothing answers on 127.0.0.1:5672, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from kombu import Connection, Exchange, Queue
from sqlalchemy import text

import durable_celery as dc
from durable_celery import install
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.store.connections import dispose_engines
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT, RUN, clone_database, drop_database
from tests.integration.flows_rabbitmq import (
    RabbitFanOut,
    RabbitParent,
    RabbitSleeper,
    RabbitSteps,
    RabbitWaiter,
)
from tests.rabbitmq_node import NodeUnavailable, PrivateRabbitMQ, queues_of

RABBITMQ_URL = os.environ.get("DURABLE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
WORKER_ENV = {
    "DURABLE_WORKFLOW_MODULES": "tests.integration.flows_rabbitmq",
    "DURABLE_POLL_INTERVAL": "0.3",
    # A lost wake-up is re-sent one second after it was due, not the default ten.
    "DURABLE_DISPATCH_GRACE": "1",
}


def _reachable(url: str) -> bool:
    host = Connection(url).hostname or "127.0.0.1"
    port = Connection(url).port or 5672
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module", autouse=True)
def rabbitmq_up() -> None:
    if not _reachable(RABBITMQ_URL):
        reason = f"no RabbitMQ answers at {RABBITMQ_URL}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI runs the RabbitMQ tests, start it (./dev setup)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def private_node() -> Iterator[PrivateRabbitMQ | str]:
    """Launched first, booting (about 7 s) while the other tests run; the restart test waits
    for it. Yields the reason instead when it cannot run here."""
    node = PrivateRabbitMQ()
    try:
        yield node.launch()
    except NodeUnavailable as exc:
        yield str(exc)
    finally:
        node.remove()


class RabbitSetup:
    """A database, a queue, a worker subprocess and a client app, all on one broker."""

    def __init__(self, broker: str, name: str, queue_type: str = "classic") -> None:
        self.broker = broker
        self.queue = f"durable-test-{RUN}-{name}-{uuid.uuid4().hex[:6]}"
        self.database = f"durable_rabbit_{RUN}_{name}"
        self.database_url = clone_database(self.database)
        env = {
            **os.environ,
            **WORKER_ENV,
            "CELERY_BROKER_URL": broker,
            "DURABLE_DATABASE_URL": self.database_url,
            "DURABLE_MAINTENANCE_QUEUE": self.queue,
            "DURABLE_TEST_RABBIT_QUEUE": self.queue,
            "DURABLE_TEST_RABBIT_QUEUE_TYPE": queue_type,
        }
        self.worker = WorkerProcess(
            app="tests.integration.rabbit_app",
            queues=[self.queue],
            concurrency=2,
            beat=True,
            cwd=ROOT,
            name=f"rabbit-{name}",
            env=env,
        )
        # The client side: an app of the test process that publishes to the same broker.
        self.app = Celery(f"rabbit-client-{name}")
        self.app.conf.update(
            broker_url=broker,
            task_default_queue=self.queue,
            task_queues=queues_of(self.queue, queue_type) or None,
            broker_connection_timeout=2,
        )

    def activate(self) -> Runtime:
        return install(self.app, database_url=self.database_url, workflows=[])

    def delete_queue(self) -> None:
        with Connection(self.broker, connect_timeout=2) as conn:
            channel = conn.channel()
            Queue(self.queue, Exchange(self.queue), self.queue)(channel).delete()
            Exchange(self.queue)(channel).delete()

    def close(self) -> None:
        self.worker.stop()
        self.app.close()
        dispose_engines()
        drop_database(self.database)


@pytest.fixture(scope="module")
def on_rabbitmq(runtime: Any, request: pytest.FixtureRequest) -> Iterator[RabbitSetup]:
    """The module's worker on the machine's RabbitMQ; its client app is the current
    runtime (and CELERY_BROKER_URL, which Celery prefers to the app's setting, points at
    RabbitMQ) for the module, then the session's runtime comes back."""
    if any("private_node" in item.fixturenames for item in request.session.items):
        request.getfixturevalue("private_node")  # boots while the tests below run
    setup = RabbitSetup(RABBITMQ_URL, "main")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CELERY_BROKER_URL", RABBITMQ_URL)
        setup.worker.start()
        setup.activate()
        try:
            yield setup
        finally:
            runtime.activate()
            setup.close()
            setup.delete_queue()


def test_rabbitmq_start_wake_up_completion_on_the_default_queue(on_rabbitmq):
    handle = RabbitSteps.start_durable({"broker": "rabbitmq"})
    assert handle.result(timeout=30) == {"n": 3, "input": {"broker": "rabbitmq"}}
    assert handle.execution().queue == on_rabbitmq.queue  # the app's task_default_queue


def test_rabbitmq_fan_out_items(on_rabbitmq):
    assert RabbitFanOut.start_durable({}).result(timeout=30) == sum(i * i for i in range(6))


def test_rabbitmq_a_sleep_is_woken_by_the_poller(on_rabbitmq):
    handle = RabbitSleeper.start_durable({})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    assert handle.result(timeout=30) == "rested"


def test_rabbitmq_a_lost_wake_up_is_re_sent_by_the_poller(on_rabbitmq, monkeypatch):
    client = current_runtime()
    # The start commits its execution and its wake-up never reaches the broker.
    monkeypatch.setattr(client, "publish", lambda wakeups: None)
    handle = RabbitSteps.start_durable({"lost": True})
    monkeypatch.undo()
    assert handle.status() == "pending"
    assert handle.result(timeout=30)["n"] == 3


def test_rabbitmq_cancelling_a_waiting_child_wakes_its_parent(on_rabbitmq):
    parent = RabbitParent.start_durable({})

    def waiting_child() -> str | None:
        with current_runtime().database.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT id FROM workflow_executions WHERE parent_id = :p AND status = 'waiting'"
                ),
                {"p": parent.id},
            ).first()
        return None if row is None else str(row.id)

    assert wait_until(lambda: waiting_child() is not None, timeout=30)
    child = waiting_child()
    assert child is not None
    assert dc.cancel(child) == "cancelled"
    assert parent.result(timeout=30) == "child ended without a result"


def test_rabbitmq_an_event_resumes_a_waiting_execution(on_rabbitmq):
    handle = RabbitWaiter.start_durable({})
    assert wait_until(lambda: handle.status() == "waiting", timeout=30)
    dc.send_event(handle.id, "go", {"paid": 42})
    assert handle.result(timeout=30) == {"paid": 42}


@pytest.mark.faults
def test_rabbitmq_restart_while_executions_wait(private_node):
    if isinstance(private_node, str):
        pytest.skip(f"no private RabbitMQ node to restart: {private_node}")
    try:
        private_node.wait_ready()
    except NodeUnavailable as exc:
        pytest.skip(f"no private RabbitMQ node to restart: {exc}")
    previous = current_runtime()
    # A quorum queue (with a delivery limit), as recommended for RabbitMQ in production.
    setup = RabbitSetup(private_node.url, "restart", queue_type="quorum")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CELERY_BROKER_URL", private_node.url)
        setup.worker.start()
        setup.activate()
        try:
            sleeping = [RabbitSleeper.start_durable({}) for _ in range(3)]
            assert wait_until(lambda: all(h.status() == "waiting" for h in sleeping), 30)
            private_node.stop()
            # Started while the broker is down: committed, their wake-ups not published.
            started_after = [RabbitSteps.start_durable({"after": i}) for i in range(3)]
            private_node.launch().wait_ready()
            for handle in sleeping:
                assert handle.result(timeout=60) == "rested"
            for handle in started_after:
                assert handle.result(timeout=60)["n"] == 3
            assert setup.worker.alive()
        finally:
            previous.activate()
            setup.close()
