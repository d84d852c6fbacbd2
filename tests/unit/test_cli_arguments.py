"""The command line's values: durations ("30d"), moments ("2h" ago or ISO with offset),
statuses, JSON inputs; and the commands refusing bad values with exit code 2 before
anything touches a database or a broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from durable_celery import runtime as runtime_module
from durable_celery.cli import _parser, main
from durable_celery.cli.arguments import (
    json_object,
    parse_duration,
    parse_moment,
    split_statuses,
)
from durable_celery.cli.output import counts, waited
from durable_celery.errors import InvalidOption, InvalidPayload

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("1.5h", timedelta(minutes=90)),
        (" 7D ", timedelta(days=7)),
        ("0s", timedelta(0)),
    ],
)
def test_durations_take_one_unit(text, expected):
    assert parse_duration(text, "--older-than") == expected


@pytest.mark.parametrize(
    "text", ["30", "d", "30 days", "1h30m", "-5m", "5w", "", "1e3s", "nan", "10 m s"]
)
def test_bad_durations_say_what_is_expected(text):
    with pytest.raises(InvalidOption) as error:
        parse_duration(text, "--older-than")
    assert str(error.value) == (
        f"--older-than must be a number with a unit s, m, h or d (e.g. 90m, 12h, 30d), got {text!r}"
    )


def test_overlong_durations_are_refused():
    with pytest.raises(InvalidOption, match="must be at most 36525d"):
        parse_duration("40000d", "--older-than")
    with pytest.raises(InvalidOption, match="must be at most 36525d"):
        parse_duration("9" * 400 + "s", "--older-than")


def test_moments_are_durations_ago_or_iso_datetimes_with_offset():
    assert parse_moment("2h", "--since", NOW) == NOW - timedelta(hours=2)
    assert parse_moment("2024-04-30T08:00:00+02:00", "--since", NOW) == datetime(
        2024, 4, 30, 6, 0, tzinfo=UTC
    )
    zulu = parse_moment("2024-04-30T06:00:00Z", "--until", NOW)
    assert zulu == datetime(2024, 4, 30, 6, 0, tzinfo=UTC)
    assert parse_moment("2024-04-30T06:00:00-05:00", "--until", NOW).utcoffset() == timedelta(
        hours=-5
    )
    assert parse_moment("2024-04-30T06:00:00-05:00", "--until", NOW) == datetime(
        2024, 4, 30, 6, 0, tzinfo=timezone(timedelta(hours=-5))
    )


def test_naive_or_unreadable_moments_are_refused():
    with pytest.raises(InvalidOption) as naive:
        parse_moment("2024-04-30T06:00:00", "--since", NOW)
    assert str(naive.value) == (
        "--since needs a UTC offset (e.g. 2024-04-30T06:00:00+00:00 or Z), "
        "got '2024-04-30T06:00:00'"
    )
    with pytest.raises(InvalidOption, match="--until must be a duration ago"):
        parse_moment("yesterday", "--until", NOW)


def test_statuses_repeat_or_comma_separate():
    parser = _parser(takes_app=True)
    assert parser.parse_args(["list"]).status is None
    assert parser.parse_args(["list", "--status", "failed"]).status == "failed"
    args = parser.parse_args(
        [
            "list",
            "--status",
            "failed,cancelled",
            "--status",
            "completed",
            "--status",
            " timed_out , ",
        ]
    )
    assert split_statuses(args.status) == ["failed", "cancelled", "completed", "timed_out"]
    assert split_statuses(None) is None
    assert split_statuses("") is None


def test_json_input_must_be_an_object():
    assert json_object('{"order": "A-1"}', "the input") == {"order": "A-1"}
    with pytest.raises(InvalidPayload, match="the input must be JSON"):
        json_object("{order: 1}", "the input")
    with pytest.raises(InvalidPayload) as array:
        json_object("[1, 2]", "the input")
    assert str(array.value) == "the input must be a JSON object ({...}), got an array: [1, 2]"
    with pytest.raises(InvalidPayload, match="got a string"):
        json_object('"x"', "the input")


def test_waits_and_counts_read_well():
    assert waited(None) == "-"
    assert waited(timedelta(seconds=42.7)) == "42s"
    assert waited(timedelta(minutes=12, seconds=5)) == "12m05s"
    assert waited(timedelta(hours=3, minutes=4, seconds=59)) == "3h04m"
    assert waited(timedelta(days=2, hours=3)) == "2d03h"
    assert counts({"completed": 3, "running": 1}) == "completed 3, running 1"
    assert counts({}) == "none"


@pytest.fixture()
def no_current_runtime(monkeypatch):
    # main() builds a runtime and makes it current; keep that out of the other tests.
    monkeypatch.setattr(runtime_module, "_current", None)
    monkeypatch.setenv("DURABLE_WORKFLOW_MODULES", "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["cleanup", "--older-than", "30"],
            "error: --older-than must be a number with a unit s, m, h or d "
            "(e.g. 90m, 12h, 30d), got '30'",
        ),
        (
            ["cleanup", "--older-than", "0s"],
            "error: older_than must be positive, got 0:00:00",
        ),
        (
            ["cleanup", "--older-than", "30d", "--status", "completed,running"],
            "error: cleanup deletes finished executions only (cancelled, compensated, "
            "compensation_failed, completed, failed, timed_out), never live ones: got running",
        ),
        (
            ["cleanup", "--older-than", "30d", "--batch-size", "0"],
            "error: batch_size must be an int from 1 to 10000, got 0",
        ),
        (
            ["list", "--since", "2024-04-30T06:00:00"],
            "error: --since needs a UTC offset (e.g. 2024-04-30T06:00:00+00:00 or Z), "
            "got '2024-04-30T06:00:00'",
        ),
        (
            ["list", "--status", "done"],
            "error: status must be one of pending, running, waiting, completed, failed, "
            "cancelled, timed_out, compensated, compensation_failed, compensating; got 'done'",
        ),
        (["list", "--id-prefix", "xyz"], "error: id_prefix must be the start of an execution id"),
        (["list", "--parent", "nope"], "error: execution id 'nope' is not a UUID"),
        (
            ["status", "--broker-timeout", "nan"],
            "error: --broker-timeout must be more than 0 and at most 60 seconds, got nan",
        ),
        (["start", "nothing.here", "[1]"], "error: the input must be a JSON object"),
        (["start", "nothing.here", "{oops"], "error: the input must be JSON"),
        (["start", "nothing.here", "{}"], "error: no workflow is registered as 'nothing.here'"),
        (
            ["start", "nothing.here", "{}", "--delay", "soon"],
            "error: --delay must be a number with a unit",
        ),
    ],
)
def test_bad_values_exit_2_with_the_reason(no_current_runtime, capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message), captured.err
    assert captured.out == ""
