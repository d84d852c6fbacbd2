"""Bulk control: cancel_many / retry_many in batches beside real workers, with the
semantics of cancel / retry, filters honoured, bad filters refused, and the commands."""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery
from sqlalchemy import create_engine, text

import durable_celery as dc
from durable_celery import install
from durable_celery.cli import main
from durable_celery.engine import run_execution
from durable_celery.states import ExecutionStatus
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT, RUN, clone_database, drop_database
from tests.integration.flows import ThreeSteps, runs_of
from tests.integration.flows_bulk import FailsUntilFixed, broken_key
from tests.integration.flows_control import Steps

HOUR = timedelta(hours=1)
BULK_QUEUE = f"bulk-{RUN}"
CANCELLED = ExecutionStatus.CANCELLED
PENDING = ExecutionStatus.PENDING


def unique_queue() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"


def idle(n: int, queue: str, runtime=None) -> list[str]:
    """n pending executions on a queue nobody consumes, due in an hour."""
    handles = dc.start_many(
        "tests.queries.idle", [{}] * n, queue=queue, delay=HOUR, runtime=runtime
    )
    return [handle.id for handle in handles]


def execute(db, statement: str, **params) -> None:
    db.execute(text(statement), params)
    db.commit()


@pytest.fixture(scope="module")
def bulk_worker(runtime):
    """A worker of this module's own, on a queue of its own, that also knows flows_bulk."""
    modules = os.environ["DURABLE_WORKFLOW_MODULES"] + ",tests.integration.flows_bulk"
    process = WorkerProcess(
        queues=[BULK_QUEUE],
        concurrency=2,
        env={**os.environ, "DURABLE_WORKFLOW_MODULES": modules},
        cwd=ROOT,
        name="bulk",
    ).start()
    yield process
    process.stop()


def test_a_thousand_pending_executions_are_cancelled_in_batches(runtime):
    queue = unique_queue()
    idle(1000, queue)
    progress: list[int] = []

    n = dc.cancel_many(queue=queue, batch_size=200, reason="drained", progress=progress.append)

    assert n == 1000
    assert progress == [200, 400, 600, 800, 1000]
    assert dc.count_executions(queue=queue) == {CANCELLED: 1000}
    some = dc.list_executions(queue=queue, limit=1)[0]
    assert some.error == {"type": "durable_celery.errors.WorkflowCancelled", "message": "drained"}
    assert dc.cancel_many(queue=queue) == 0


