"""`cancel-many` and `retry-many`: steer every execution that matches some filters."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from durable_celery.cli.arguments import (
    add_status_option,
    parse_duration,
    parse_moment,
    split_statuses,
    with_json,
)
from durable_celery.client import cancel_many, retry_many
from durable_celery.client.bulk import DEFAULT_BATCH_SIZE
from durable_celery.runtime import Runtime


class Filters(TypedDict):
    workflow: str | None
    status: list[str] | None
    queue: str | None
    older_than: timedelta | None
    created_before: datetime | None


def cancel_many_command(args: argparse.Namespace, runtime: Runtime) -> int:
    n = cancel_many(
        **_filters(args),
        reason=args.reason,
        batch_size=args.batch_size,
        dry_run=args.dry_run,
        runtime=runtime,
        progress=_progress("cancelled"),
    )
    _report(args, n, "cancel", "cancelled")
    return 0


def retry_many_command(args: argparse.Namespace, runtime: Runtime) -> int:
    n = retry_many(
        **_filters(args),
        batch_size=args.batch_size,
        dry_run=args.dry_run,
        runtime=runtime,
        progress=_progress("resumed"),
    )
    _report(args, n, "retry", "resumed")
    return 0


def cancel_many_arguments(command: argparse.ArgumentParser) -> None:
    _filter_arguments(command, "live statuses: pending, running, waiting, compensating")
    command.add_argument("--reason", help="recorded as the cancelled executions' error")
    _batch_arguments(command)


def retry_many_arguments(command: argparse.ArgumentParser) -> None:
    _filter_arguments(command, "failed, timed_out or both (the default)")
    _batch_arguments(command)


def _filter_arguments(command: argparse.ArgumentParser, statuses: str) -> None:
    command.add_argument("--workflow")
    add_status_option(command, f"{statuses}; repeat it or comma-separate")
    command.add_argument("--queue")
    command.add_argument("--older-than", help="created longer ago than this: 90m, 12h, 30d")
    command.add_argument(
        "--created-before", metavar="WHEN", help="created before: 2h (ago), or an ISO datetime"
    )


def _batch_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--dry-run", action="store_true", help="count, change nothing")
    command.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per transaction"
    )
    with_json(command)


def _filters(args: argparse.Namespace) -> Filters:
    now = datetime.now(UTC)
    return Filters(
        workflow=args.workflow,
        status=split_statuses(args.status),
        queue=args.queue,
        older_than=None
        if args.older_than is None
        else parse_duration(args.older_than, "--older-than"),
        created_before=None
        if args.created_before is None
        else parse_moment(args.created_before, "--created-before", now),
    )


def _progress(done: str) -> Callable[[int], None]:
    def progress(total: int) -> None:
        print(f"... {total} {done} so far", file=sys.stderr, flush=True)

    return progress


def _report(args: argparse.Namespace, n: int, verb: str, done: str) -> None:
    if args.json:
        print(json.dumps({"would_" + verb: n} if args.dry_run else {done: n}))
    elif args.dry_run:
        print(f"would {verb} {_executions(n)} (dry run)")
    else:
        print(f"{done} {_executions(n)}")


def _executions(n: int) -> str:
    return f"{n} execution" if n == 1 else f"{n} executions"
