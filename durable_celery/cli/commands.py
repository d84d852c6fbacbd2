"""The commands of `durable-celery`: their arguments and what they do."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime

from durable_celery.cli import bulk, devservices, operations, schedules, signals, versions, web
from durable_celery.cli.arguments import (
    add_status_option,
    parse_moment,
    split_statuses,
    with_json,
)
from durable_celery.cli.output import execution_in_full, table, when
from durable_celery.client import (
    cancel,
    get_execution,
    list_executions,
    retry,
)
from durable_celery.demo import run_demo
from durable_celery.devservices.fallback import demo_services
from durable_celery.errors import ConfigurationError
from durable_celery.runtime import Runtime
from durable_celery.states import ExecutionStatus
from durable_celery.store.migrate import head_revision, schema_status, upgrade

Handler = Callable[[argparse.Namespace, Runtime], int]
Arguments = Callable[[argparse.ArgumentParser], None]


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
    app_given = bool(getattr(args, "app", None) or os.environ.get("CELERY_APP"))
    url_given = bool(getattr(args, "database_url", None))
    with demo_services(runtime, app_given=app_given, url_given=url_given) as runtime:
        return run_demo(runtime, orders=args.orders, timeout=args.timeout)


def _list(args: argparse.Namespace, runtime: Runtime) -> int:
    now = datetime.now(UTC)
    executions = list_executions(
        workflow=args.workflow,
        status=split_statuses(args.status),
        queue=args.queue,
        limit=args.limit,
        offset=args.offset,
        since=None if args.since is None else parse_moment(args.since, "--since", now),
        until=None if args.until is None else parse_moment(args.until, "--until", now),
        parent_id=args.parent,
        top_level_only=args.top_level,
        id_prefix=args.id_prefix,
        version=args.version,
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


def _migrate_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--revision", default="head", help=f"(head is {head_revision()})")


def _demo_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--orders", type=int, default=4, help="how many orders to place")
    command.add_argument("--timeout", type=float, default=60.0)


def _list_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workflow")
    add_status_option(
        command,
        "reported status; repeat it or comma-separate: failed,cancelled "
        f"({', '.join(ExecutionStatus)})",
    )
    command.add_argument("--queue")
    command.add_argument("--version", type=int, help="started on this workflow version")
    command.add_argument("--since", help="created since: 2h (ago), or an ISO datetime+offset")
    command.add_argument("--until", help="created before: 30m (ago), or an ISO datetime+offset")
    command.add_argument("--parent", metavar="ID", help="children of this execution")
    command.add_argument("--top-level", action="store_true", help="executions without parent")
    command.add_argument("--id-prefix", metavar="HEX", help="ids starting with these digits")
    command.add_argument("--limit", type=int, default=50)
    command.add_argument("--offset", type=int, default=0)
    with_json(command)


def _show_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")
    with_json(command)


def _cancel_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")
    command.add_argument("--reason")


def _id_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("id")


COMMANDS: dict[str, tuple[str, Arguments, Handler]] = {
    "migrate": ("create or upgrade the tables", _migrate_arguments, _migrate),
    "demo": ("run the example workflows with a worker of its own", _demo_arguments, _demo),
    "dev-services": (
        "start, stop or report the embedded PostgreSQL and Redis (`embedded` extra)",
        devservices.dev_services_arguments,
        devservices.dev_services_command,
    ),
    "start": (
        "start a workflow; prints the execution id",
        operations.start_arguments,
        operations.start_command,
    ),
    "list": ("list executions, newest first", _list_arguments, _list),
    "show": ("one execution with its step attempts and logs", _show_arguments, _show),
    "cancel": ("cancel an execution and its children", _cancel_arguments, _cancel),
    "retry": ("resume a failed execution from its failed step", _id_argument, _retry),
    "cancel-many": (
        "cancel every live execution that matches the filters; prints how many",
        bulk.cancel_many_arguments,
        bulk.cancel_many_command,
    ),
    "retry-many": (
        "resume every failed execution that matches the filters; prints how many",
        bulk.retry_many_arguments,
        bulk.retry_many_command,
    ),
    "send-event": (
        "send an event to an execution",
        signals.send_event_arguments,
        signals.send_event_command,
    ),
    "publish-event": (
        "publish an event by name and key to every execution waiting on them",
        signals.publish_event_arguments,
        signals.publish_event_command,
    ),
    "provide-input": (
        "answer an input an execution asks for",
        signals.provide_input_arguments,
        signals.provide_input_command,
    ),
    "inputs": (
        "questions executions ask humans (--status for answered ones)",
        signals.inputs_arguments,
        signals.inputs_command,
    ),
    "events": (
        "which executions wait for which events, since and until when",
        signals.events_arguments,
        signals.events_command,
    ),
    "status": (
        "queue depths, live executions per workflow, the oldest due wake-up",
        operations.status_arguments,
        operations.status_command,
    ),
    "cleanup": (
        "delete finished executions older than --older-than",
        operations.cleanup_arguments,
        operations.cleanup_command,
    ),
    "workflows": (
        "the registered workflows: version, queue, steps, schedules",
        operations.workflows_arguments,
        operations.workflows_command,
    ),
    "versions": (
        "live executions per workflow version; which old versions are safe to delete",
        versions.versions_arguments,
        versions.versions_command,
    ),
    "schedules": (
        "schedules: list (with next fire times), pause, resume, trigger, delete, sync",
        schedules.schedules_arguments,
        schedules.schedules_command,
    ),
    "dashboard": (
        "serve the web dashboard (127.0.0.1:8787; --token to bind elsewhere)",
        web.dashboard_arguments,
        web.dashboard_command,
    ),
}
