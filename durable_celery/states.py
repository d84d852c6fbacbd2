"""The state machine's vocabulary: every status, suspension reason and wait kind.

They are StrEnums, so they compare equal to their stored text ("completed") and travel
to SQL as that text; the table CHECK constraints are generated from them.
"""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    # Saga endings: the execution failed, then its compensations all ran (or one failed).
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"
    # Reported, never stored: a live execution whose saga runs its undo steps.
    COMPENSATING = "compensating"

    @property
    def live(self) -> bool:
        """Not finished: pending, running, waiting, or compensating (reported only)."""
        return self in LIVE_STATUSES or self is ExecutionStatus.COMPENSATING

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES


STORED_EXECUTION_STATUSES = tuple(
    s for s in ExecutionStatus if s is not ExecutionStatus.COMPENSATING
)
# The stored live statuses (those the partial indexes and the SQL name).
LIVE_STATUSES = frozenset(
    {ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING}
)
FINISHED_STATUSES = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.COMPENSATED,
        ExecutionStatus.COMPENSATION_FAILED,
    }
)
# Endings for which `handle.result()` raises WorkflowFailed.
FAILED_ENDINGS = frozenset(
    {
        ExecutionStatus.FAILED,
        ExecutionStatus.COMPENSATED,
        ExecutionStatus.COMPENSATION_FAILED,
    }
)


class StepStatus(StrEnum):
    """Status of one step attempt (a `step_executions` row)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    """Status of one each/parallel item (a `step_items` row)."""

    QUEUED = "queued"  # waits for a concurrency slot
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Suspension(StrEnum):
    """What a waiting execution waits for."""

    FANOUT = "fanout"
    CHILD = "child"
    SLEEP = "sleep"
    EVENT = "event"
    INPUT = "input"


class WaitKind(StrEnum):
    """Which ctx call recorded a wait."""

    SLEEP = "sleep"
    EVENT = "event"  # wait_for_event
    ANY = "any"  # wait_for_any
    ALL = "all"  # wait_for_all
    INPUT = "input"  # wait_for_input


class WaitStatus(StrEnum):
    WAITING = "waiting"
    RESOLVED = "resolved"
    TIMED_OUT = "timed_out"


class InputStatus(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class WakeTarget(StrEnum):
    """What a wake-up message names: an execution, or one item of a fan-out."""

    EXECUTION = "execution"
    ITEM = "item"


class InputKind(StrEnum):
    """What answer a human input takes (`ctx.wait_for_input(kind=...)`)."""

    VALUE = "value"  # any JSON value: the default, and what inputs before kinds were
    APPROVAL = "approval"
    SINGLE_CHOICE = "single_choice"
    MULTI_CHOICE = "multi_choice"
    FREE_TEXT = "free_text"
    FORM = "form"


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # by an operator: kept paused until resumed, whatever the code says
    DISABLED = "disabled"  # declared in code once, no longer: kept for its history


class ScheduleOrigin(StrEnum):
    CODE = "code"  # a workflow's `schedule = ...`, synced when beat starts
    API = "api"  # dc.schedule(...) at run time


class TriggerKind(StrEnum):
    CRON = "cron"
    EVERY = "every"


class MisfirePolicy(StrEnum):
    """What to do with fire times missed while no beat ran."""

    COALESCE = "coalesce"  # one run for all of them
    SKIP = "skip"  # none: wait for the next fire time
    CATCH_UP = "catch_up"  # one run each, the latest ones up to a limit


class OverlapPolicy(StrEnum):
    """What a fire does while the schedule's previous run is still live."""

    ALLOW = "allow"
    SKIP = "skip"
    CANCEL_PREVIOUS = "cancel_previous"
