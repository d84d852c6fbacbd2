"""Starting many executions at once: one statement per thousand, one transaction, keys
honoured per row, and nothing written when one input is bad."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.config import Settings
from durable_celery.runtime import Runtime, bundled_app
from durable_celery.store.connections import dispose_engines
from tests.integration.conftest import RUN, clone_database, drop_database, servers
from tests.integration.flows import ThreeSteps

MANY_DB = f"durable_many_{RUN}"


@pytest.fixture(scope="module")
def quiet(session_database: str) -> Iterator[Runtime]:
    """A database of its own, which no worker or beat touches: its commits are ours."""
    url = clone_database(MANY_DB)
    app = bundled_app()
    app.conf.broker_url = servers().redis.url(6)
    yield Runtime(app, Settings(database_url=url, workflow_modules=("tests.integration.flows",)))
    dispose_engines()
    drop_database(MANY_DB)


def commits(runtime: Runtime) -> int:
    dsn = runtime.database.url.set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def count(runtime: Runtime, sql: str = "SELECT count(*) FROM workflow_executions") -> int:
    with runtime.database.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_thousands_of_starts_are_one_transaction(quiet: Runtime) -> None:
    dispose_engines()
    before = commits(quiet)
    handles = dc.start_many(
        "tests.three_steps",
        [{"customer": f"c{n}"} for n in range(2500)],
        queue="nobody-consumes-this",
        runtime=quiet,
    )
    dispose_engines()
    after = commits(quiet)
    assert len(handles) == 2500 == len({handle.id for handle in handles})
    # One transaction (three INSERTs of a thousand rows); a start each would be 2,500. The
    # margin: backends of earlier tests report their commits up to a second late.
    assert after - before <= 20
    with quiet.database.connect() as conn:
        rows = conn.execute(text("SELECT id::text, input->>'customer' FROM workflow_executions"))
        inputs = dict(rows.all())
    assert [inputs[handle.id] for handle in handles[:3]] == ["c0", "c1", "c2"]
    assert inputs[handles[-1].id] == "c2499"


def test_idempotency_keys_are_honoured_row_by_row(quiet: Runtime) -> None:
    first = dc.start_many(
        ThreeSteps, [{"customer": "a"}], idempotency_keys=["order-1"], runtime=quiet
    )
    again = dc.start_many(
        ThreeSteps,
        [{"customer": "a2"}, {"customer": "b"}, {"customer": "b2"}, {"customer": "c"}],
        idempotency_keys=["order-1", "order-2", "order-2", None],
        runtime=quiet,
    )
    assert again[0].id == first[0].id  # known before: the first execution
    assert again[1].id == again[2].id  # twice in one batch: one execution
    assert len({handle.id for handle in again}) == 3
    rows = count(
        quiet, "SELECT count(*) FROM workflow_executions WHERE idempotency_key = 'order-2'"
    )
    assert rows == 1


def test_a_bad_input_anywhere_starts_nothing(quiet: Runtime) -> None:
    before = count(quiet)
    with pytest.raises(dc.InvalidPayload, match="input 1 of workflow"):
        dc.start_many(ThreeSteps, [{"customer": "ok"}, {"customer": float("nan")}], runtime=quiet)
    with pytest.raises(dc.InvalidOption, match="2 keys for 3 inputs"):
        dc.start_many(ThreeSteps, [{}, {}, {}], idempotency_keys=["a", "b"], runtime=quiet)
    with pytest.raises(dc.InvalidPayload, match="takes a list of inputs"):
        dc.start_many(ThreeSteps, {"customer": "one"}, runtime=quiet)  # type: ignore[arg-type]
    with pytest.raises(dc.UnknownWorkflow):
        dc.start_many("tests.nope", [{}], runtime=quiet)
    assert count(quiet) == before


def test_started_in_the_callers_transaction_and_only_woken_after_commit(quiet: Runtime) -> None:
    before = count(quiet)
    with quiet.database.connect() as conn:
        handles = dc.start_many(ThreeSteps, [{}, {}], session=conn, runtime=quiet)
        conn.rollback()
    assert count(quiet) == before
    with quiet.database.connect() as conn:
        handles = dc.start_many(ThreeSteps, [{}, {}], session=conn, runtime=quiet)
        conn.commit()
    assert count(quiet) == before + 2
    assert {handle.status(): 0 for handle in handles} == {"pending": 0}


def test_started_together_they_all_run(worker) -> None:
    handles = ThreeSteps.start_many([{"customer": f"run-{n}"} for n in range(40)])
    assert all(handle.result(timeout=60)["n"] == 3 for handle in handles)
    customers = [handle.execution(include_steps=False).context["customer"] for handle in handles]
    assert customers == [f"run-{n}" for n in range(40)]
