"""Reading command-line values: durations ("90m", "30d"), moments ("2h" ago or an ISO
datetime with its offset), repeated or comma-separated statuses, and JSON arguments.
Each bad value is an InvalidOption or InvalidPayload that says what was expected."""

from __future__ import annotations

import argparse
import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

from durable_celery.errors import InvalidOption, InvalidPayload
from durable_celery.time import MAX_DURATION, to_timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", re.IGNORECASE)
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def parse_duration(text: str, what: str) -> timedelta:
    """A number and one unit: s, m, h or d ("45s", "90m", "1.5h", "30d")."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise InvalidOption(
            f"{what} must be a number with a unit s, m, h or d (e.g. 90m, 12h, 30d), got {text!r}"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not math.isfinite(seconds) or seconds > MAX_DURATION.total_seconds():
        raise InvalidOption(f"{what} must be at most {MAX_DURATION.days}d, got {text!r}")
    return to_timedelta(seconds, what)


def parse_moment(text: str, what: str, now: datetime) -> datetime:
    """A duration before `now` ("2h": two hours ago), or an ISO 8601 datetime with its
    offset ("2024-05-01T12:00:00+02:00", "...Z")."""
    if _DURATION.fullmatch(text):
        return now - parse_duration(text, what)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidOption(
            f"{what} must be a duration ago (e.g. 2h, 30m, 7d) or an ISO datetime with its "
            f"offset (e.g. 2024-05-01T12:00:00+00:00), got {text!r}"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidOption(
            f"{what} needs a UTC offset (e.g. {moment.isoformat()}+00:00 or Z), got {text!r}"
        )
    return moment


def split_statuses(statuses: str | None) -> list[str] | None:
    """The statuses of --status ("failed,cancelled"), given once or several times."""
    if not statuses:
        return None
    return [part.strip() for part in statuses.split(",") if part.strip()]


class _Statuses(argparse.Action):
    """--status repeated joins its values with commas: `--status failed --status
    cancelled` reads like `--status failed,cancelled`, and one status stays as given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, values if not given else f"{given},{values}")


def json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"{what} must be JSON ({exc}); quote strings: '\"yes\"'") from None


def json_object(text: str, what: str) -> dict[str, Any]:
    """A JSON argument that must be an object ('{"order_id": "A-1"}')."""
    value = json_argument(text, what)
    if not isinstance(value, dict):
        kind = _JSON_TYPES.get(type(value), type(value).__name__)
        raise InvalidPayload(f"{what} must be a JSON object ({{...}}), got {kind}: {text}")
    return value


def with_json(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_status_option(command: argparse.ArgumentParser, help_text: str) -> None:
    command.add_argument("--status", action=_Statuses, metavar="STATUS", help=help_text)
