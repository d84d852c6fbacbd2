"""Payloads become JSON text that jsonb accepts, within durable_max_payload_bytes."""

from __future__ import annotations

import datetime
import json
import tracemalloc
from typing import Any

import pytest

from durable_celery import InvalidPayload, PayloadTooLarge
from durable_celery.store.codec import Codec, encode_record


def nested(depth: int) -> list[Any]:
    outer: list[Any] = []
    inner = outer
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return outer


def test_payloads_are_compact_json_text():
    assert Codec(100).encode({"a": [1, 2.5, None, "é"]}, "input") == '{"a":[1,2.5,null,"é"]}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"when": datetime.date(2026, 1, 1)}, "input is not JSON-serialisable"),
        ({"x": float("nan")}, "input is not JSON-serialisable"),
        ({1, 2}, "input is not JSON-serialisable"),
        ({"s": "a\x00b"}, "input contains a NUL character"),
        ({"a\x00": 1}, "input contains a NUL character"),
        ({"s": "\ud800"}, "input contains a lone surrogate"),
        ({"s": ["ok", "x\udfff"]}, "input contains a lone surrogate"),
        (nested(2_000), "input is nested too deeply"),
    ],
)
def test_what_jsonb_cannot_store_is_an_invalid_payload(value, message):
    for encode in (Codec(100_000).encode, Codec(100_000).encode_incoming):
        with pytest.raises(InvalidPayload, match=message):
            encode(value, "input")


def test_the_literal_text_backslash_u0000_is_an_ordinary_string():
    codec = Codec(1_000)
    for text in ("\\u0000", "C:\\u0000\\x", "\\\\u0000"):
        assert json.loads(codec.encode({"s": text}, "input")) == {"s": text}
        assert json.loads(codec.encode_incoming({"s": text}, "input")) == {"s": text}


def test_the_size_limit_counts_utf8_bytes_of_the_json():
    codec = Codec(10)
    assert codec.encode("12345678", "output") == '"12345678"'  # 10 bytes: at the limit
    with pytest.raises(PayloadTooLarge, match="output is 11 bytes of JSON, over the limit of 10"):
        codec.encode("123456789", "output")
    with pytest.raises(PayloadTooLarge):
        codec.encode("ééééé", "output")  # 5 characters, but 12 bytes once escaped


def test_records_of_a_run_have_no_size_limit():
    assert len(encode_record({"message": "x" * 2_000_000})) > 2_000_000


def test_an_incoming_payload_over_the_limit_is_refused_before_it_is_all_encoded():
    huge = {"rows": ["x" * 1_000] * 20_000}  # 20 MB of JSON
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match="over the limit of 1048576 bytes"):
            Codec(1_048_576).encode_incoming(huge, "input")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000  # a few megabytes, not the 20 MB (or 40 MB) of the whole


def test_a_recorded_error_is_sanitised_and_cut_to_the_limit():
    codec = Codec(1_000, max_error_bytes=2_000)
    recorded = json.loads(
        codec.record_error(
            {
                "type": "Boom",
                "message": "bad \x00 and \ud800 " + "m" * 50_000_000,
                "traceback": "t" * 10_000,
                "step": "charge",
                "attempt": 3,
            }
        )
    )
    assert recorded["message"].startswith("bad \ufffd and \ufffd mmm")
    assert recorded["message"].endswith("more characters]")
    assert len(recorded["message"]) < 1_100 and len(recorded["traceback"]) < 1_100
    assert (recorded["step"], recorded["attempt"]) == ("charge", 3)


def test_log_lines_are_sanitised_and_the_excess_dropped():
    codec = Codec(1_000, max_log_bytes=100)
    lines = json.loads(codec.record_logs(["INFO a\x00b", "x" * 80, "y" * 50, "z"]) or "[]")
    assert lines[0] == "INFO a\ufffdb"
    assert lines[1] == "x" * 80
    assert lines[2].startswith("y" * 10) and "more characters" in lines[2]
    assert lines[3] == "[1 more log lines dropped: durable_max_log_bytes]"
    assert codec.record_logs([]) is None
