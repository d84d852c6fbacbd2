"""The dashboard's pure parts: the forms generated for inputs and the answers read back,
the bind rule, time filters, and local redirects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from durable_celery.dashboard.actions import _local
from durable_celery.dashboard.forms import answer_of, fields_of
from durable_celery.dashboard.pages import moment
from durable_celery.dashboard.security import check_bind, is_loopback
from durable_celery.errors import ConfigurationError, InvalidOption, InvalidPayload

FIELDS = {"amount": "int", "price": "float", "note": "str", "rush": "bool", "tags": "list"}


def test_a_form_has_one_typed_control_per_field():
    controls = {f.name: f for f in fields_of("form", None, FIELDS)}
    assert controls["f.amount"].widget == "number" and controls["f.amount"].step == "1"
    assert controls["f.price"].step == "any"
    assert controls["f.note"].widget == "text"
    assert controls["f.rush"].widget == "checkbox"
    assert controls["f.tags"].widget == "json"


def test_a_form_answer_is_typed():
    form = {"f.amount": ["12"], "f.price": ["2.5"], "f.note": ["hi"], "f.tags": ['["a"]']}
    assert answer_of("form", None, FIELDS, form) == {
        "amount": 12,
        "price": 2.5,
        "note": "hi",
        "rush": False,
        "tags": ["a"],
    }
    assert answer_of("form", None, FIELDS, {**form, "f.rush": ["on"]})["rush"] is True
    with pytest.raises(InvalidPayload, match="'amount' takes a whole number"):
        answer_of("form", None, FIELDS, {**form, "f.amount": ["twelve"]})
    with pytest.raises(InvalidPayload, match="'tags' must be JSON"):
        answer_of("form", None, FIELDS, {**form, "f.tags": ["[a"]})


def test_choices_are_sent_by_position_and_come_back_as_listed():
    choices = ["S", 1, True, None]
    (radio,) = fields_of("single_choice", choices, None)
    assert radio.widget == "radio" and [label for _, label in radio.options] == [
        "S",
        "1",
        "true",
        "null",
    ]
    assert answer_of("single_choice", choices, None, {"choice": ["2"]}) is True
    assert answer_of("multi_choice", choices, None, {"choice": ["0", "3"]}) == ["S", None]
    assert answer_of("multi_choice", choices, None, {}) == []
    with pytest.raises(InvalidPayload):
        answer_of("single_choice", choices, None, {"choice": ["9"]})


def test_approval_text_and_plain_values():
    assert answer_of("approval", None, None, {"decision": ["approve"], "comment": [""]}) == {
        "approved": True,
        "comment": None,
    }
    assert answer_of("approval", None, None, {"decision": ["reject"], "comment": ["no"]}) == {
        "approved": False,
        "comment": "no",
    }
    with pytest.raises(InvalidPayload):
        answer_of("approval", None, None, {})
    assert answer_of("free_text", None, None, {"text": ["as is"]}) == "as is"
    assert answer_of("value", None, None, {"value": ['{"a": 1}']}) == {"a": 1}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_need_no_token(host):
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "dashboard.example"])
def test_other_hosts_need_a_token(host):
    assert not is_loopback(host)
    with pytest.raises(ConfigurationError, match="without a token"):
        check_bind(host, None)
    check_bind(host, "s3cret")


def test_time_filters():
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert moment("2h", "since", now) == now - timedelta(hours=2)
    assert moment("2026-05-01T10:00", "since", now) == datetime(2026, 5, 1, 10, tzinfo=UTC)
    offset = moment("2026-05-01T10:00+02:00", "since", now)
    assert offset == datetime(2026, 5, 1, 8, tzinfo=UTC)
    with pytest.raises(InvalidOption, match="since must be a duration ago"):
        moment("yesterday", "since", now)


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "", "x", "/\\x"])
def test_redirects_stay_inside_the_dashboard(target):
    assert _local(target, "/inputs") == "/inputs"
    assert _local("/executions/1", "/inputs") == "/executions/1"
