"""`durable-celery versions`: live executions per workflow version, and which old
versions have none left (their class can be deleted)."""

from __future__ import annotations

import argparse
import json

from durable_celery.cli.arguments import with_json
from durable_celery.cli.output import table
from durable_celery.client.workflows import VersionInfo, workflow_versions
from durable_celery.runtime import Runtime


def versions_command(args: argparse.Namespace, runtime: Runtime) -> int:
    versions = workflow_versions(args.workflow, runtime=runtime)
    if args.json:
        print(json.dumps([info.to_dict() for info in versions], indent=2))
        return 0
    rows = [
        [
            info.workflow,
            str(info.version),
            str(info.pending),
            str(info.running),
            str(info.waiting),
            _state(info),
        ]
        for info in versions
    ]
    print(table(["WORKFLOW", "VERSION", "PENDING", "RUNNING", "WAITING", "STATE"], rows))
    return 0


def _state(info: VersionInfo) -> str:
    if info.stranded:
        return "NOT REGISTERED: deploy this version again or cancel its executions"
    if not info.registered:
        return "not registered"
    if info.newest:
        return "newest (new starts)"
    if info.deletable:
        return "safe to delete"
    return "draining: keep its class"


def versions_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workflow", metavar="NAME", help="only this workflow's versions")
    with_json(command)
