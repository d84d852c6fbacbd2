"""`durable-celery dashboard`: the web dashboard, served by uvicorn in the foreground."""

from __future__ import annotations

import argparse

from durable_celery.config import dashboard_token
from durable_celery.errors import ConfigurationError
from durable_celery.runtime import Runtime


def dashboard_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    command.add_argument("--port", type=int, default=8787, help="port (8787)")
    command.add_argument(
        "--token",
        help="token every page needs; required to bind beyond loopback (DURABLE_DASHBOARD_TOKEN)",
    )
    command.add_argument("--read-only", action="store_true", help="show everything, change nothing")


def dashboard_command(args: argparse.Namespace, runtime: Runtime) -> int:
    token = args.token or dashboard_token()
    try:
        from durable_celery.dashboard import create_app, serve
        from durable_celery.dashboard.security import check_bind
    except ImportError as exc:
        raise ConfigurationError(
            f"the dashboard needs the `dashboard` extra: pip install 'durable-celery[dashboard]' "
            f"({exc})"
        ) from None
    check_bind(args.host, token)  # before anything else: a refused start changes nothing
    app = create_app(runtime, token=token, read_only=args.read_only)
    where = f"http://{args.host}:{args.port}/"
    mode = " (read-only)" if args.read_only else ""
    print(f"durable-celery dashboard on {where}{mode}", flush=True)
    serve(app, args.host, args.port, token)
    return 0
