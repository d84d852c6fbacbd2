"""Payloads become JSON text that jsonb accepts, within durable_max_payload_bytes."""

from __future__ import annotations

import datetime

import pytest

from durable_celery import InvalidPayload, PayloadTooLarge
from durable_celery.store.codec import Codec, encode_record


def test_payloads_are_compact_json_text():
    assert Codec(100).encode({"a": [1, 2.5, None, "é"]}, "input") == '{"a":[1,2.5,null,"\\u00e9"]}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"when": datetime.date(2026, 1, 1)}, "input is not JSON-serialisable"),
        ({"x": float("nan")}, "input is not JSON-serialisable"),
        ({1, 2}, "input is not JSON-serialisable"),
        ({"s": "a\x00b"}, "input contains a NUL character"),
    ],
)
def test_what_jsonb_cannot_store_is_an_invalid_payload(value, message):
    with pytest.raises(InvalidPayload, match=message):
        Codec(1_000).encode(value, "input")


def test_the_size_limit_counts_utf8_bytes_of_the_json():
    codec = Codec(10)
    assert codec.encode("12345678", "output") == '"12345678"'  # 10 bytes: at the limit
    with pytest.raises(PayloadTooLarge, match="output is 11 bytes of JSON, over the limit of 10"):
        codec.encode("123456789", "output")
    with pytest.raises(PayloadTooLarge):
        codec.encode("ééééé", "output")  # 5 characters, but 12 bytes once escaped


def test_records_of_a_run_have_no_size_limit():
    assert len(encode_record({"message": "x" * 2_000_000})) > 2_000_000
