"""`durable-celery schedules list|pause|resume|trigger|delete|sync`."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from durable_celery.cli.output import table, when
from durable_celery.client.schedules import (
    delete_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
)
from durable_celery.dsl import registered_workflows
from durable_celery.engine import sync_declared
from durable_celery.errors import ConfigurationError
from durable_celery.runtime import Runtime
from durable_celery.states import ScheduleStatus, TriggerKind
from durable_celery.store.records import Schedule
from durable_celery.time import zone_named


def schedules_arguments(command: argparse.ArgumentParser) -> None:
    actions = command.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every schedule with its next fire time")
    listing.add_argument("--workflow")
    listing.add_argument("--status", choices=[status.value for status in ScheduleStatus])
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    for action, help_text in (
        ("pause", "stop firing until resumed (outlives restarts and deploys)"),
        ("resume", "fire again, from the next fire time after now"),
        ("trigger", "fire now, once"),
        ("delete", "delete a run-time schedule (its executions are kept)"),
    ):
        actions.add_parser(action, help=help_text).add_argument("key")
    actions.add_parser("sync", help="store the schedules the code declares, as beat does")


def schedules_command(args: argparse.Namespace, runtime: Runtime) -> int:
    if args.action == "list":
        found = list_schedules(workflow=args.workflow, status=args.status, runtime=runtime)
        if args.json:
            print(json.dumps([schedule.to_dict() for schedule in found], indent=2))
        else:
            print(schedule_table(found))
    elif args.action == "pause":
        paused = pause_schedule(args.key, runtime=runtime)
        print(f"{paused.key}: paused")
    elif args.action == "resume":
        resumed = resume_schedule(args.key, runtime=runtime)
        print(f"{resumed.key}: active, next fire at {fire_time(resumed)}")
    elif args.action == "trigger":
        handle = trigger_schedule(args.key, runtime=runtime)
        print(f"{args.key}: started execution {handle.id}")
    elif args.action == "delete":
        delete_schedule(args.key, runtime=runtime)
        print(f"{args.key}: deleted")
    else:
        runtime.import_workflows()
        if not registered_workflows():
            raise ConfigurationError(
                "no workflow is registered in this process, so there is no schedule to "
                "store: give the app (durable-celery -A APP schedules sync) or set "
                "DURABLE_WORKFLOW_MODULES"
            )
        declared = sync_declared(runtime)
        print(f"{len(declared)} declared schedule(s) stored")
        print(schedule_table(list_schedules(runtime=runtime)))
    return 0


def schedule_table(found: list[Schedule]) -> str:
    rows = [
        [
            schedule.key,
            schedule.workflow,
            trigger_text(schedule),
            schedule.status,
            fire_time(schedule) if schedule.status is ScheduleStatus.ACTIVE else "-",
            when(schedule.last_fire_at),
            schedule.last_error or schedule.last_execution_id or "-",
        ]
        for schedule in found
    ]
    headers = ["KEY", "WORKFLOW", "WHEN", "STATUS", "NEXT FIRE", "LAST FIRE (UTC)", "LAST RUN"]
    return table(headers, rows)


def trigger_text(schedule: Schedule) -> str:
    if schedule.trigger is TriggerKind.EVERY:
        return f"every {schedule.expression} s"
    return f"{schedule.expression} ({schedule.timezone})"


def fire_time(schedule: Schedule) -> str:
    """The next fire time on the schedule's own clock, e.g. 2026-11-27 03:00 CET."""
    local: datetime = schedule.next_fire_at.astimezone(zone_named(schedule.timezone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z")
