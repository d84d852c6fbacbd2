"""`durable-celery dev-services start|stop|status`: the embedded PostgreSQL and Redis
(the `embedded` extra) kept running between commands, for local development."""

from __future__ import annotations

import argparse
import shlex

from durable_celery import devservices
from durable_celery.runtime import Runtime


def dev_services_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("action", choices=["start", "stop", "status"])


def dev_services_command(args: argparse.Namespace, runtime: Runtime) -> int:
    root = devservices.data_dir()
    if args.action == "start":
        services = devservices.start(root)
        how = "started" if services.started else "already running"
        print(f"embedded PostgreSQL and Redis {how} (data in {services.postgres_dir}); use them:")
        print(f"  export DURABLE_DATABASE_URL={shlex.quote(services.database_url)}")
        print(f"  export CELERY_BROKER_URL={shlex.quote(services.broker_url)}")
        return 0
    if args.action == "stop":
        stopped = devservices.stop(root)
        print("stopped the embedded PostgreSQL and Redis" if stopped else "none were running")
        return 0
    recorded, database, broker = devservices.status(root)
    if recorded is None:
        print(f"no embedded services running (data dir {root})")
        return 1
    print(f"PostgreSQL  {recorded.database_url}  {'answers' if database else 'not answering'}")
    print(f"Redis       {recorded.broker_url}  {'answers' if broker else 'not answering'}")
    return 0 if database and broker else 1
