"""Assertions on what an execution did: its timeline as plain data, and
`assert_step_ran` with a message that shows what did run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_celery.client import ExecutionHandle
from durable_celery.states import StepStatus
from durable_celery.store.records import Execution, StepRecord

Executionish = ExecutionHandle | Execution | str


@dataclass(frozen=True)
class StepAttempt:
    """One attempt of one step, as `timeline()` lists it."""

    step: str
    attempt: int
    status: StepStatus
    started_at: datetime
    finished_at: datetime | None
    error_type: str | None = None
    error_message: str | None = None
    output: Any = None

    @classmethod
    def of(cls, record: StepRecord) -> StepAttempt:
        error = record.error or {}
        return cls(
            step=record.step,
            attempt=record.attempt,
            status=record.status,
            started_at=record.started_at,
            finished_at=record.completed_at,
            error_type=error.get("type"),
            error_message=error.get("message"),
            output=record.output,
        )

    def __str__(self) -> str:
        shown = f"{self.step}#{self.attempt} {self.status}"
        if self.error_type:
            shown += f" ({self.error_type.rsplit('.', 1)[-1]}: {self.error_message})"
        return shown


def timeline(execution: Executionish) -> list[StepAttempt]:
    """Every recorded attempt of every step of `execution` (a handle, an Execution or an
    id), in the order they ran. Times are as stored: see VirtualClock."""
    return [StepAttempt.of(record) for record in _steps(execution)]


def _steps(execution: Executionish) -> tuple[StepRecord, ...]:
    if isinstance(execution, str):
        execution = ExecutionHandle(execution)
    if isinstance(execution, ExecutionHandle):
        execution = execution.execution(include_steps=True)
    if execution.steps is None:  # read without its steps: read it again
        execution = ExecutionHandle(execution.id).execution(include_steps=True)
    return execution.steps or ()


def assert_step_ran(
    execution: Executionish,
    step: str,
    times: int | None = None,
    *,
    status: StepStatus | str | None = None,
) -> list[StepAttempt]:
    """Assert that `step` ran: at least once, or exactly `times` attempts (whatever their
    outcome); with `status`, count only attempts that ended so ("completed", "failed").
    Returns the attempts counted. The failure message lists the whole timeline."""
    attempts = timeline(execution)
    return check_step_ran(attempts, step, times, status=status)


def check_step_ran(
    attempts: list[StepAttempt],
    step: str,
    times: int | None = None,
    *,
    status: StepStatus | str | None = None,
) -> list[StepAttempt]:
    """assert_step_ran on a timeline already read."""
    wanted = None if status is None else StepStatus(status)
    counted = [
        attempt
        for attempt in attempts
        if attempt.step == step and (wanted is None or attempt.status is wanted)
    ]
    if (len(counted) >= 1) if times is None else (len(counted) == times):
        return counted
    expected = "at least once" if times is None else _times(times)
    which = f"step {step!r}" + (f" ({wanted})" if wanted is not None else "")
    ran = "; ".join(str(attempt) for attempt in attempts) or "no step ran"
    raise AssertionError(f"{which} ran {_times(len(counted))}, expected {expected}; ran: {ran}")


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"
