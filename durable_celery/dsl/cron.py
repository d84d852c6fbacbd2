"""Cron expressions: parsing, and the next fire time in an IANA time zone.

(Interface stub: implementation in progress.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class CronExpression:
    """A parsed five-field cron expression (minute hour day-of-month month day-of-week)."""

    text: str  # canonical form

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """InvalidOption naming the field and the value when `text` is not valid."""
        raise NotImplementedError

    @classmethod
    def from_celery(cls, crontab: Any) -> CronExpression:
        """The expression of a `celery.schedules.crontab`."""
        raise NotImplementedError

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first fire time strictly after the aware `moment`, in UTC, with the wall
        clock of `zone` (a skipped wall time fires once when the gap ends; a repeated
        one fires once, at its first occurrence)."""
        raise NotImplementedError
