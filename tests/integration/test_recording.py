"""Every attempt ends recorded, even when its result, its error or its logs cannot be
stored as they are: never an execution left running on a claim nobody can write for."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.testing import wait_until
from tests.integration.flows import runs_of
from tests.integration.flows_failures import (
    Exits,
    ItemsFailUnstorably,
    ItemsReturnUnstorable,
    LogsUnstorable,
    PutsUnstorable,
    RaisesUnprintable,
    RaisesUnstorable,
    RefusedByTheDatabase,
    ReturnsUnstorable,
    WaitsOnABadName,
)


def ended(handle: dc.ExecutionHandle, timeout: float = 30) -> dc.Execution:
    """The execution once it has ended; promptly, not after a stale-claim recovery."""
    assert wait_until(lambda: handle.status().finished, timeout), handle.status()
    return handle.execution()


@pytest.mark.parametrize(
    ("message", "stored"),
    [
        ("nul", "a NUL \ufffd in the middle"),
        ("surrogate", "half a pair \ufffd here"),
    ],
)
def test_an_error_message_postgresql_cannot_store_is_recorded_sanitised(worker, message, stored):
    execution = ended(RaisesUnstorable.start_durable({"message": message}))
    assert execution.status == "failed"
    assert execution.error["type"] == "ValueError"
    assert execution.error["message"] == stored
    assert [(s.step, s.status) for s in execution.steps] == [("boom", "failed")]
    assert runs_of(execution.id, "boom") == 1


def test_an_error_whose_str_raises_is_recorded(worker):
    execution = ended(RaisesUnprintable.start_durable({}))
    assert execution.status == "failed"
    assert execution.error["type"].endswith("flows_failures.Unprintable")
    assert "describing it raised RuntimeError" in execution.error["message"]
    assert runs_of(execution.id, "boom") == 1


def test_a_huge_error_message_is_cut_to_the_limit_with_a_marker(worker, db):
    execution = ended(RaisesUnstorable.start_durable({"message": "huge"}), 60)
    assert execution.status == "failed"
    assert execution.error["message"].endswith("more characters]")
    sizes = db.execute(
        text(
            "SELECT pg_column_size(e.error) AS execution, pg_column_size(s.error) AS step "
            "FROM workflow_executions e JOIN step_executions s ON s.execution_id = e.id "
            "WHERE e.id = :id"
        ),
        {"id": execution.id},
    ).one()
    db.rollback()
    assert sizes.execution < 70_000 and sizes.step < 70_000  # durable_max_error_bytes: 64 KiB


def test_log_lines_postgresql_cannot_store_are_sanitised_and_capped(worker):
    execution = ended(LogsUnstorable.start_durable({"lines": 5_000}))
    assert execution.status == "completed"
    (attempt,) = execution.steps
    assert attempt.logs[0] == "INFO a NUL \ufffd and a lone surrogate \ufffd"
    assert attempt.logs[-1].endswith("more log lines dropped: durable_max_log_bytes]")
    assert sum(len(line) for line in attempt.logs) < 70_000


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (ReturnsUnstorable, "output of step 'half_a_pair' contains a lone surrogate"),
        (PutsUnstorable, "context contains a lone surrogate"),
        (WaitsOnABadName, "contains a NUL character or a lone surrogate"),
    ],
)
def test_a_value_postgresql_cannot_store_fails_the_step_with_a_recorded_error(
    worker, flow, message
):
    execution = ended(flow.start_durable({}))
    assert execution.status == "failed"
    assert execution.error["type"] in (
        "durable_celery.errors.InvalidPayload",
        "durable_celery.errors.InvalidOption",
    )
    assert message in execution.error["message"]
    assert [s.status for s in execution.steps] == ["failed"]


def test_sys_exit_in_a_step_fails_it_at_once_and_spares_the_worker(worker):
    started = time.monotonic()
    execution = ended(Exits.start_durable({}))
    assert time.monotonic() - started < 15  # not after rounds of stale recovery
    assert execution.status == "failed"
    assert (execution.error["type"], execution.error["message"]) == ("SystemExit", "3")
    assert [(s.step, s.attempt, s.status) for s in execution.steps] == [("leave", 1, "failed")]
    assert (runs_of(execution.id, "leave"), runs_of(execution.id, "never")) == (1, 0)
    assert worker.alive()
    assert dc.start("tests.three_steps", {"customer": "next"}).result(timeout=30)["n"] == 3


def test_an_item_error_postgresql_cannot_store_fails_the_item_and_its_step(worker, db):
    execution = ended(ItemsFailUnstorably.start_durable({}))
    assert execution.status == "failed"
    assert execution.error["type"] == "durable_celery.errors.FanoutFailed"
    assert "item \ufffd of \ufffd kind" in execution.error["message"]
    running = db.execute(
        text("SELECT count(*) FROM step_items WHERE execution_id = :id AND status = 'running'"),
        {"id": execution.id},
    ).scalar_one()
    db.rollback()
    assert running == 0


def test_an_item_output_postgresql_cannot_store_fails_that_item(worker):
    handle = ItemsReturnUnstorable.start_durable({})
    outputs = handle.result(timeout=30)
    assert outputs[0] == 0 and outputs[2] == 2
    assert outputs[1]["error"]["type"] == "durable_celery.errors.InvalidPayload"
    assert "lone surrogate" in outputs[1]["error"]["message"]


@pytest.fixture()
def refusing_trigger(db) -> Iterator[object]:
    """PostgreSQL refuses step rows of the step `refused_by_the_database`: completed ones
    (`kind="completed"`), or every one (`kind="all"`)."""

    def install(kind: str) -> None:
        condition = "NEW.status = 'completed'" if kind == "completed" else "true"
        db.execute(
            text(
                f"""
                CREATE OR REPLACE FUNCTION refuse_step_rows() RETURNS trigger AS $$
                BEGIN
                    IF NEW.step_name = 'refused_by_the_database' AND {condition} THEN
                        RAISE EXCEPTION 'this row is refused on purpose';
                    END IF;
                    RETURN NEW;
                END $$ LANGUAGE plpgsql;
                CREATE TRIGGER refuse_step_rows BEFORE INSERT ON step_executions
                    FOR EACH ROW EXECUTE FUNCTION refuse_step_rows();
                """
            )
        )
        db.commit()

    yield install
    db.rollback()
    db.execute(text("DROP TRIGGER IF EXISTS refuse_step_rows ON step_executions"))
    db.execute(text("DROP FUNCTION IF EXISTS refuse_step_rows()"))
    db.commit()


def test_a_checkpoint_the_database_refuses_ends_as_recording_failed(worker, refusing_trigger):
    refusing_trigger("completed")
    execution = ended(RefusedByTheDatabase.start_durable({}))
    assert execution.status == "failed"
    assert execution.error["type"] == "durable_celery.errors.RecordingFailed"
    assert "this row is refused on purpose" in execution.error["message"]
    assert [(s.step, s.status) for s in execution.steps] == [("refused_by_the_database", "failed")]
    assert runs_of(execution.id, "refused_by_the_database") == 1


def test_when_even_the_failure_row_is_refused_the_execution_still_fails(worker, refusing_trigger):
    refusing_trigger("all")
    execution = ended(RefusedByTheDatabase.start_durable({}))
    assert execution.status == "failed"
    assert execution.error["type"] == "durable_celery.errors.RecordingFailed"
    assert execution.steps == ()
    assert runs_of(execution.id, "refused_by_the_database") == 1
