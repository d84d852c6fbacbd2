"""Schedules at run time: create or change, list, pause and resume, trigger, delete.

Each call is one transaction; those that touch one schedule hold its row lock, so they
never interleave with the poller firing it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from durable_celery.checks import check_name
from durable_celery.client.handle import ExecutionHandle
from durable_celery.dsl import Workflow, get_workflow
from durable_celery.dsl.schedules import schedule_spec, trigger_of
from durable_celery.errors import ExecutionStateError, InvalidOption
from durable_celery.ids import new_id
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import ScheduleOrigin, ScheduleStatus
from durable_celery.store import queries, schedules
from durable_celery.store.connections import reading, transaction
from durable_celery.store.records import Schedule


def schedule(
    key: str,
    workflow: type[Workflow] | str,
    cron: Any,
    *,
    runtime: Runtime | None = None,
    **options: Any,
) -> Schedule:
    """Create the schedule `key`, or change it: `workflow` starts at each fire time of
    `cron` (a cron string, a Celery `crontab(...)`, a timedelta interval, or a Cron or
    Every). Options: timezone, input, queue, overlap ("allow", "skip",
    "cancel_previous"), misfire ("coalesce", "skip", "catch_up"), misfire_grace,
    catch_up_limit. Changing when it fires counts from now on. A key that a workflow
    declares in code (`schedule = ...`) is changed in the code, not here."""
    runtime = runtime or current_runtime()
    runtime.import_workflows()
    name = workflow if isinstance(workflow, str) else getattr(workflow, "name", workflow)
    found = get_workflow(check_name(name, "workflow"))
    spec = schedule_spec(key, found.name, cron, **options)
    row = schedules.ScheduleRow(**spec.fields(spec.next_after(datetime.now(UTC))))
    with transaction(runtime.database) as conn:
        stored = schedules.put(conn, row, runtime.codec)
        if stored is None:
            owner = schedules.get(conn, spec.key).workflow
            raise InvalidOption(
                f"schedule {spec.key!r} is declared in the code of workflow {owner!r}: "
                f"change it there (or pause it with pause_schedule)"
            )
    return stored


def list_schedules(
    workflow: str | None = None, status: str | None = None, *, runtime: Runtime | None = None
) -> list[Schedule]:
    """Every schedule (or those of one workflow, or in one status), by key, with its next
    fire time."""
    wanted = None if status is None else _status(status)
    if workflow is not None:
        check_name(workflow, "workflow")
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return schedules.listed(conn, workflow=workflow, status=wanted)


def get_schedule(key: str, *, runtime: Runtime | None = None) -> Schedule:
    """One schedule; ScheduleNotFound when there is none."""
    runtime = runtime or current_runtime()
    with reading(runtime.database) as conn:
        return schedules.get(conn, check_name(key, "schedule key"))


def pause_schedule(key: str, *, runtime: Runtime | None = None) -> Schedule:
    """Stop firing until resumed. A pause outlives restarts and deploys, even for a
    schedule declared in code."""
    runtime = runtime or current_runtime()
    with transaction(runtime.database) as conn:
        locked = schedules.lock(conn, check_name(key, "schedule key"))
        if locked.schedule.status is ScheduleStatus.DISABLED:
            raise InvalidOption(f"schedule {key!r} is disabled: the code no longer declares it")
        return schedules.set_status(conn, key, ScheduleStatus.PAUSED)


def resume_schedule(key: str, *, runtime: Runtime | None = None) -> Schedule:
    """Fire again, from the next fire time after now: the fire times that passed while it
    was paused are not missed, they were paused."""
    runtime = runtime or current_runtime()
    with transaction(runtime.database) as conn:
        locked = schedules.lock(conn, check_name(key, "schedule key"))
        current = locked.schedule
        if current.status is ScheduleStatus.DISABLED:
            raise InvalidOption(f"schedule {key!r} is disabled: the code no longer declares it")
        if current.status is ScheduleStatus.ACTIVE:
            return current
        trigger = trigger_of(current.trigger, current.expression, current.timezone)
        return schedules.set_status(
            conn, key, ScheduleStatus.ACTIVE, trigger.next_after(locked.now)
        )


def delete_schedule(key: str, *, runtime: Runtime | None = None) -> None:
    """Delete a schedule; the executions it started are kept. One the code still declares
    would come back when beat starts: remove it from the code (or pause it) instead."""
    runtime = runtime or current_runtime()
    with transaction(runtime.database) as conn:
        locked = schedules.lock(conn, check_name(key, "schedule key"))
        current = locked.schedule
        if current.origin is ScheduleOrigin.CODE and current.status is not ScheduleStatus.DISABLED:
            raise InvalidOption(
                f"schedule {key!r} is declared in the code of workflow {current.workflow!r}: "
                f"remove it there (it is then disabled), or pause it"
            )
        schedules.delete(conn, key)


def trigger_schedule(key: str, *, runtime: Runtime | None = None) -> ExecutionHandle:
    """Fire now, once, whatever the schedule's status; its next fire time does not move.
    The overlap policy applies: with overlap="skip" and a live run, ExecutionStateError."""
    runtime = runtime or current_runtime()
    runtime.import_workflows()
    with transaction(runtime.database) as conn:
        locked = schedules.lock(conn, check_name(key, "schedule key"))
        current = locked.schedule
        new = runtime.new_execution(
            get_workflow(current.workflow),
            current.input,
            queue=current.queue,
            idempotency_key=f"schedule:{key}:t:{new_id()}",  # within the key's 255 chars
            schedule_key=key,
            scheduled_at=locked.now,
        )
        fired = schedules.fire(conn, current, new, runtime.codec)
        if fired.skipped_for is not None:
            live = queries.outcome(conn, fired.skipped_for).status
            raise ExecutionStateError(
                fired.skipped_for,
                live,
                f"start another run of schedule {key!r} (its overlap policy is 'skip')",
            )
    runtime.publish(fired.wakeups)
    assert fired.execution_id is not None
    return ExecutionHandle(fired.execution_id, runtime)


# The names of the specification: enabling is resuming, disabling is pausing.
enable_schedule = resume_schedule
disable_schedule = pause_schedule


def _status(status: str) -> ScheduleStatus:
    try:
        return ScheduleStatus(status)
    except ValueError:
        names = ", ".join(ScheduleStatus)
        raise InvalidOption(f"status must be one of {names}; got {status!r}") from None
