"""Retry policies: a frozen value object, validated when it is built."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from durable_celery.errors import InvalidOption, WorkflowDefinitionError
from durable_celery.time import Duration, to_timedelta

Backoff = Literal["exponential", "linear", "constant"]
_BACKOFFS = ("exponential", "linear", "constant")


@dataclass(frozen=True)
class Retry:
    """How many times a step is attempted and how long to wait between attempts.

    The default policy is a single attempt, i.e. no retry.
    """

    max_attempts: int = 1
    backoff: Backoff = "exponential"
    base: Duration = timedelta(seconds=1)
    max_delay: Duration = timedelta(minutes=5)
    jitter: bool = True
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    give_up_on: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise WorkflowDefinitionError(
                f"Retry(max_attempts=...) must be an int >= 1, got {self.max_attempts!r}"
            )
        if self.max_attempts < 1:
            raise WorkflowDefinitionError(
                f"Retry(max_attempts=...) must be >= 1, got {self.max_attempts}"
            )
        if self.backoff not in _BACKOFFS:
            raise WorkflowDefinitionError(
                f"Retry(backoff=...) must be one of {', '.join(_BACKOFFS)}, got {self.backoff!r}"
            )
        try:
            object.__setattr__(self, "base", to_timedelta(self.base, "Retry(base=...)"))
            object.__setattr__(
                self, "max_delay", to_timedelta(self.max_delay, "Retry(max_delay=...)")
            )
        except InvalidOption as exc:
            raise WorkflowDefinitionError(str(exc)) from None
        for option in ("retry_on", "give_up_on"):
            value = getattr(self, option)
            if isinstance(value, type):
                value = (value,)
                object.__setattr__(self, option, value)
            if not isinstance(value, tuple) or not all(
                isinstance(kind, type) and issubclass(kind, BaseException) for kind in value
            ):
                raise WorkflowDefinitionError(
                    f"Retry({option}=...) must be a tuple of exception classes, got {value!r}"
                )

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """True when attempt number `attempt` failed with `exc` and another attempt is due."""
        if attempt >= self.max_attempts:
            return False
        if self.give_up_on and isinstance(exc, self.give_up_on):
            return False
        return isinstance(exc, self.retry_on)

    def delay_after(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1-based), for any attempt number:
        the growth is capped by `max_delay` before it can overflow."""
        base = to_timedelta(self.base).total_seconds()
        cap = to_timedelta(self.max_delay).total_seconds()
        if self.backoff == "exponential":
            # 2**1100 overflows a float; no cap needs more than 2**64 times the base.
            seconds = base * 2.0 ** min(attempt - 1, 64)
        elif self.backoff == "linear":
            seconds = base * attempt
        else:
            seconds = base
        seconds = min(seconds, cap)
        if self.jitter and seconds > 0:
            # "Equal jitter": keeps at least half the delay so retries never stampede at zero.
            seconds = seconds / 2 + seconds / 2 * random.random()
        return timedelta(seconds=seconds)


NO_RETRY = Retry()
