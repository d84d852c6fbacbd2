"""Retention: the `durable_retention` setting applied, the same deletion as cleanup() per
group of statuses kept for the same age. The beat task `durable_celery.retention` runs it
every `durable_retention_interval`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from durable_celery.client.cleanup import cleanup
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import ExecutionStatus
from durable_celery.time import Duration, to_timedelta

logger = logging.getLogger("durable_celery.retention")

# The longest a run deletes before it hands over to the next one: a run holds a worker's
# slot, and the beat entry expires its messages after a few intervals.
MAX_RUN_SECONDS = 300.0


@dataclass(frozen=True)
class RetentionRun:
    """What one run deleted: per age (seconds) and its statuses, and whether it stopped at
    its time budget with more to delete."""

    deleted: dict[tuple[float, tuple[ExecutionStatus, ...]], int] = field(default_factory=dict)
    seconds: float = 0.0
    out_of_time: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def apply_retention(
    runtime: Runtime | None = None, *, time_budget: Duration | None = None
) -> RetentionRun:
    """Delete the finished executions that `durable_retention` no longer keeps, in
    batches of `durable_retention_batch_size`, each one short transaction that skips
    locked rows, so that several runs at once (two beats) split the work. Stops starting
    batches after `time_budget` (default: the interval, at most MAX_RUN_SECONDS)."""
    runtime = runtime or current_runtime()
    settings = runtime.settings
    budget = (
        min(settings.retention_interval, MAX_RUN_SECONDS)
        if time_budget is None
        else to_timedelta(time_budget, "time_budget").total_seconds()
    )
    started = time.monotonic()
    deleted: dict[tuple[float, tuple[ExecutionStatus, ...]], int] = {}
    out_of_time = False
    for age, statuses in _groups(settings.retention):
        elapsed = time.monotonic() - started
        # Each run deletes at least one batch, so a tiny budget still makes progress.
        if any(deleted.values()) and elapsed >= budget:
            out_of_time = True
            break
        deleted[age, statuses] = n = cleanup(
            age,
            status=list(statuses),
            batch_size=settings.retention_batch_size,
            runtime=runtime,
            time_budget=max(budget - elapsed, 0.0),
        )
        if n and time.monotonic() - started >= budget:
            out_of_time = True  # the last batch may not have been the last one
            break
    run = RetentionRun(deleted, time.monotonic() - started, out_of_time)
    if run.total or run.out_of_time:
        logger.info("%s", describe(run))
    return run


def describe(run: RetentionRun) -> str:
    """The run's summary line."""
    parts = [
        f"{'/'.join(statuses)} older than {_age(age)}: {n}"
        for (age, statuses), n in run.deleted.items()
    ]
    line = (
        f"retention: deleted {run.total} finished executions ({'; '.join(parts)}) "
        f"in {run.seconds:.1f}s"
    )
    if run.out_of_time:
        line += ", stopped at its time budget, the next run goes on"
    return line


def _groups(
    retention: tuple[tuple[ExecutionStatus, float], ...],
) -> list[tuple[float, tuple[ExecutionStatus, ...]]]:
    """Statuses kept for the same age are deleted by one pass. Longest-kept first: a child
    stays while its parent does, so a parent kept longer goes before its children's pass
    and they go in the same run."""
    by_age: dict[float, list[ExecutionStatus]] = {}
    for status, age in retention:
        by_age.setdefault(age, []).append(status)
    return [(age, tuple(sorted(by_age[age]))) for age in sorted(by_age, reverse=True)]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:g}s"
