"""Event correlation without services: the keyed wait's and publish_event's checks (typed
errors before anything is written, or even connected to), the retention setting, the
command line's arguments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from celery import Celery

import durable_celery as dc
from durable_celery.cli import _parser
from durable_celery.config import Settings
from durable_celery.errors import ConfigurationError
from durable_celery.runtime import Runtime
from durable_celery.states import WaitKind


class RecordingWaits:
    """A WaitService that records the event waits a step reaches."""

    def __init__(self) -> None:
        self.events_asked: list[tuple[WaitKind, list[str], str | None]] = []

    def sleep(self, seconds: float | None, until: datetime | None) -> None: ...

    def events(
        self,
        kind: WaitKind,
        names: list[str],
        timeout: float | None,
        timeout_value: Any,
        key: str | None = None,
    ) -> Any:
        self.events_asked.append((kind, names, key))
        return "payload"

    def input(self, *args: Any, **kwargs: Any) -> Any: ...


def _ctx(waits: RecordingWaits) -> dc.StepContext:
    ctx = dc.StepContext(
        execution_id="00000000-0000-0000-0000-000000000001",
        workflow="tests.unit",
        input={},
        context={},
        results={},
    )
    ctx.enter("settle", 1, waits=waits)
    return ctx


def test_wait_for_event_hands_its_key_to_the_engine():
    waits = RecordingWaits()
    ctx = _ctx(waits)
    assert ctx.wait_for_event("payment.settled", key="A-17") == "payload"
    assert ctx.wait_for_event("payment.settled") == "payload"
    assert waits.events_asked == [
        (WaitKind.EVENT, ["payment.settled"], "A-17"),
        (WaitKind.EVENT, ["payment.settled"], None),
    ]


@pytest.mark.parametrize("key", [17, "", "x" * 256, "a\x00b", "\ud800", ["A-17"]])
def test_a_bad_wait_key_is_an_invalid_option_before_the_wait(key):
    waits = RecordingWaits()
    with pytest.raises(dc.InvalidOption, match="wait_for_event key"):
        _ctx(waits).wait_for_event("payment.settled", key=key)
    assert waits.events_asked == []


def _runtime(**settings: Any) -> Runtime:
    # Any database access would open a TCP connection, which fails a unit test: these
    # calls must refuse their input before they get that far.
    return Runtime(Celery("unit", set_as_current=False), Settings(**settings))


@pytest.mark.parametrize(
    ("name", "payload", "key", "error", "message"),
    [
        ("", 1, "k", dc.InvalidOption, "event name must be a non-empty string"),
        ("x" * 201, 1, "k", dc.InvalidOption, "event name"),
        ("x", 1, 17, dc.InvalidOption, "event key must be a non-empty string"),
        ("x", 1, "", dc.InvalidOption, "event key must be a non-empty string"),
        ("x", 1, "k" * 256, dc.InvalidOption, "at most 255 characters"),
        ("x", 1, "a\x00", dc.InvalidOption, "NUL character"),
        ("x", {"at": datetime.now()}, "k", dc.InvalidPayload, "not JSON-serialisable"),
        ("x", float("nan"), "k", dc.InvalidPayload, "not JSON-serialisable"),
        ("x", "y" * 100, None, dc.PayloadTooLarge, "durable_max_payload_bytes"),
    ],
)
def test_bad_input_to_publish_event_raises_before_touching_the_database(
    name, payload, key, error, message
):
    with pytest.raises(error, match=message):
        dc.publish_event(name, payload, key=key, runtime=_runtime(max_payload_bytes=64))


def test_event_retention_defaults_to_a_day_and_reads_its_key_and_variable():
    assert Settings().event_retention == 86_400.0
    assert Settings.resolve({}, {"DURABLE_EVENT_RETENTION": "3600"}).event_retention == 3600.0
    conf = {"durable_event_retention": 60}
    assert Settings.resolve(conf, {"DURABLE_EVENT_RETENTION": "3600"}).event_retention == 60.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "durable_event_retention must be > 0 seconds"),
        (-5, "durable_event_retention must be > 0 seconds"),
        ("a day", "durable_event_retention must be a number"),
        ("inf", "durable_event_retention must be a finite number"),
        (36_526 * 86_400, "durable_event_retention must be at most 3155760000 seconds"),
    ],
)
def test_a_bad_event_retention_is_a_configuration_error(value, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.resolve({}, {}, event_retention=value)


def test_publish_event_command_line_arguments():
    parser = _parser(takes_app=True)
    args = parser.parse_args(
        ["publish-event", "payment.settled", "--key", "A-17", "--payload", '{"amount": 1}']
    )
    assert (args.name, args.key, args.payload) == ("payment.settled", "A-17", '{"amount": 1}')
    args = parser.parse_args(["publish-event", "deploy.done"])
    assert (args.key, args.payload) == (None, "null")
