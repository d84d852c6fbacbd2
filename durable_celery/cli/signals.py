"""`send-event`, `publish-event`, `provide-input`, `inputs` and `events`: what waiting
executions wait for, and the signals that end their waits."""

from __future__ import annotations

import argparse
import json
from typing import Any

from durable_celery.cli.arguments import json_argument, with_json
from durable_celery.cli.output import plain, short, table, when
from durable_celery.client import (
    list_pending_events,
    list_pending_inputs,
    provide_input,
    publish_event,
    send_event,
)
from durable_celery.runtime import Runtime
from durable_celery.states import InputStatus
from durable_celery.store.records import PendingInput


def send_event_command(args: argparse.Namespace, runtime: Runtime) -> int:
    send_event(args.id, args.name, json_argument(args.payload, "the payload"), runtime=runtime)
    print(f"{args.id}: event {args.name!r} sent")
    return 0


def send_event_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")
    command.add_argument("name")
    command.add_argument("payload", nargs="?", default="null", help="JSON (default: null)")


def publish_event_command(args: argparse.Namespace, runtime: Runtime) -> int:
    payload = json_argument(args.payload, "the payload")
    delivered = publish_event(args.name, payload, key=args.key, runtime=runtime)
    keyed = "" if args.key is None else f" with key {args.key!r}"
    print(f"event {args.name!r}{keyed} published: delivered to {delivered} waiting executions")
    return 0


def publish_event_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("name")
    command.add_argument("--key", help="the correlation key (default: none)")
    command.add_argument("--payload", default="null", help="JSON (default: null)")


def provide_input_command(args: argparse.Namespace, runtime: Runtime) -> int:
    provide_input(args.id, args.name, json_argument(args.value, "the value"), runtime=runtime)
    print(f"{args.id}: input {args.name!r} provided")
    return 0


def provide_input_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")
    command.add_argument("name")
    command.add_argument(
        "value", help="JSON, checked against the input's kind: true, '\"M\"', '{\"a\": 1}'"
    )


def inputs_command(args: argparse.Namespace, runtime: Runtime) -> int:
    statuses = args.status or [InputStatus.PENDING.value]
    status: Any = None if "all" in statuses else statuses
    found = list_pending_inputs(
        workflow=args.workflow, execution_id=args.execution, status=status, runtime=runtime
    )
    if args.json:
        print(json.dumps([plain(vars(item)) for item in found], indent=2))
        return 0
    answered = statuses != [InputStatus.PENDING.value]
    headers = ["EXECUTION", "WORKFLOW", "INPUT", "KIND", "CHOICES", "PROMPT", "DEADLINE"]
    if answered:
        headers += ["STATUS", "ANSWER", "ANSWERED"]
    rows = []
    for item in found:
        row = [
            item.execution_id,
            item.workflow,
            item.name,
            item.kind,
            _choices(item),
            short(item.prompt or "-", 40),
            when(item.deadline_at),
        ]
        if answered:
            answer = "-" if item.answered_at is None else short(item.value, 40)
            row += [item.status, answer, when(item.answered_at)]
        rows.append(row)
    print(table(headers, rows))
    return 0


def _choices(item: PendingInput) -> str:
    if item.choices:
        return " | ".join(str(choice) for choice in item.choices)
    if item.fields:
        return ", ".join(f"{name}:{kind}" for name, kind in item.fields.items())
    return "-"


def inputs_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workflow")
    command.add_argument("--execution", metavar="ID")
    command.add_argument(
        "--status",
        action="append",
        choices=[*(status.value for status in InputStatus), "all"],
        help="pending (default), answered, timed_out, cancelled or all; repeatable",
    )
    with_json(command)


def events_command(args: argparse.Namespace, runtime: Runtime) -> int:
    found = list_pending_events(
        workflow=args.workflow, event=args.event, execution_id=args.execution, runtime=runtime
    )
    if args.json:
        print(json.dumps([plain(vars(item)) for item in found], indent=2))
        return 0
    rows = [
        [
            item.execution_id,
            item.workflow,
            item.event,
            item.kind,
            item.step,
            when(item.since),
            when(item.until),
            item.key or "-",
        ]
        for item in found
    ]
    headers = ["EXECUTION", "WORKFLOW", "EVENT", "KIND", "STEP", "SINCE", "UNTIL", "KEY"]
    print(table(headers, rows))
    return 0


def events_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workflow")
    command.add_argument("--event", metavar="NAME")
    command.add_argument("--execution", metavar="ID")
    with_json(command)
