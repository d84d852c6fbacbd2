"""Bad input gets a typed error (a DurableError) and writes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

import durable_celery as dc
from tests.integration.flows import ThreeSteps


@pytest.fixture()
def row_counts(db):
    def counts() -> tuple[int, int]:
        db.rollback()
        executions = db.execute(text("SELECT count(*) FROM workflow_executions")).scalar_one()
        steps = db.execute(text("SELECT count(*) FROM step_executions")).scalar_one()
        return executions, steps

    return counts


def nested(depth: int) -> dict[str, Any]:
    outer: dict[str, Any] = {}
    inner = outer
    for _ in range(depth):
        inner["deeper"] = {}
        inner = inner["deeper"]
    return outer


BAD_STARTS = [
    pytest.param(
        lambda: dc.start("no.such.workflow", {}),
        dc.UnknownWorkflow,
        "no workflow is registered as 'no.such.workflow'",
        id="unknown-workflow",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({"when": datetime.now()}),
        dc.InvalidPayload,
        "not JSON-serialisable",
        id="non-json-input",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({"x": float("nan")}),
        dc.InvalidPayload,
        "not JSON-serialisable",
        id="nan-input",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable(["not", "a", "dict"]),
        dc.InvalidPayload,
        "must be a dict",
        id="list-input",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({"blob": "x" * 2_000_000}),
        dc.PayloadTooLarge,
        "over the limit",
        id="oversized-input",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({"s": "a\x00b"}),
        dc.InvalidPayload,
        "NUL",
        id="nul-in-input",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, delay=-5),
        dc.InvalidOption,
        "must not be negative",
        id="negative-delay",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, delay="soon"),
        dc.InvalidOption,
        "timedelta or a number",
        id="string-delay",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, run_at=datetime(2030, 1, 1)),
        dc.InvalidOption,
        "timezone-aware",
        id="naive-run-at",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, delay=1, run_at=datetime(2030, 1, 1)),
        dc.InvalidOption,
        "not both",
        id="delay-and-run-at",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, priority="high"),
        dc.InvalidOption,
        "priority",
        id="bad-priority",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, queue=""), dc.InvalidOption, "queue", id="empty-queue"
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, idempotency_key=""),
        dc.InvalidOption,
        "idempotency_key",
        id="empty-key",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, session="not a session"),
        dc.InvalidOption,
        "Session or Connection",
        id="bad-session",
    ),
    pytest.param(
        lambda: dc.start(42, {}), dc.InvalidOption, "registered name", id="non-string-name"
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, queue="pay\x00ments"),
        dc.InvalidOption,
        "queue may contain",
        id="nul-in-queue",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, queue="pay\ud800"),
        dc.InvalidOption,
        "queue may contain",
        id="surrogate-in-queue",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, queue="q" * 1_000_000),
        dc.InvalidOption,
        "at most 255 characters",
        id="megabyte-queue-name",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, idempotency_key="key\x00"),
        dc.InvalidOption,
        "NUL character or a lone surrogate",
        id="nul-in-key",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, idempotency_key="key\udc00"),
        dc.InvalidOption,
        "NUL character or a lone surrogate",
        id="surrogate-in-key",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({"s": "\ud800"}),
        dc.InvalidPayload,
        "lone surrogate",
        id="surrogate-in-input",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable(nested(2_000)),
        dc.InvalidPayload,
        "nested too deeply",
        id="deeply-nested-input",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, delay=1e15),
        dc.InvalidOption,
        "at most 36525 days",
        id="huge-delay",
    ),
    pytest.param(
        lambda: ThreeSteps.start_durable({}, delay=timedelta.max),
        dc.InvalidOption,
        "at most 36525 days",
        id="timedelta-max-delay",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_STARTS)
def test_bad_start_raises_a_typed_error_and_writes_nothing(
    call, error, message, runtime, row_counts
):
    before = row_counts()
    with pytest.raises(error, match=message) as raised:
        call()
    assert isinstance(raised.value, dc.DurableError)
    assert row_counts() == before


@pytest.mark.parametrize(
    ("execution_id", "error"),
    [
        ("not-a-uuid", dc.InvalidExecutionId),
        ("", dc.InvalidExecutionId),
        (12345, dc.InvalidExecutionId),
        ("6f1c2b1e-0000-4000-8000-000000000000", dc.ExecutionNotFound),
    ],
)
def test_reading_a_bad_or_unknown_execution_id_is_a_typed_error(execution_id, error, runtime):
    with pytest.raises(error):
        dc.get_execution(execution_id)
    with pytest.raises(error):
        dc.ExecutionHandle(execution_id, runtime).status()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": "sleeping"},
        {"limit": 0},
        {"offset": -1},
        {"limit": True},
        {"workflow": "a\x00b"},
        {"queue": "\ud800"},
    ],
)
def test_bad_list_filters_are_typed_errors(kwargs, runtime):
    with pytest.raises(dc.InvalidOption):
        dc.list_executions(**kwargs)
    if "workflow" in kwargs:
        with pytest.raises(dc.InvalidOption):
            dc.list_pending_inputs(workflow=kwargs["workflow"])


def test_the_literal_text_backslash_u0000_is_stored_as_it_is(worker):
    handle = ThreeSteps.start_durable({"customer": "C:\\u0000\\temp"})
    assert handle.result(timeout=30)["n"] == 3
    assert dc.get_execution(handle.id).input == {"customer": "C:\\u0000\\temp"}


def test_error_tree_has_one_root():
    for name in dc.__all__:
        value = getattr(dc, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, dc.DurableError), name
    assert issubclass(dc.ResultTimeout, TimeoutError)
    assert issubclass(dc.PayloadTooLarge, dc.InvalidPayload)


@pytest.fixture()
def signal_counts(db):
    def counts() -> tuple[int, int, int, int]:
        db.rollback()
        events = db.execute(text("SELECT count(*) FROM workflow_events")).scalar_one()
        answered = db.execute(
            text("SELECT count(*) FROM pending_inputs WHERE status <> 'pending'")
        ).scalar_one()
        woken = db.execute(
            text("SELECT count(*) FROM workflow_executions WHERE wake_requested")
        ).scalar_one()
        cancelled = db.execute(
            text(
                "SELECT count(*) FROM workflow_executions "
                "WHERE status = 'cancelled' OR cancel_requested_at IS NOT NULL"
            )
        ).scalar_one()
        return events, answered, woken, cancelled

    return counts


@pytest.fixture(scope="module")
def finished_id(runtime) -> str:
    from durable_celery.engine import run_execution

    handle = ThreeSteps.start_durable({"customer": "done"}, queue="nobody-listens")
    assert run_execution(runtime, handle.id) == "completed"
    return handle.id


@pytest.fixture(scope="module")
def waiting_id(runtime) -> str:
    handle = ThreeSteps.start_durable({"customer": "pending"}, queue="nobody-listens")
    return handle.id


UNKNOWN = "0a0b0c0d-0000-4000-8000-000000000000"


def _bad_signals(finished: str, live: str) -> list[tuple[object, type, str]]:
    return [
        (lambda: dc.send_event("not-a-uuid", "paid", 1), dc.InvalidExecutionId, "not a UUID"),
        (lambda: dc.send_event(UNKNOWN, "paid", 1), dc.ExecutionNotFound, "no execution"),
        (lambda: dc.send_event(finished, "paid", 1), dc.ExecutionStateError, "it is completed"),
        (lambda: dc.send_event(live, "", 1), dc.InvalidOption, "event name"),
        (lambda: dc.send_event(live, "x" * 201, 1), dc.InvalidOption, "at most 200"),
        (lambda: dc.send_event(live, 7, 1), dc.InvalidOption, "event name"),
        (lambda: dc.send_event(live, "paid", {1, 2}), dc.InvalidPayload, "not JSON"),
        (lambda: dc.send_event(live, "paid", "x" * 2_000_000), dc.PayloadTooLarge, "over the"),
        (lambda: dc.provide_input("nope", "approval", 1), dc.InvalidExecutionId, "not a UUID"),
        (lambda: dc.provide_input(UNKNOWN, "approval", 1), dc.ExecutionNotFound, "no execution"),
        (lambda: dc.provide_input(finished, "approval", 1), dc.ExecutionStateError, "completed"),
        (lambda: dc.provide_input(live, "approval", 1), dc.InputNotRequested, "asks for nothing"),
        (lambda: dc.provide_input(live, "approval", object()), dc.InvalidPayload, "not JSON"),
        (lambda: dc.provide_input(live, "", True), dc.InvalidOption, "input name"),
        (lambda: dc.send_event(live, "pa\x00id", 1), dc.InvalidOption, "NUL character"),
        (lambda: dc.send_event(live, "pa\ud800id", 1), dc.InvalidOption, "lone surrogate"),
        (lambda: dc.send_event(live, "paid", {"s": "\ud800"}), dc.InvalidPayload, "surrogate"),
        (lambda: dc.provide_input(live, "appr\udfff", 1), dc.InvalidOption, "lone surrogate"),
        (lambda: dc.cancel(live, reason="why\x00"), dc.InvalidOption, "NUL character"),
        (lambda: dc.cancel(live, reason="\ud800"), dc.InvalidOption, "lone surrogate"),
    ]


@pytest.mark.parametrize("case", range(20))
def test_bad_signals_raise_typed_errors_and_change_nothing(
    case, finished_id, waiting_id, signal_counts
):
    call, error, message = _bad_signals(finished_id, waiting_id)[case]
    before = signal_counts()
    with pytest.raises(error, match=message) as raised:
        call()
    assert isinstance(raised.value, dc.DurableError)
    assert signal_counts() == before


def test_list_pending_inputs_rejects_a_malformed_id(runtime):
    with pytest.raises(dc.InvalidExecutionId):
        dc.list_pending_inputs(execution_id="zzz")


def test_the_payload_limit_is_configurable(runtime, row_counts, signal_counts, waiting_id):
    from durable_celery.client import start_execution
    from durable_celery.config import Settings
    from durable_celery.runtime import Runtime

    small = Runtime(
        runtime.app, Settings(database_url=runtime.settings.database_url, max_payload_bytes=64)
    )
    before = row_counts(), signal_counts()
    with pytest.raises(dc.PayloadTooLarge, match="over the limit of 64 bytes"):
        start_execution(ThreeSteps, {"note": "y" * 100}, runtime=small)
    with pytest.raises(dc.PayloadTooLarge, match="over the limit of 64 bytes"):
        dc.send_event(waiting_id, "paid", ["z"] * 40, runtime=small)
    assert (row_counts(), signal_counts()) == before
    start_execution(ThreeSteps, {"note": "short"}, runtime=small, queue="nobody-listens")


def test_an_execution_buffers_events_up_to_a_limit(runtime, waiting_id, signal_counts):
    from durable_celery.config import Settings
    from durable_celery.runtime import Runtime

    handle = ThreeSteps.start_durable({"customer": "chatty"}, queue="nobody-listens")
    small = Runtime(
        runtime.app,
        Settings(database_url=runtime.settings.database_url, max_buffered_events=3),
    )
    for number in range(3):
        dc.send_event(handle.id, "ping", number, runtime=small)
    before = signal_counts()
    with pytest.raises(dc.EventBufferFull, match="already has 3 events waiting unconsumed"):
        dc.send_event(handle.id, "ping", 3, runtime=small)
    assert signal_counts() == before
    dc.send_event(waiting_id, "ping", 0, runtime=small)  # the limit is per execution


def test_queue_names_are_limited_by_a_setting(runtime, row_counts):
    from durable_celery.client import start_execution
    from durable_celery.config import Settings
    from durable_celery.runtime import Runtime

    strict = Runtime(
        runtime.app,
        Settings(database_url=runtime.settings.database_url, max_queue_name_length=10),
    )
    before = row_counts()
    with pytest.raises(dc.InvalidOption, match="at most 10 characters"):
        start_execution(ThreeSteps, {}, queue="eleven-char", runtime=strict)
    assert row_counts() == before
