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
from sqlalchemy.exc import InterfaceError, OperationalError

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


# How long a schedule that cannot even be planned (a time zone this host does not know,
# say) waits before the sweep tries it again.
BROKEN_SCHEDULE_RETRY = timedelta(minutes=1)


def _fire_schedule(
    runtime: Runtime, conn: Connection, schedule: Schedule, now: datetime, result: SweepResult
) -> None:
    """Fire one locked schedule. Whatever goes wrong with this schedule is recorded on it
    (last_error) and it moves on, so one broken schedule never stops the others; only a
    connection-level error (the database went away, a deadlock) undoes the whole batch,
    which the next poll then fires again (the idempotency keys make that safe)."""
    next_fire_at = now + BROKEN_SCHEDULE_RETRY
    started: list[schedules.Fired] = []
    fires: tuple[datetime, ...] = ()
    error: str | None = None
    try:
        # A savepoint: a fire that cannot start (unknown workflow, oversized input) is
        # undone alone.
        with conn.begin_nested():
            trigger = trigger_of(schedule.trigger, schedule.expression, schedule.timezone)
            plan = plan_fires(
                trigger,
                schedule.next_fire_at,
                now,
                schedule.misfire,
                timedelta(seconds=schedule.misfire_grace),
                schedule.catch_up_limit,
            )
            next_fire_at, fires = plan.next_fire_at, plan.fires
            if plan.missed:
                logger.warning(
                    "schedule %s: %d fire time(s) missed (no beat ran, or the poller was "
                    "late); misfire=%r starts %d",
                    schedule.key,
                    plan.missed,
                    str(schedule.misfire),
                    len(plan.fires),
                )
            started = [fire_once(runtime, conn, schedule, fire_time) for fire_time in fires]
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        started, error = [], f"{type(exc).__name__}: {exc}"
        logger.error(
            "schedule %s: could not start %s: %s",
            schedule.key,
            schedule.workflow,
            exc,
            exc_info=not isinstance(exc, DurableError),
        )
    ran = [fired.execution_id for fired in started if fired.execution_id is not None]
    result.started += ran
    result.wakeups += [wakeup for fired in started for wakeup in fired.wakeups]
    schedules.record_fire(
        conn,
        schedule.key,
        next_fire_at,
        last_fire_at=fires[-1] if ran else None,
        last_execution_id=ran[-1] if ran else None,
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
        declared, disabled = schedules.declare(
            conn, rows, list(registered_workflows()), runtime.codec
        )
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
