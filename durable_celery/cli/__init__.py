"""`durable-celery [-A APP] COMMAND`: migrate, start, inspect and steer executions.

With `-A APP` (or CELERY_APP) the commands use that Celery app: its durable-celery
settings and its broker. The same commands run as a Celery sub-command:
`celery -A APP durable COMMAND`. Options go before or after the command.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import click
from celery import Celery
from celery.app.utils import find_app

from durable_celery.cli.commands import COMMANDS
from durable_celery.errors import ConfigurationError, DurableError
from durable_celery.runtime import Runtime, from_environment
from durable_celery.tasks import install


def main(argv: Sequence[str] | None = None, app: Celery | None = None) -> int:
    """Run one command; `app` is given when Celery runs us as `celery -A APP durable`."""
    args = _parser(takes_app=app is None).parse_args(argv)
    try:
        result: int = args.handler(args, _runtime(args, app))
        return result
    except DurableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _runtime(args: argparse.Namespace, app: Celery | None) -> Runtime:
    overrides = {"database_url": _option(args, "database_url"), "schema": _option(args, "schema")}
    app_name = _option(args, "app") or (None if app is not None else os.environ.get("CELERY_APP"))
    if app is None and app_name:
        app = _load_app(app_name)
    if app is None:
        # The bundled app, with the default database: a command line may assume one.
        return from_environment(require_database_url=False, **overrides)
    installed: Runtime | None = getattr(app, "durable_runtime", None)
    if installed is not None and not any(overrides.values()):
        return installed.activate()
    return install(app, **overrides)  # settings from the app's config and the environment


def _load_app(name: str) -> Celery:
    sys.path.insert(0, os.getcwd())  # as `celery -A` does
    try:
        app = find_app(name)
    except Exception as exc:
        raise ConfigurationError(f"cannot load the Celery app {name!r}: {exc}") from None
    if not isinstance(app, Celery):
        raise ConfigurationError(f"{name!r} is not a Celery app")
    return app


def _option(args: argparse.Namespace, name: str) -> Any:
    return getattr(args, name, None)


def _parser(takes_app: bool) -> argparse.ArgumentParser:
    # Every option is accepted before and after the command: the sub-parsers share them,
    # with SUPPRESS so that an option given before the command is not reset after it.
    shared = argparse.ArgumentParser(add_help=False)
    if takes_app:
        shared.add_argument(
            "-A", "--app", default=argparse.SUPPRESS, help="Celery app (CELERY_APP)"
        )
    shared.add_argument(
        "--database-url", default=argparse.SUPPRESS, help="SQLAlchemy URL (DURABLE_DATABASE_URL)"
    )
    shared.add_argument(
        "--schema", default=argparse.SUPPRESS, help="PostgreSQL schema of the tables"
    )
    parser = argparse.ArgumentParser(
        prog="celery durable" if not takes_app else "durable-celery",
        description="Durable workflows for Celery, stored in PostgreSQL.",
        parents=[shared],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, arguments, handler) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text, parents=[shared])
        arguments(command)
        command.set_defaults(handler=handler)
    return parser


@click.command(
    "durable",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def celery_command(ctx: Any, arguments: tuple[str, ...]) -> None:
    """Durable workflows: migrate, list, show, cancel, retry, ... (durable --help)."""
    ctx.exit(main(list(arguments), app=ctx.obj.app))
