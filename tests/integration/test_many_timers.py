"""Many timers due at once: pollers drain them batch after batch, each wake-up sent once,
and a wake-up that waits its turn behind a backlog is not sent again.

Each test has a database of its own (no session beat polls it) and counts every wake-up
its pollers publish.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from benchmarks.timers import clone_sleeping
from durable_celery.config import Settings
from durable_celery.engine import poll_once
from durable_celery.runtime import Runtime, bundled_app
from durable_celery.store.connections import dispose_engines
from durable_celery.store.records import Wakeup
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import (
    BROKER_DB,
    ROOT,
    RUN,
    clone_database,
    drop_database,
    servers,
)
from tests.integration.flows_waits import SleepsUntil

TIMERS = 1_000
BATCH = 100
NEVER = datetime(2999, 1, 1, tzinfo=UTC).isoformat()


class Recording(Runtime):
    """A runtime that keeps every batch of wake-ups it publishes."""

    def __init__(self, url: str, **settings: Any) -> None:
        app = bundled_app()
        app.conf.broker_url = servers().redis.url(BROKER_DB)
        super().__init__(app, Settings(database_url=url, **settings))
        self.batches: list[list[str]] = []

    def publish(self, wakeups: Iterable[Wakeup]) -> None:
        batch = list(wakeups)
        super().publish(batch)
        if batch:
            self.batches.append([wakeup.id for wakeup in batch])

    def sql(self, statement: str, **params: Any) -> list[Any]:
        with self.database.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []


@pytest.fixture()
def database(session_database: str) -> Iterator[str]:
    name = f"durable_timers_{RUN}_{uuid.uuid4().hex[:6]}"
    yield clone_database(name)
    dispose_engines()
    drop_database(name)


@pytest.fixture()
def queue(redis_client: Any) -> Iterator[str]:
    name = f"many-timers-{uuid.uuid4().hex[:8]}"
    yield name
    for key in redis_client.scan_iter(match=f"{name}*"):
        redis_client.delete(key)


@pytest.mark.timeout(420)
def test_two_pollers_send_a_thousand_timers_due_at_once_each_exactly_once(database, queue):
    # Grace 600 s: no wake-up may be re-sent during the test, so an execution sent twice
    # was taken by both pollers. Interval 60 s: one poll each has the budget to drain all.
    pollers = [
        Recording(database, poll_batch_size=BATCH, poll_interval=60, dispatch_grace=600)
        for _ in range(2)
    ]
    setup = pollers[0]
    env = {**os.environ, "DURABLE_DATABASE_URL": database}
    worker = WorkerProcess(queues=[queue], concurrency=2, cwd=ROOT, name=queue, env=env)
    with worker:
        template = setup.start(setup.new_execution(SleepsUntil, {"until": NEVER}, queue=queue))
        assert wait_until(lambda: _status(setup, template) == "waiting", 60)
        with setup.database.begin() as conn:
            due = conn.execute(text("SELECT now() + interval '2 seconds'")).scalar_one()
            clone_sleeping(conn, template, TIMERS, due)
            conn.execute(text("DELETE FROM workflow_executions WHERE id = :id"), {"id": template})
        clones = {str(row.id) for row in setup.sql("SELECT id FROM workflow_executions")}
        assert len(clones) == TIMERS
        setup.batches.clear()  # the template's start

        # Both pollers start together, once the timers are due; one poll each.
        start = threading.Barrier(2)
        sent: list[int] = []

        def poll(runtime: Recording) -> None:
            start.wait()
            time.sleep(max(0.0, due.timestamp() - time.time()) + 0.2)
            sent.append(poll_once(runtime))

        threads = [threading.Thread(target=poll, args=(p,)) for p in pollers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

        # Each poll took batch after batch until the other had the rest: together they
        # dispatched every timer (one batch per poll would make 2 x 100).
        assert sum(sent) == TIMERS, sent
        batches = [batch for p in pollers for batch in p.batches]
        assert all(len(batch) <= BATCH for batch in batches)
        published = Counter(wakeup for batch in batches for wakeup in batch)
        assert set(published) == clones
        assert max(published.values()) == 1

        assert wait_until(lambda: _completed(setup) == TIMERS, 300, interval=0.5)
    rows = setup.sql(
        "SELECT e.result, count(s.id) AS steps FROM workflow_executions e "
        "LEFT JOIN step_executions s ON s.execution_id = e.id AND s.status = 'completed' "
        "GROUP BY e.id, e.result"
    )
    assert Counter((row.result, row.steps) for row in rows) == {("awake", 1): TIMERS}


def test_a_wake_up_behind_a_backlog_waits_and_one_skipped_is_sent_again(database, queue):
    poller = Recording(database, dispatch_grace=30)
    waiting, ahead, resent, elsewhere = (
        poller.start(poller.new_execution(SleepsUntil, {"until": NEVER}, queue=name))
        for name in (queue, queue, queue, f"{queue}-idle")
    )
    # `waiting` was sent 2 minutes ago and never claimed. On its queue a worker claimed,
    # a moment ago, `ahead`, sent before it (the queue is worked through in order and
    # `waiting` is still in it), and `resent`, re-sent just now and claimed through its
    # first wake-up. `elsewhere` waits on a queue where nothing ran: lost, for all we know.
    poller.sql(
        "UPDATE workflow_executions SET status = 'pending', run_at = now() - interval '2 min', "
        "dispatched_at = now() - interval '2 min' WHERE id IN (:a, :b)",
        a=waiting,
        b=elsewhere,
    )
    claimed = (
        "UPDATE workflow_executions SET status = 'completed', completed_at = now(), "
        "locked_at = now() - interval '1 second', dispatched_at = now() - CAST(:sent AS interval) "
        "WHERE id = :id"
    )
    poller.sql(claimed, id=ahead, sent="5 min")
    poller.sql(claimed, id=resent, sent="2 seconds")
    poller.batches.clear()  # the starts'
    poll_once(poller)
    assert poller.batches == [[elsewhere]]

    # Every wake-up claimed lately was sent well after `waiting`: it was skipped.
    poller.sql(claimed, id=ahead, sent="1 min")
    poll_once(poller)
    assert poller.batches == [[elsewhere], [waiting]]
    assert poller.sql("SELECT resends FROM workflow_executions WHERE id = :id", id=waiting) == [
        (1,)
    ]


def _status(runtime: Recording, execution_id: str) -> str:
    rows = runtime.sql("SELECT status FROM workflow_executions WHERE id = :id", id=execution_id)
    return str(rows[0].status)


def _completed(runtime: Recording) -> int:
    rows = runtime.sql("SELECT count(*) FROM workflow_executions WHERE status = 'completed'")
    return int(rows[0][0])
