"""Scheduled workflows on the engine's side: the sweep that fires due schedules (part of
the poller), and the sync of the schedules declared in code (when beat starts).

Exactly once per fire time, from any number of beats: the sweep locks due schedules
with SKIP LOCKED, starts each fire time's execution with the idempotency key
`schedule:<key>:<fire time>` and moves next_fire_at on, all in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from durable_celery.dsl import Workflow, get_workflow, registered_workflows
from durable_celery.dsl.schedules import ScheduleSpec, trigger_of
from durable_celery.engine.firing import plan_fires
from durable_celery.errors import DurableError
from durable_celery.runtime import Runtime
from durable_celery.store import schedules
from durable_celery.store.connections import transaction
from durable_celery.store.records import Schedule, Wakeup

logger = logging.getLogger("durable_celery.schedules")


def fire_key(key: str, fire_time: datetime) -> str:
    """The idempotency key of a fire time's execution: one execution per (schedule, fire
    time), whatever runs the sweep twice."""
    return f"schedule:{key}:{fire_time.astimezone(UTC).isoformat()}"


@dataclass
class SweepResult:
    started: list[str] = field(default_factory=list)
    wakeups: list[Wakeup] = field(default_factory=list)


def fire_due(runtime: Runtime, batch_size: int) -> SweepResult:
    """Fire the schedules due now, one transaction for the batch; returns what started
    and the wake-ups to publish (the caller publishes them: after commit)."""
    result = SweepResult()
    with transaction(runtime.database) as conn:
        for locked in schedules.take_due(conn, batch_size):
            _fire_schedule(runtime, conn, locked.schedule, locked.now, result)
    return result


def _fire_schedule(
    runtime: Runtime, conn: Connection, schedule: Schedule, now: datetime, result: SweepResult
) -> None:
    trigger = trigger_of(schedule.trigger, schedule.expression, schedule.timezone)
    plan = plan_fires(
        trigger,
        schedule.next_fire_at,
        now,
        schedule.misfire,
        timedelta(seconds=schedule.misfire_grace),
        schedule.catch_up_limit,
    )
    if plan.missed:
        logger.warning(
            "schedule %s: %d fire time(s) missed while no beat ran; misfire=%r starts %d",
            schedule.key,
            plan.missed,
            str(schedule.misfire),
            len(plan.fires),
        )
    last_id: str | None = None
    error: str | None = None
    try:
        # A savepoint: a fire that cannot start (unknown workflow, oversized input) is
        # undone alone, recorded on the schedule, and the schedule moves on.
        with conn.begin_nested():
            for fire_time in plan.fires:
                started = fire_once(runtime, conn, schedule, fire_time)
                if started.execution_id is not None:
                    last_id = started.execution_id
                    result.started.append(started.execution_id)
                result.wakeups += started.wakeups
    except (DurableError, DBAPIError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        last_id = None
        logger.error("schedule %s: could not start %s: %s", schedule.key, schedule.workflow, exc)
    schedules.record_fire(
        conn,
        schedule.key,
        plan.next_fire_at,
        last_fire_at=plan.fires[-1] if plan.fires and error is None else None,
        last_execution_id=last_id,
        last_error=error,
    )


def fire_once(
    runtime: Runtime, conn: Connection, schedule: Schedule, fire_time: datetime
) -> schedules.Fired:
    """Start the execution of one fire time of a locked schedule (overlap applies)."""
    runtime.import_workflows()
    workflow = get_workflow(schedule.workflow)
    new = runtime.new_execution(
        workflow,
        schedule.input,
        queue=schedule.queue,
        idempotency_key=fire_key(schedule.key, fire_time),
        schedule_key=schedule.key,
        scheduled_at=fire_time,
    )
    fired = schedules.fire(conn, schedule, new, runtime.codec)
    if fired.skipped_for is not None:
        logger.info(
            "schedule %s: fire time %s skipped, its run %s is still live (overlap='skip')",
            schedule.key,
            fire_time.isoformat(),
            fired.skipped_for,
        )
    elif fired.execution_id is not None:
        logger.info(
            "schedule %s: started %s[%s] for %s",
            schedule.key,
            schedule.workflow,
            fired.execution_id,
            fire_time.isoformat(),
        )
    return fired


def declared_rows(now: datetime) -> list[schedules.ScheduleRow]:
    """The schedules the workflows registered in this process declare."""
    return [
        schedules.ScheduleRow(**spec.fields(spec.next_after(now)))
        for workflow in registered_workflows().values()
        for spec in _declared(workflow)
    ]


def _declared(workflow: type[Workflow]) -> tuple[ScheduleSpec, ...]:
    return workflow.__schedules__


def sync_declared(runtime: Runtime) -> list[schedules.Declared]:
    """Store the schedules declared in code (new ones, changed ones) and disable those the
    code no longer declares. Beat runs this when it starts; running it from several
    beats at once is safe."""
    runtime.import_workflows()
    rows = declared_rows(datetime.now(UTC))
    with transaction(runtime.database) as conn:
        declared, disabled = schedules.declare(conn, rows, runtime.codec)
    for item in declared:
        logger.info(
            "schedule %s: %s, next fire at %s",
            item.key,
            "declared" if item.inserted else str(item.status),
            item.next_fire_at.isoformat(),
        )
    for key in disabled:
        logger.warning("schedule %s: no longer declared in the code; disabled", key)
    return declared
