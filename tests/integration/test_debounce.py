"""Debounced starts: starts with one key collapse into one pending execution that runs
once, `debounce` after the last start, with the last input; a claimed execution closes
its window; concurrent starts collapse too; `debounce_max` caps the delay."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.cli import main
from durable_celery.errors import InvalidOption
from durable_celery.testing import wait_until
from durable_celery.time import seconds
from tests.integration.flows import runs_of
from tests.integration.flows_debounce import Debounced, DebouncedWithTimeout

WORKFLOW = "tests.debounced"


def _key() -> str:
    return f"debounce-{uuid.uuid4()}"


def _rows(db, key: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    rows = db.execute(
        text(
            "SELECT id::text AS id, status, input, created_at, run_at, started_at "
            "FROM workflow_executions WHERE workflow = :workflow AND debounce_key = :key "
            "ORDER BY created_at"
        ),
        {"workflow": WORKFLOW, "key": key},
    ).mappings()
    found = [dict(row) for row in rows]
    db.rollback()
    return found


def _db_now(db):  # type: ignore[no-untyped-def]
    now = db.execute(text("SELECT clock_timestamp()")).scalar_one()
    db.rollback()
    return now


def test_a_burst_of_starts_runs_once_with_the_last_input(worker, db):
    key, other = _key(), _key()
    handles = []
    for n in range(20):  # 20 starts in about a second
        if n == 19:
            before_last = _db_now(db)
        else:
            time.sleep(0.05)
        handles.append(Debounced.start_durable({"n": n}, debounce=seconds(2), debounce_key=key))
    mine = Debounced.start_durable({"n": "other"}, debounce=seconds(2), debounce_key=other)

    assert len({handle.id for handle in handles}) == 1
    first = handles[0]
    assert mine.id != first.id
    # Still in its window: pending, holding the last input.
    assert first.status() == dc.ExecutionStatus.PENDING
    assert dc.get_execution(first.id).input == {"n": 19}
    assert dc.get_execution(first.id).debounce_key == key

    assert first.result(timeout=30) == {"n": 19}
    assert mine.result(timeout=30) == {"n": "other"}
    assert runs_of(first.id, "collect") == 1
    (row,) = _rows(db, key)
    # Trailing: it ran no sooner than the window after the last start.
    assert row["started_at"] >= before_last + timedelta(seconds=2)
    assert len(_rows(db, other)) == 1

    # It ran: the next start opens a new window, a new execution.
    again = Debounced.start_durable({"n": 20}, debounce=seconds(1), debounce_key=key)
    assert again.id != first.id
    assert again.result(timeout=30) == {"n": 20}
    assert [row["id"] for row in _rows(db, key)] == [first.id, again.id]
    assert runs_of(first.id, "collect") == 1 and runs_of(again.id, "collect") == 1


def test_concurrent_starts_from_eight_threads_collapse_into_one(worker, db):
    key = _key()
    barrier = threading.Barrier(8)
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def starter(thread: int) -> None:
        try:
            barrier.wait(timeout=10)
            for n in range(10):
                handle = dc.start(
                    WORKFLOW, {"thread": thread, "n": n}, debounce=seconds(3), debounce_key=key
                )
                with lock:
                    ids.append(handle.id)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=starter, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(ids) == 80 and len(set(ids)) == 1
    (row,) = _rows(db, key)
    last_input = row["input"]  # what the last start to commit wrote
    assert dc.ExecutionHandle(ids[0]).result(timeout=30) == last_input
    assert runs_of(ids[0], "collect") == 1


def test_debounce_max_runs_a_steady_stream(worker, db):
    key = _key()
    seen: list[str] = []
    deadline = time.monotonic() + 15
    # A start every 0.2 s would push a 1-s window forever; debounce_max=2.5 s runs it.
    while time.monotonic() < deadline:
        handle = Debounced.start_durable(
            {"n": len(seen)},
            debounce=seconds(1),
            debounce_max=seconds(2.5),
            debounce_key=key,
        )
        seen.append(handle.id)
        if len(set(seen)) > 1:
            break
        time.sleep(0.2)

    first, second = seen[0], seen[-1]
    assert second != first, "the stream was never run"
    result = dc.ExecutionHandle(first).result(timeout=30)
    assert runs_of(first, "collect") == 1
    rows = {row["id"]: row for row in _rows(db, key)}
    started = rows[first]["started_at"]
    assert started is not None
    waited = (started - rows[first]["created_at"]).total_seconds()
    assert 2.4 <= waited < 6, waited
    # The input of the last start that joined it.
    assert result == {"n": len(seen) - 2}
    assert dc.ExecutionHandle(second).result(timeout=30) == {"n": len(seen) - 1}


def test_the_command_line_debounces(worker, db, capsys):
    key = _key()
    argv = ["start", WORKFLOW, "--debounce", "1s", "--debounce-key", key]
    assert main([*argv[:2], '{"n": 1}', *argv[2:]]) == 0
    first = capsys.readouterr().out.strip()
    assert main([*argv[:2], '{"n": 2}', *argv[2:], "--debounce-max", "5s"]) == 0
    assert capsys.readouterr().out.strip() == first
    assert dc.ExecutionHandle(first).result(timeout=30) == {"n": 2}
    assert main(["show", first]) == 0
    assert f"debounce   {key}" in capsys.readouterr().out


def test_a_transactional_debounced_start_rolled_back_changes_nothing(runtime, db):
    key = _key()
    with runtime.database.connect() as conn:
        conn.begin()
        Debounced.start_durable({"n": 1}, debounce=seconds(60), debounce_key=key, session=conn)
        conn.rollback()
    assert _rows(db, key) == []


def test_bad_debounce_options_write_nothing(runtime, db):
    key = _key()
    before = db.execute(text("SELECT count(*) FROM workflow_executions")).scalar_one()
    db.rollback()
    for options in (
        {"debounce": seconds(1)},
        {"debounce_key": key},
        {"debounce": 0, "debounce_key": key},
        {"debounce": 1, "debounce_key": key, "idempotency_key": key},
        {"debounce": 1, "debounce_key": key, "delay": 5},
        {"debounce": 2, "debounce_key": key, "debounce_max": 1},
    ):
        with pytest.raises(InvalidOption):
            Debounced.start_durable({}, **options)
    with pytest.raises(InvalidOption, match="start_many does not debounce"):
        Debounced.start_many([{}, {}], debounce=1, debounce_key=key)
    assert db.execute(text("SELECT count(*) FROM workflow_executions")).scalar_one() == before
    db.rollback()


def test_retrying_an_execution_that_timed_out_in_its_window_reopens_no_window(worker, db):
    key, nobody = _key(), f"nobody-{uuid.uuid4().hex[:8]}"  # a queue no worker consumes
    first = DebouncedWithTimeout.start_durable(
        {"n": 1}, debounce=0.2, debounce_key=key, queue=nobody
    )
    assert wait_until(lambda: first.status() == dc.ExecutionStatus.TIMED_OUT, 20)
    later = {"debounce": 5, "debounce_key": key, "queue": nobody}
    second = DebouncedWithTimeout.start_durable({"n": 2}, **later)
    assert second.id != first.id

    # Pending again and never claimed: it must neither collide with the open window
    # (a unique violation) nor take it over.
    dc.retry(first.id)

    assert DebouncedWithTimeout.start_durable({"n": 3}, **later).id == second.id
    assert dc.get_execution(first.id).input == {"n": 1}
    assert dc.get_execution(second.id).input == {"n": 3}
    dc.cancel(second.id)  # the first times out again by itself


def test_the_open_windows_index_is_unique_and_partial(db):
    definition = db.execute(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_workflow_executions_debounce'")
    ).scalar_one()
    db.rollback()
    assert definition.startswith("CREATE UNIQUE INDEX")
    assert definition.endswith(
        "(workflow, debounce_key) WHERE ((debounce_key IS NOT NULL) AND "
        "(status = 'pending'::text) AND (started_at IS NULL))"
    )
