"""`durable-celery`: migrate, demo, and inspect executions from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

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
from durable_celery.errors import DurableError, InvalidPayload
from durable_celery.runtime import Runtime, from_environment
from durable_celery.states import ExecutionStatus
from durable_celery.store.migrate import upgrade


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        # The command line has a default database (see the README); library calls don't.
        runtime = from_environment(
            require_database_url=False, database_url=args.database_url, schema=args.schema
        )
        result: int = args.handler(args, runtime)
        return result
    except DurableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-celery", description="Durable workflows for Celery, stored in PostgreSQL."
    )
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: DURABLE_DATABASE_URL)")
    parser.add_argument("--schema", help="PostgreSQL schema of the tables (DURABLE_SCHEMA)")
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="create or upgrade the tables")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(handler=_migrate)

    demo = commands.add_parser("demo", help="run the example workflows with a worker of its own")
    demo.add_argument("--orders", type=int, default=4, help="how many orders to place")
    demo.add_argument("--timeout", type=float, default=60.0)
    demo.set_defaults(handler=_demo)

    listing = commands.add_parser("list", help="list executions, newest first")
    listing.add_argument("--workflow")
    listing.add_argument("--status", choices=[status.value for status in ExecutionStatus])
    listing.add_argument("--queue")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="one execution with its step attempts")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="print JSON for scripts")
    show.set_defaults(handler=_show)

    cancel = commands.add_parser("cancel", help="cancel an execution and its children")
    cancel.add_argument("id")
    cancel.add_argument("--reason")
    cancel.set_defaults(handler=_cancel)

    retry = commands.add_parser("retry", help="resume a failed execution from its failed step")
    retry.add_argument("id")
    retry.set_defaults(handler=_retry)

    event = commands.add_parser("send-event", help="send an event to an execution")
    event.add_argument("id")
    event.add_argument("name")
    event.add_argument("payload", nargs="?", default="null", help="JSON (default: null)")
    event.set_defaults(handler=_send_event)

    answer = commands.add_parser("provide-input", help="answer an input an execution asks for")
    answer.add_argument("id")
    answer.add_argument("name")
    answer.add_argument("value", help="JSON")
    answer.set_defaults(handler=_provide_input)

    inputs = commands.add_parser("inputs", help="inputs waiting for a human")
    inputs.add_argument("--workflow")
    inputs.add_argument("--execution")
    inputs.add_argument("--json", action="store_true", help="print JSON for scripts")
    inputs.set_defaults(handler=_inputs)
    return parser


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"{what} must be JSON ({exc}); quote strings: '\"yes\"'") from None


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
        print(json.dumps([_plain(vars(item)) for item in pending], indent=2))
        return 0
    rows = [
        [
            item.execution_id,
            item.workflow,
            item.name,
            item.prompt or "-",
            item.deadline_at.strftime("%Y-%m-%d %H:%M:%S") if item.deadline_at else "-",
        ]
        for item in pending
    ]
    print(table(["EXECUTION", "WORKFLOW", "INPUT", "PROMPT", "DEADLINE"], rows))
    return 0


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if hasattr(value, "isoformat") else value
        for key, value in data.items()
    }


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


def _migrate(args: argparse.Namespace, runtime: Runtime) -> int:
    settings = runtime.settings
    upgrade(settings, args.revision)
    where = f" (schema {settings.schema})" if settings.schema else ""
    print(f"database at {args.revision}{where}")
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
        [
            e.id,
            e.workflow,
            e.status,
            e.current_step or "-",
            e.queue,
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for e in executions
    ]
    print(table(["ID", "WORKFLOW", "STATUS", "STEP", "QUEUE", "CREATED"], rows))
    return 0


def _show(args: argparse.Namespace, runtime: Runtime) -> int:
    execution = get_execution(args.id, include_steps=True, runtime=runtime)
    if args.json:
        print(json.dumps(execution.to_dict(), indent=2))
        return 0
    print(f"execution  {execution.id}")
    print(f"workflow   {execution.workflow}  (queue {execution.queue})")
    print(f"status     {execution.status}")
    print(f"input      {json.dumps(execution.input)}")
    print(f"context    {json.dumps(execution.context)}")
    if execution.status is ExecutionStatus.COMPLETED:
        print(f"result     {json.dumps(execution.result)}")
    if execution.error:
        print(f"error      {execution.error.get('type')}: {execution.error.get('message')}")
    rows = [
        [
            str(s.sequence),
            s.step,
            str(s.attempt),
            s.status,
            f"{s.duration_ms:.1f}" if s.duration_ms is not None else "-",
            _short(s.output if s.error is None else s.error.get("message")),
        ]
        for s in execution.steps or ()
    ]
    print()
    print(table(["#", "STEP", "ATTEMPT", "STATUS", "MS", "OUTPUT / ERROR"], rows))
    return 0


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if not rows:
        lines.append("(none)")
    return "\n".join(line.rstrip() for line in lines)


if __name__ == "__main__":
    sys.exit(main())
