"""The commands of `durable-celery`: their arguments and what they do."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from durable_celery.cli.output import execution_in_full, plain, table, when
from durable_celery.client import (
    cancel,
    get_execution,
    list_executions,
    list_pending_inputs,
    provide_input,
    retry,
    send_event,
)
from durable_celery.demo import run_demo
from durable_celery.errors import ConfigurationError, InvalidPayload
from durable_celery.runtime import Runtime
from durable_celery.states import ExecutionStatus
from durable_celery.store.migrate import head_revision, schema_status, upgrade

Handler = Callable[[argparse.Namespace, Runtime], int]
Arguments = Callable[[argparse.ArgumentParser], None]


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"{what} must be JSON ({exc}); quote strings: '\"yes\"'") from None


def _migrate(args: argparse.Namespace, runtime: Runtime) -> int:
    settings = runtime.settings
    where = runtime.database.url.render_as_string(hide_password=True)
    if settings.schema:
        where += f" (schema {settings.schema})"
    try:
        before = schema_status(settings).current
        upgrade(settings, args.revision)
        after = schema_status(settings).current
    except Exception as exc:
        raise ConfigurationError(f"migrating {where} failed: {exc}") from exc
    if before == after:
        print(f"{where}: already at revision {after}")
    else:
        print(f"{where}: migrated from {before or 'nothing'} to revision {after}")
    return 0


def _demo(args: argparse.Namespace, runtime: Runtime) -> int:
    return run_demo(runtime, orders=args.orders, timeout=args.timeout)


def _list(args: argparse.Namespace, runtime: Runtime) -> int:
    executions = list_executions(
        workflow=args.workflow,
        status=args.status,
        queue=args.queue,
        limit=args.limit,
        offset=args.offset,
        runtime=runtime,
    )
    if args.json:
        print(json.dumps([execution.to_dict() for execution in executions], indent=2))
        return 0
    rows = [
        [e.id, e.workflow, e.status, e.current_step or "-", e.queue, when(e.created_at)]
        for e in executions
    ]
    print(table(["ID", "WORKFLOW", "STATUS", "STEP", "QUEUE", "CREATED"], rows))
    return 0


def _show(args: argparse.Namespace, runtime: Runtime) -> int:
    execution = get_execution(args.id, include_steps=True, runtime=runtime)
    if args.json:
        print(json.dumps(execution.to_dict(), indent=2))
    else:
        print(execution_in_full(execution))
    return 0


def _cancel(args: argparse.Namespace, runtime: Runtime) -> int:
    status = cancel(args.id, reason=args.reason, runtime=runtime)
    if status is ExecutionStatus.RUNNING:
        print(f"{args.id}: cancel requested; it stops at its next step boundary")
    else:
        print(f"{args.id}: cancelled")
    return 0


def _retry(args: argparse.Namespace, runtime: Runtime) -> int:
    retry(args.id, runtime=runtime)
    print(f"{args.id}: resumed from its failed step")
    return 0


def _send_event(args: argparse.Namespace, runtime: Runtime) -> int:
    send_event(args.id, args.name, _json_argument(args.payload, "the payload"), runtime=runtime)
    print(f"{args.id}: event {args.name!r} sent")
    return 0


def _provide_input(args: argparse.Namespace, runtime: Runtime) -> int:
    provide_input(args.id, args.name, _json_argument(args.value, "the value"), runtime=runtime)
    print(f"{args.id}: input {args.name!r} provided")
    return 0


def _inputs(args: argparse.Namespace, runtime: Runtime) -> int:
    pending = list_pending_inputs(
        workflow=args.workflow, execution_id=args.execution, runtime=runtime
    )
    if args.json:
        print(json.dumps([plain(vars(item)) for item in pending], indent=2))
        return 0
    rows = [
        [item.execution_id, item.workflow, item.name, item.prompt or "-", when(item.deadline_at)]
        for item in pending
    ]
    print(table(["EXECUTION", "WORKFLOW", "INPUT", "PROMPT", "DEADLINE"], rows))
    return 0


def _with_json(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true", help="print JSON for scripts")


def _migrate_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--revision", default="head", help=f"(head is {head_revision()})")


def _demo_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--orders", type=int, default=4, help="how many orders to place")
    command.add_argument("--timeout", type=float, default=60.0)


def _list_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workflow")
    command.add_argument("--status", choices=[status.value for status in ExecutionStatus])
    command.add_argument("--queue")
    command.add_argument("--limit", type=int, default=50)
    command.add_argument("--offset", type=int, default=0)
    _with_json(command)


def _show_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")
    _with_json(command)


def _cancel_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")
    command.add_argument("--reason")


def _id_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")


def _event_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")
    command.add_argument("name")
    command.add_argument("payload", nargs="?", default="null", help="JSON (default: null)")


def _input_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")
    command.add_argument("name")
    command.add_argument("value", help="JSON")


def _inputs_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workflow")
    command.add_argument("--execution")
    _with_json(command)


COMMANDS: dict[str, tuple[str, Arguments, Handler]] = {
    "migrate": ("create or upgrade the tables", _migrate_arguments, _migrate),
    "demo": ("run the example workflows with a worker of its own", _demo_arguments, _demo),
    "list": ("list executions, newest first", _list_arguments, _list),
    "show": ("one execution with its step attempts and logs", _show_arguments, _show),
    "cancel": ("cancel an execution and its children", _cancel_arguments, _cancel),
    "retry": ("resume a failed execution from its failed step", _id_argument, _retry),
    "send-event": ("send an event to an execution", _event_arguments, _send_event),
    "provide-input": ("answer an input an execution asks for", _input_arguments, _provide_input),
    "inputs": ("inputs waiting for a human", _inputs_arguments, _inputs),
}
