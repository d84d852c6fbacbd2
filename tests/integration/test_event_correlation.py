"""Event correlation: publish_event by name and key reaches every execution waiting on them,
now or later within the retention, on real workers."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pytest
from sqlalchemy import text

import durable_celery as dc
from durable_celery.cli import main
from durable_celery.runtime import Runtime
from durable_celery.testing import wait_until
from tests.integration.flows_waits import AwaitsPayment

SETTLED = "payment.settled"


def _key(label: str) -> str:
    # Keys of their own per test: executions of earlier tests may still wait on theirs.
    return f"{label}-{uuid.uuid4().hex[:8]}"


def _waiting(*handles: dc.ExecutionHandle) -> bool:
    return all(handle.status() == "waiting" for handle in handles)


def _published(db, key: str) -> int:
    db.rollback()
    count = db.execute(
        text("SELECT count(*) FROM published_events WHERE event_key = :key"), {"key": key}
    ).scalar_one()
    db.rollback()
    return int(count)


def _with_settings(runtime: Runtime, **changes: object) -> Runtime:
    return Runtime(runtime.app, dataclasses.replace(runtime.settings, **changes))


def test_publish_resumes_exactly_the_executions_waiting_on_its_key(worker):
    a17, a18 = _key("A-17"), _key("A-18")
    on_a17 = [AwaitsPayment.start_durable({"order_id": a17}) for _ in range(3)]
    on_a18 = AwaitsPayment.start_durable({"order_id": a18})
    assert wait_until(lambda: _waiting(*on_a17, on_a18), timeout=30)
    awaited = {(p.execution_id, p.key) for p in dc.list_pending_events(event=SETTLED)}
    assert {(h.id, a17) for h in on_a17} | {(on_a18.id, a18)} <= awaited

    published_at = time.time()
    assert dc.publish_event(SETTLED, {"amount": 17}, key=a17) == 3

    for handle in on_a17:
        result = handle.result(timeout=30)
        assert result["payload"] == {"amount": 17}
        # Woken through Celery at once, not by the poller's grace for lost wake-ups.
        assert result["resumed_at"] - published_at < 5
    assert on_a18.status() == "waiting"
    # The three took it and finished: nobody waits on A-17 any more.
    assert dc.publish_event(SETTLED, {"amount": 0}, key=a17) == 0

    assert dc.publish_event(SETTLED, {"amount": 18}, key=a18) == 1
    assert on_a18.result(timeout=30)["payload"] == {"amount": 18}


def test_an_execution_that_reaches_the_wait_later_gets_the_event(worker):
    key = _key("A-19")
    handle = AwaitsPayment.start_durable({"order_id": key, "hold": True})
    assert wait_until(lambda: _waiting(handle), timeout=30)  # on "go", not on the key

    assert dc.publish_event(SETTLED, {"amount": 19}, key=key) == 0
    dc.send_event(handle.id, "go")

    assert handle.result(timeout=30)["payload"] == {"amount": 19}


def test_an_execution_started_after_the_publish_does_not_get_it(worker):
    key = _key("A-20")
    assert dc.publish_event(SETTLED, "too early", key=key) == 0

    handle = AwaitsPayment.start_durable({"order_id": key, "timeout": 1.5})

    assert handle.result(timeout=30)["payload"] == "timed out"


def test_an_event_past_its_retention_is_not_delivered_and_the_poller_deletes_it(
    worker, runtime, db
):
    key = _key("A-21")
    handle = AwaitsPayment.start_durable({"order_id": key, "hold": True, "timeout": 1.5})
    assert wait_until(lambda: _waiting(handle), timeout=30)

    short = _with_settings(runtime, event_retention=1.0)
    assert dc.publish_event(SETTLED, "expired", key=key, runtime=short) == 0
    assert _published(db, key) == 1
    # The worker's beat runs the poller, whose maintenance deletes it once expired.
    assert wait_until(lambda: _published(db, key) == 0, timeout=30)
    dc.send_event(handle.id, "go")

    assert handle.result(timeout=30)["payload"] == "timed out"


def test_each_published_event_is_taken_once_per_execution_in_publish_order(worker):
    key = _key("A-22")
    both = AwaitsPayment.start_durable({"order_id": key, "hold": True, "twice": True})
    one = AwaitsPayment.start_durable(
        {"order_id": key, "hold": True, "twice": True, "timeout": 1.5}
    )
    assert wait_until(lambda: _waiting(both, one), timeout=30)
    dc.publish_event(SETTLED, "first", key=key)
    dc.send_event(one.id, "go")
    assert one.result(timeout=30)["payloads"] == ["first", "timed out"]

    dc.publish_event(SETTLED, "second", key=key)
    dc.send_event(both.id, "go")
    assert both.result(timeout=30)["payloads"] == ["first", "second"]


def test_executions_reaching_the_wait_while_it_is_published_all_get_it_once(worker):
    # Whichever side comes first, publish or wait, no execution may miss the event: those
    # already waiting get it delivered, the others find it stored.
    key = _key("A-24")
    handles = [
        AwaitsPayment.start_durable({"order_id": key, "hold": True, "twice": True, "timeout": 2})
        for _ in range(12)
    ]
    assert wait_until(lambda: _waiting(*handles), timeout=60)
    half_released = threading.Event()

    def release() -> None:
        for number, handle in enumerate(handles):
            dc.send_event(handle.id, "go")
            if number == len(handles) // 2:
                half_released.set()

    releasing = threading.Thread(target=release)
    releasing.start()
    # Some reach the wait before the publish, some while it runs, the rest after.
    assert half_released.wait(timeout=30)
    dc.publish_event(SETTLED, "now", key=key)
    releasing.join()

    for handle in handles:
        assert handle.result(timeout=60)["payloads"] == ["now", "timed out"]


def test_unkeyed_waits_take_send_event_and_unkeyed_publishes_only(worker):
    event = f"unkeyed-{uuid.uuid4().hex[:8]}"
    unkeyed = AwaitsPayment.start_durable({"event": event})
    keyed = AwaitsPayment.start_durable({"event": event, "order_id": "K-1"})
    assert wait_until(lambda: _waiting(unkeyed, keyed), timeout=30)

    assert dc.publish_event(event, "for K-2", key="K-2") == 0
    assert dc.publish_event(event, "to all without a key") == 1
    assert unkeyed.result(timeout=30)["payload"] == "to all without a key"
    assert keyed.status() == "waiting"

    # send_event by id still reaches any wait of that name, keyed or not.
    dc.send_event(keyed.id, event, "by id")
    assert keyed.result(timeout=30)["payload"] == "by id"
    by_id = AwaitsPayment.start_durable({"event": event})
    dc.send_event(by_id.id, event, "by id too")
    assert by_id.result(timeout=30)["payload"] == "by id too"


def test_publish_event_from_the_command_line(worker, capsys):
    key = _key("A-23")
    handle = AwaitsPayment.start_durable({"order_id": key})
    assert wait_until(lambda: _waiting(handle), timeout=30)
    assert main(["events", "--execution", handle.id]) == 0
    listed = capsys.readouterr().out.splitlines()[-1].split()
    assert [listed[0], listed[2], listed[-1]] == [handle.id, SETTLED, key]

    code = main(["publish-event", SETTLED, "--key", key, "--payload", '{"amount": 23}'])

    assert code == 0
    assert "delivered to 1 waiting executions" in capsys.readouterr().out
    assert handle.result(timeout=30)["payload"] == {"amount": 23}


@pytest.mark.parametrize(
    ("name", "payload", "key", "error", "message"),
    [
        ("", 1, "k", dc.InvalidOption, "event name"),
        ("x", 1, 17, dc.InvalidOption, "event key"),
        ("x", 1, "", dc.InvalidOption, "event key"),
        ("x", 1, "a\x00", dc.InvalidOption, "NUL"),
        ("x", object(), "k", dc.InvalidPayload, "not JSON"),
        ("x", "y" * 200, "k", dc.PayloadTooLarge, "100 bytes"),
    ],
    ids=["empty-name", "key-not-a-string", "empty-key", "nul-in-key", "not-json", "too-large"],
)
def test_bad_input_to_publish_event_writes_nothing(runtime, db, name, payload, key, error, message):
    small = _with_settings(runtime, max_payload_bytes=100)
    before = db.execute(text("SELECT count(*) FROM published_events")).scalar_one()
    db.rollback()
    with pytest.raises(error, match=message):
        dc.publish_event(name, payload, key=key, runtime=small)
    assert db.execute(text("SELECT count(*) FROM published_events")).scalar_one() == before
