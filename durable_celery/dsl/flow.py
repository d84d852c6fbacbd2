"""Flow control: `Concurrency` on a workflow or a step (how many of its executions, or
of the step's attempts, with one key may run at once, across every worker) and
`RateLimit` on a step (how many of its starts
per second, minute or hour for one key). Checked when declared; the store holds the
slots and windows, the engine takes them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from durable_celery.errors import InvalidOption, WorkflowDefinitionError

# Longest key a Concurrency key function may return (after str()): keys are indexed.
MAX_CONCURRENCY_KEY_LENGTH = 200


@dataclass(frozen=True)
class KeyContext:
    """What a key function sees: the execution's input, at start (the key is computed
    once, by the caller that starts the execution)."""

    workflow: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class Concurrency:
    """At most `limit` executions of the workflow (or attempts of the step) with the same
    key are running at once, across all workers; `key(ctx)` -> str computes the key from
    `ctx.input` (no key: one limit for the whole workflow, or for the step)."""

    limit: int
    key: Callable[[KeyContext], Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise WorkflowDefinitionError(
                f"Concurrency(limit=...) must be a positive int, got {self.limit!r}"
            )
        if self.key is not None and not callable(self.key):
            raise WorkflowDefinitionError(
                f"Concurrency(key=...) must be a function of the step context "
                f"(lambda ctx: ctx.input[...]), got {type(self.key).__name__}"
            )

    def slot_key(self, workflow: str, input: Mapping[str, Any]) -> str:
        """The stored key: the workflow's name, then the key function's value, so two
        workflows never share slots. Raises InvalidOption when the key function fails or
        returns something that is not a short string or int."""
        if self.key is None:
            return workflow
        return f"{workflow}/{_key_text(self.key, workflow, input, 'concurrency')}"

    def step_slot_key(self, workflow: str, step: str, input: Mapping[str, Any]) -> str:
        """The stored key of a step's limit: the key function's value, shared by every
        step that declares it (one API, one pool of slots); without a key function, the
        step's own slots. Prefixed so that it never meets a workflow-level key."""
        if self.key is None:
            return f"step:{workflow}.{step}"
        return "step-key:" + _key_text(self.key, workflow, input, "step concurrency")


def _key_text(
    key: Callable[[KeyContext], Any], workflow: str, input: Mapping[str, Any], what: str
) -> str:
    try:
        value = key(KeyContext(workflow, input))
    except Exception as exc:
        raise InvalidOption(
            f"workflow {workflow!r}: the {what} key function failed on this input: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidOption(
            f"workflow {workflow!r}: the {what} key must be a str or an int, "
            f"got {type(value).__name__}"
        )
    text = str(value)
    if len(text) > MAX_CONCURRENCY_KEY_LENGTH:
        raise InvalidOption(
            f"workflow {workflow!r}: the {what} key is {len(text)} characters long; "
            f"at most {MAX_CONCURRENCY_KEY_LENGTH}"
        )
    return text


_RATE = re.compile(r"\s*(\d+)\s*/\s*([smh])\s*")
_PERIOD_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
# The window of a key keeps one timestamp per start within its period.
MAX_RATE_LIMIT = 10_000


@dataclass(frozen=True, init=False)
class RateLimit:
    """At most `limit` starts of the step per `period` for one key, across all workers:
    `RateLimit("100/m", key=lambda ctx: ctx.input["api"])` (no key: one window for the
    step). Over the limit, the execution waits on a durable timer for the next free
    start; it never fails for it."""

    rate: str
    key: Callable[[KeyContext], Any] | None
    limit: int
    period_seconds: float

    def __init__(self, rate: str, key: Callable[[KeyContext], Any] | None = None) -> None:
        if not isinstance(rate, str):
            raise WorkflowDefinitionError(
                f"RateLimit(rate) must be a string like '100/m', got {rate!r}"
            )
        match = _RATE.fullmatch(rate)
        if match is None:
            raise WorkflowDefinitionError(
                f"RateLimit({rate!r}): expected 'N/s', 'N/m' or 'N/h' (N starts per second, "
                f"minute or hour), e.g. '100/m'"
            )
        limit = int(match.group(1))
        if not 1 <= limit <= MAX_RATE_LIMIT:
            raise WorkflowDefinitionError(
                f"RateLimit({rate!r}): N must be between 1 and {MAX_RATE_LIMIT}, got {limit}"
            )
        if key is not None and not callable(key):
            raise WorkflowDefinitionError(
                f"RateLimit(key=...) must be a function of the step context "
                f"(lambda ctx: ctx.input[...]), got {type(key).__name__}"
            )
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "period_seconds", _PERIOD_SECONDS[match.group(2)])

    def window_key(self, workflow: str, step: str, input: Mapping[str, Any]) -> str:
        """The stored key: the key function's value, shared by every step that declares
        it (one API, one window); without a key function, the step's own window."""
        if self.key is None:
            return f"{workflow}.{step}"
        return "rate:" + _key_text(self.key, workflow, input, "rate limit")


def next_free_in(starts: Sequence[float], now: float, limit: int, period: float) -> float:
    """Seconds from `now` until a sliding window of `period` seconds that holds the
    start times `starts` has room for one more start under `limit`: 0 when it has
    room now; else when enough of its oldest starts have left the window."""
    recent = sorted(start for start in starts if start > now - period)
    if len(recent) < limit:
        return 0.0
    return max(recent[len(recent) - limit] + period - now, 0.0)