def test_two_concurrent_calls_never_count_an_execution_twice(runtime, db):
    queue = unique_queue()
    ids = idle(1000, queue)
    # A hundred families (a parent and two children): a cascade meets the other call's
    # batches, and children cancelled with their parent are counted by that call only.
    for k in range(100):
        execute(
            db,
            "UPDATE workflow_executions SET parent_id = :parent "
            "WHERE id = ANY(CAST(:children AS uuid[]))",
            parent=ids[k],
            children=ids[100 + 2 * k : 102 + 2 * k],
        )
    counts: list[int] = []
    start = threading.Barrier(2)

    def cancel() -> None:
        start.wait()
        counts.append(dc.cancel_many(queue=queue, batch_size=50, runtime=runtime))

    threads = [threading.Thread(target=cancel, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(counts) == 2, "a call did not return"
    changed = db.execute(
        text(
            "SELECT count(*) FROM workflow_executions WHERE queue = :queue AND status = 'cancelled'"
        ),
        {"queue": queue},
    ).scalar_one()
    db.rollback()
    assert changed == 1000
    assert sum(counts) == 1000, counts


def test_running_executions_stop_at_their_step_boundary(bulk_worker):
    running = [Steps.start_durable({"pause": 4}, queue=BULK_QUEUE) for _ in range(2)]
    later = Steps.start_many([{"pause": 4}] * 3, queue=BULK_QUEUE, delay=HOUR)
    assert wait_until(
        lambda: all(runs_of(h.id, "one") == 1 and h.status() == "running" for h in running),
        timeout=60,
    )

    assert dc.cancel_many(workflow=Steps.name, queue=BULK_QUEUE, reason="bulk stop") == 5

    assert all(h.status() == "cancelled" for h in later)  # at once
    assert all(h.status() == "running" for h in running)  # until their boundary
    # Already asked to stop: not taken (nor counted) again.
    assert dc.cancel_many(workflow=Steps.name, queue=BULK_QUEUE) == 0
    for handle in running:
        with pytest.raises(dc.WorkflowCancelled, match="bulk stop"):
            handle.result(timeout=30)
        execution = dc.get_execution(handle.id)
        assert [(s.step, s.status) for s in execution.steps] == [("one", "completed")]
        assert execution.error == {
            "type": "durable_celery.errors.WorkflowCancelled",
            "message": "bulk stop",
        }
        assert runs_of(handle.id, "two") == 0


def test_retry_many_resumes_failed_executions_which_then_complete(bulk_worker, redis_client):
    batch = uuid.uuid4().hex
    redis_client.set(broken_key(batch), 1)
    handles = FailsUntilFixed.start_many(
        [{"batch": batch, "i": i} for i in range(20)], queue=BULK_QUEUE
    )
    other = dc.start("tests.queries.fails", {}, queue=BULK_QUEUE)
    assert wait_until(
        lambda: (
            dc.count_executions(workflow=FailsUntilFixed.name, queue=BULK_QUEUE)
            == {ExecutionStatus.FAILED: 20}
            and other.status() == "failed"
        ),
        timeout=90,
    )

    assert dc.retry_many(workflow=FailsUntilFixed.name, queue=BULK_QUEUE, dry_run=True) == 20
    assert dc.retry_many(queue=BULK_QUEUE, status="timed_out") == 0
    redis_client.delete(broken_key(batch))
    progress: list[int] = []
    n = dc.retry_many(
        workflow=FailsUntilFixed.name, queue=BULK_QUEUE, batch_size=7, progress=progress.append
    )

    assert n == 20
    assert progress == [7, 14, 20]
    for handle in handles:
        assert handle.result(timeout=60) == "recovered"
        assert runs_of(handle.id, "first") == 1  # completed steps never run again
    steps = dc.get_execution(handles[0].id).steps
    assert [(s.step, s.status) for s in steps] == [
        ("first", "completed"),
        ("second", "failed"),
        ("second", "completed"),
    ]
    # Another workflow on the same queue was not touched.
    assert other.status() == "failed"
    assert len(dc.get_execution(other.id).steps) == 1
    assert dc.retry_many(workflow=FailsUntilFixed.name, queue=BULK_QUEUE) == 0


def test_filters_are_honoured(runtime, db):
    queue = unique_queue()
    mine = idle(4, queue)
    theirs = [h.id for h in ThreeSteps.start_many([{"customer": "c"}] * 3, queue=queue, delay=HOUR)]
    execute(
        db,
        "UPDATE workflow_executions SET created_at = now() - interval '3 hours' WHERE id = :id",
        id=mine[0],
    )
    execute(
        db, "UPDATE workflow_executions SET parent_id = :p WHERE id = :c", p=mine[1], c=theirs[0]
    )
    idle_name = "tests.queries.idle"

    assert dc.cancel_many(workflow=idle_name, queue=queue, older_than=2 * HOUR, dry_run=True) == 1
    assert dc.cancel_many(queue=queue, status="waiting") == 0
    assert dc.cancel_many(queue=unique_queue()) == 0
    assert dc.cancel_many(queue=queue, created_before=datetime.now(UTC) - HOUR) == 1
    assert dc.get_execution(mine[0]).status == "cancelled"
    # Children go with their parent, whatever their workflow, and are counted.
    assert dc.cancel_many(workflow=idle_name, queue=queue) == 4
    child = dc.get_execution(theirs[0])
    assert child.status == "cancelled"
    assert child.error["message"] == "parent execution ended (cancelled)"
    assert dc.count_executions(queue=queue) == {CANCELLED: 5, PENDING: 2}
    # Another workflow untouched until asked for.
    assert (
        dc.cancel_many(queue=queue, status=["pending", "running", "waiting", "compensating"]) == 2
    )
    assert dc.count_executions(queue=queue) == {CANCELLED: 7}


# --- a database of its own: calls that, were a check missing, would change everything -----


class Private:
    def __init__(self, runtime, url: str) -> None:
        self.runtime, self.url = runtime, url
        self.engine = create_engine(url)

    def pending(self, n: int = 1) -> list[str]:
        return idle(n, "nobody-listens", runtime=self.runtime)

    def failed(self) -> str:
        execution_id = dc.start("tests.queries.fails", {}, runtime=self.runtime).id
        assert run_execution(self.runtime, execution_id) == "failed"
        return execution_id

    def rows(self) -> set[tuple[str, str, object]]:
        with self.engine.connect() as conn:
            return {
                (str(r.id), r.status, r.updated_at)
                for r in conn.execute(
                    text("SELECT id, status, updated_at FROM workflow_executions")
                )
            }


@pytest.fixture()
def private(runtime):
    name = f"durable_bulk_{RUN}_{uuid.uuid4().hex[:8]}"
    url = clone_database(name)
    tenant = install(Celery("bulk-test", broker="memory://"), database_url=url, workflows=[])
    own = Private(tenant, url)
    try:
        yield own
    finally:
        runtime.activate()
        own.engine.dispose()
        drop_database(name)


@pytest.mark.parametrize(
    ("call", "options", "error"),
    [
        (dc.cancel_many, {}, dc.InvalidOption),
        (dc.retry_many, {}, dc.InvalidOption),
        (dc.cancel_many, {"reason": "no filter"}, dc.InvalidOption),
        (dc.cancel_many, {"status": "done"}, dc.InvalidOption),
        (dc.cancel_many, {"status": ["pending", "failed"]}, dc.InvalidOption),
        (dc.retry_many, {"status": ["failed", "pending"]}, dc.InvalidOption),
        (dc.cancel_many, {"older_than": -60}, dc.InvalidOption),
        (dc.cancel_many, {"created_before": datetime.now()}, dc.InvalidOption),
        (dc.cancel_many, {"status": "pending", "reason": "\x00"}, dc.InvalidOption),
        (dc.cancel_many, {"status": "pending", "batch_size": 0}, dc.InvalidOption),
        (dc.retry_many, {"workflow": "no.such.workflow"}, dc.UnknownWorkflow),
    ],
)
def test_bad_filters_raise_and_change_nothing(private, call, options, error):
    private.pending(3)
    private.failed()
    before = private.rows()
    with pytest.raises(error):
        call(runtime=private.runtime, **options)
    assert private.rows() == before


def test_cli_cancel_many_and_retry_many(private, capsys):
    private.pending(3)
    failed = private.failed()
    base = ["--database-url", private.url]

    assert main([*base, "cancel-many", "--queue", "nobody-listens", "--dry-run"]) == 0
    assert capsys.readouterr().out == "would cancel 3 executions (dry run)\n"
    assert main([*base, "cancel-many", "--status", "pending", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"would_cancel": 3}
    assert main([*base, "cancel-many"]) == 2
    assert "error: cancel_many needs at least one filter" in capsys.readouterr().err
    assert (
        main(
            [
                *base,
                "cancel-many",
                "--workflow",
                "tests.queries.idle",
                "--batch-size",
                "2",
                "--reason",
                "cli",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out == "cancelled 3 executions\n"
    assert captured.err == "... 2 cancelled so far\n... 3 cancelled so far\n"
    assert {status for _, status, _ in private.rows()} == {"cancelled", "failed"}

    assert main([*base, "retry-many", "--status", "failed", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"would_retry": 1}
    assert main([*base, "retry-many", "--workflow", "tests.queries.fails"]) == 0
    assert capsys.readouterr().out == "resumed 1 execution\n"
    assert dc.get_execution(failed, runtime=private.runtime).status == "pending"
    assert main([*base, "retry-many", "--status", "failed", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"resumed": 0}


def test_rows_held_by_others_are_skipped_not_waited_for(private):
    ids = private.pending(5)
    outcome: dict[str, int] = {}
    with private.engine.connect() as other:
        other.execute(
            text("SELECT id FROM workflow_executions WHERE id = :id FOR UPDATE"), {"id": ids[0]}
        )
        call = threading.Thread(
            target=lambda: outcome.update(
                n=dc.cancel_many(status="pending", batch_size=2, runtime=private.runtime)
            ),
            daemon=True,
        )
        call.start()
        call.join(timeout=30)
        assert not call.is_alive(), "cancel_many waited for a row somebody else holds"
        assert outcome["n"] == 4
        assert dc.get_execution(ids[0], runtime=private.runtime).status == "pending"
        other.rollback()
    assert dc.cancel_many(status="pending", runtime=private.runtime) == 1


def test_retry_many_gives_timed_out_executions_a_fresh_deadline(private):
    ids = [
        dc.start("tests.slow_step", {}, queue="nobody-listens", runtime=private.runtime).id
        for _ in range(3)
    ]
    with private.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE workflow_executions SET status = 'timed_out', completed_at = now(), "
                "deadline_at = now() - interval '1 hour', step_attempt = 2, "
                'error = \'{"type": "x", "message": "late"}\' '
                "WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        )

    assert dc.retry_many(status="timed_out", runtime=private.runtime, batch_size=2) == 3

    with private.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT status, error, completed_at, step_attempt, "
                "extract(epoch FROM deadline_at - now()) AS left FROM workflow_executions "
                "WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": ids},
        ).all()
    for row in rows:
        assert (row.status, row.error, row.completed_at, row.step_attempt) == (
            "pending",
            None,
            None,
            0,
        )
        assert 0 < row.left <= 1.5  # the workflow's timeout, from now


# --- plans: a batch reads the live (or failed) rows, not the finished history ----------


@pytest.fixture()
def history_database(finished_history):
    return finished_history


@pytest.mark.parametrize(
    ("statement", "filters"),
    [
        ("LOCK_CANCELLABLE", {}),
        # 'history' is the workflow of the 1,000,000 finished executions.
        ("LOCK_CANCELLABLE", {"workflow": "history", "queue": "default"}),
        ("LOCK_RETRYABLE", {}),
        ("LOCK_RETRYABLE", {"workflow": "history"}),
    ],
)
def test_a_batch_never_scans_the_finished_history(history_database, statement, filters):
    from benchmarks.explain_poller import explain
    from durable_celery.store.sql import bulk

    now = datetime.now(UTC)
    params = {
        "workflow": None,
        "queue": None,
        "created_before": now,
        "finished_before": now,
        "statuses": ["failed", "timed_out"]
        if statement == "LOCK_RETRYABLE"
        else ["pending", "running", "waiting"],
        "compensating": True,
        "skip_workflows": [],
        "batch_size": 500,
        **filters,
    }
    with history_database.connect() as conn:
        plan = explain(conn, getattr(bulk, statement).text, params, analyze=False)
    assert "Index Scan using ix_workflow_executions_status_created" in plan, plan
    assert "Seq Scan on workflow_executions" not in plan, plan
