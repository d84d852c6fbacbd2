"""Frozen records the store returns: the query API's, and wake-ups to publish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from durable_celery.states import (
    ExecutionStatus,
    InputKind,
    InputStatus,
    MisfirePolicy,
    OverlapPolicy,
    ScheduleOrigin,
    ScheduleStatus,
    StepStatus,
    TriggerKind,
    WaitKind,
    WakeTarget,
)


@dataclass(frozen=True)
class Wakeup:
    """A wake-up to publish after commit: the id of an execution or of a fan-out item,
    and the Celery queue it goes to."""

    id: str
    queue: str
    target: WakeTarget = WakeTarget.EXECUTION
    # What workers, Flower and `celery inspect` show for it: the workflow's name, and for
    # an item the step's too ("durable:place_order.price_lines").
    label: str = ""


@dataclass(frozen=True)
class StepRecord:
    """One attempt of one step."""

    id: str
    step: str
    sequence: int
    attempt: int
    status: StepStatus
    output: Any
    error: dict[str, Any] | None
    logs: list[str]
    started_at: datetime
    completed_at: datetime | None
    duration_ms: float | None
    worker: str | None


@dataclass(frozen=True)
class Execution:
    """One workflow execution as stored."""

    id: str
    workflow: str
    status: ExecutionStatus
    input: dict[str, Any]
    context: dict[str, Any]
    result: Any
    error: dict[str, Any] | None
    current_step: str | None
    queue: str
    priority: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    parent_id: str | None
    steps: tuple[StepRecord, ...] | None = None
    # What a pending or waiting execution waits for, in words ("event 'paid' until ...");
    # read by get_execution only.
    waiting_for: str | None = None
    # Started by a schedule: its key and the fire time (not the start time).
    schedule_key: str | None = None
    scheduled_at: datetime | None = None
    # Its child executions by status ({"completed": 3, "running": 1}); read by
    # get_execution only, None elsewhere.
    children: dict[str, int] | None = None
    # Started with debounce: the key its starts shared.
    debounce_key: str | None = None
    # The version of the workflow class it started with, and runs on to the end.
    version: int = 1

    @property
    def finished(self) -> bool:
        return self.status.finished

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, used by the CLI's --json."""
        data: dict[str, Any] = {}
        for key, value in vars(self).items():
            if key == "steps":
                data[key] = None if value is None else [_plain(vars(step)) for step in value]
            else:
                data[key] = _plain_value(value)
        return data


def _plain(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain_value(value) for key, value in mapping.items()}


def _plain_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class PendingInput:
    """A question a waiting execution asks a human (`ctx.wait_for_input`)."""

    id: str
    execution_id: str
    workflow: str
    name: str
    step: str
    prompt: str | None
    fields: Any
    deadline_at: datetime | None
    created_at: datetime
    kind: InputKind = InputKind.VALUE
    choices: list[Any] | None = None
    status: InputStatus = InputStatus.PENDING
    value: Any = None  # the answer, once answered
    answered_at: datetime | None = None


@dataclass(frozen=True)
class PendingEvent:
    """An event a waiting execution waits for (`ctx.wait_for_event/any/all`)."""

    execution_id: str
    workflow: str
    event: str
    kind: WaitKind  # event, any or all: whether this name alone resolves the wait
    step: str
    since: datetime
    until: datetime | None  # the wait's timeout, if any
    key: str | None = None  # a wait_for_event's correlation key (publish_event)


@dataclass(frozen=True)
class Schedule:
    """A schedule as stored (`dc.list_schedules`)."""

    key: str
    workflow: str
    trigger: TriggerKind
    expression: str  # the cron expression, or the interval in seconds
    timezone: str
    input: dict[str, Any]
    queue: str | None
    overlap: OverlapPolicy
    misfire: MisfirePolicy
    misfire_grace: float
    catch_up_limit: int
    status: ScheduleStatus
    origin: ScheduleOrigin
    next_fire_at: datetime
    last_fire_at: datetime | None
    last_execution_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {key: _plain_value(value) for key, value in vars(self).items()}
