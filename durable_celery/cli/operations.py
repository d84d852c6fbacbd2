"""The operator's commands: start, status, cleanup and workflows."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from durable_celery.cli.arguments import (
    add_status_option,
    json_object,
    parse_duration,
    split_statuses,
    with_json,
)
from durable_celery.cli.broker import message_counts
from durable_celery.cli.output import table, waited
from durable_celery.client import cleanup, list_workflows, overview, start
from durable_celery.client.workflows import WorkflowInfo
from durable_celery.errors import InvalidOption
from durable_celery.runtime import Runtime


def start_command(args: argparse.Namespace, runtime: Runtime) -> int:
    payload = json_object(args.input, "the input")
    delay = None if args.delay is None else parse_duration(args.delay, "--delay")
    debounce = None if args.debounce is None else parse_duration(args.debounce, "--debounce")
    debounce_max = (
        None if args.debounce_max is None else parse_duration(args.debounce_max, "--debounce-max")
    )
    handle = start(
        args.workflow,
        payload,
        queue=args.queue,
        delay=delay,
        idempotency_key=args.idempotency_key,
        debounce=debounce,
        debounce_key=args.debounce_key,
        debounce_max=debounce_max,
        runtime=runtime,
    )
    if args.json:
        print(json.dumps({"id": handle.id, "workflow": args.workflow, "status": handle.status()}))
    else:
        print(handle.id)
    return 0


def start_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("workflow", help="the registered name of the workflow")
    command.add_argument("input", nargs="?", default="{}", help="a JSON object (default: {})")
    command.add_argument("--queue", help="the queue of its wake-ups (default: its routing)")
    command.add_argument("--delay", help="start later: 30s, 10m, 2h, 1d")
    command.add_argument("--idempotency-key", help="start at most once per workflow and key")
    command.add_argument(
        "--debounce", help="starts with --debounce-key collapse; run this long after the last"
    )
    command.add_argument("--debounce-key", help="the key of the starts that --debounce collapses")
    command.add_argument("--debounce-max", help="run at most this long after the first start")
    with_json(command)


def status_command(args: argparse.Namespace, runtime: Runtime) -> int:
    if not 0 < args.broker_timeout <= 60:  # also refuses nan
        raise InvalidOption(
            f"--broker-timeout must be more than 0 and at most 60 seconds, "
            f"got {args.broker_timeout}"
        )
    now = overview(runtime=runtime)
    loads = {load.queue: load for load in now.queues}
    queues = sorted(
        {*loads, str(runtime.app.conf.task_default_queue)}
        | {info.queue for info in list_workflows(runtime=runtime) if info.queue is not None}
    )
    broker = message_counts(runtime.app, queues, timeout=args.broker_timeout)
    oldest = now.oldest_due
    if args.json:
        report: dict[str, Any] = {
            "queues": [
                {
                    "queue": queue,
                    "live": loads[queue].live if queue in loads else 0,
                    "due": loads[queue].due if queue in loads else 0,
                    "oldest_due_seconds": _seconds(loads[queue].oldest_wait)
                    if queue in loads
                    else None,
                    "broker_messages": broker.get(queue),
                }
                for queue in queues
            ],
            "workflows": [vars(load) for load in now.workflows],
            "oldest_due": None
            if oldest is None
            else {"queue": oldest.queue, "seconds": _seconds(oldest.oldest_wait)},
        }
        print(json.dumps(report, indent=2))
        return 0
    rows = []
    for queue in queues:
        load = loads.get(queue)
        count = broker.get(queue)
        rows.append(
            [
                queue,
                str(load.due if load else 0),
                waited(load.oldest_wait if load else None),
                str(load.live if load else 0),
                "-" if count is None else str(count),
            ]
        )
    print(table(["QUEUE", "DUE", "OLDEST DUE", "LIVE", "BROKER MESSAGES"], rows))
    print()
    print(
        table(
            ["WORKFLOW", "PENDING", "RUNNING", "WAITING"],
            [
                [load.workflow, str(load.pending), str(load.running), str(load.waiting)]
                for load in now.workflows
            ],
        )
    )
    print()
    if oldest is None:
        print("oldest due wake-up: none (nothing due waits for a worker)")
    else:
        print(f"oldest due wake-up: {waited(oldest.oldest_wait)} (queue {oldest.queue})")
    return 0


def _seconds(delta: Any) -> float | None:
    return None if delta is None else round(delta.total_seconds(), 3)


def status_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--broker-timeout",
        type=float,
        default=2.0,
        help="seconds to wait for the broker's message counts (default 2)",
    )
    with_json(command)


def cleanup_command(args: argparse.Namespace, runtime: Runtime) -> int:
    older_than = parse_duration(args.older_than, "--older-than")

    def progress(total: int) -> None:
        print(f"... {total} deleted so far", file=sys.stderr, flush=True)

    n = cleanup(
        older_than,
        status=split_statuses(args.status),
        dry_run=args.dry_run,
        batch_size=args.batch_size,
        runtime=runtime,
        progress=progress,
    )
    if args.json:
        print(json.dumps({"would_delete": n} if args.dry_run else {"deleted": n}))
    elif args.dry_run:
        print(f"would delete {_executions(n)} finished more than {args.older_than} ago (dry run)")
    else:
        print(f"deleted {_executions(n)} finished more than {args.older_than} ago")
    return 0


def _executions(n: int) -> str:
    return f"{n} execution" if n == 1 else f"{n} executions"


def cleanup_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--older-than",
        required=True,
        help="delete executions that finished longer ago than this: 90m, 12h, 30d",
    )
    add_status_option(
        command, "only these finished statuses (repeat it, or comma-separate: failed,cancelled)"
    )
    command.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    command.add_argument("--batch-size", type=int, default=1000, help="rows per transaction")
    with_json(command)


def workflows_command(args: argparse.Namespace, runtime: Runtime) -> int:
    workflows = list_workflows(runtime=runtime)
    if args.json:
        print(json.dumps([info.to_dict() for info in workflows], indent=2))
        return 0
    rows = [
        [
            info.name,
            ",".join(str(version) for version in info.versions),
            info.queue or "-",
            ", ".join(info.steps),
            _schedules(info),
        ]
        for info in workflows
    ]
    print(table(["NAME", "VERSION", "QUEUE", "STEPS", "SCHEDULES"], rows))
    return 0


def _schedules(info: WorkflowInfo) -> str:
    return (
        "; ".join(
            f"{s.key}: {s.kind} {s.expression}" + (f" {s.timezone}" if s.kind == "cron" else "")
            for s in info.schedules
        )
        or "-"
    )


def workflows_arguments(command: argparse.ArgumentParser) -> None:
    with_json(command)
