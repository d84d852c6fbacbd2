"""The demo's fallback: embedded servers when the user configured none and nothing
answers at the default addresses. A configured server is used as is, even when down."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from durable_celery import celery_defaults
from durable_celery.config import database_url_configured
from durable_celery.devservices.probe import answers
from durable_celery.devservices.servers import start, stop
from durable_celery.errors import ConfigurationError
from durable_celery.runtime import Runtime


@contextmanager
def demo_services(runtime: Runtime, *, app_given: bool, url_given: bool) -> Iterator[Runtime]:
    """`runtime`, or one pointed at embedded servers started for the block (and stopped
    after it, Ctrl-C and errors included; servers kept by `dev-services start` stay)."""
    conf = runtime.app.conf
    need_database = not (app_given or url_given or database_url_configured(conf)) and not (
        answers(runtime.settings.database_url)
    )
    broker_configured = "CELERY_BROKER_URL" in os.environ or (
        conf.broker_url != celery_defaults.broker_url
    )
    need_broker = not (app_given or broker_configured) and not answers(conf.broker_url)
    if not (need_database or need_broker):
        yield runtime
        return
    began = time.monotonic()
    try:
        services = start()
    except ConfigurationError as exc:
        missing = [
            f"no {name} answers at {url}"
            for name, url, needed in (
                ("PostgreSQL", runtime.settings.database_url, need_database),
                ("broker", conf.broker_url, need_broker),
            )
            if needed
        ]
        raise ConfigurationError(
            f"{' and '.join(missing)} (set DURABLE_DATABASE_URL and CELERY_BROKER_URL to "
            f"use yours), and the embedded servers cannot start: {exc}"
        ) from None
    if need_database:
        print(
            f"using an embedded PostgreSQL at {services.database_url} (data in "
            f"{services.postgres_dir}); set DURABLE_DATABASE_URL to use yours"
        )
        settings = replace(runtime.settings, database_url=services.database_url)
        runtime = Runtime(runtime.app, settings).activate()
    if need_broker:
        print(
            f"using an embedded Redis at {services.broker_url}; set CELERY_BROKER_URL to use yours"
        )
    print(f"embedded services ready in {time.monotonic() - began:.1f} s")
    saved = {name: os.environ.get(name) for name in ("DURABLE_DATABASE_URL", "CELERY_BROKER_URL")}
    if need_database:
        os.environ["DURABLE_DATABASE_URL"] = services.database_url  # the worker inherits it
    if need_broker:
        os.environ["CELERY_BROKER_URL"] = services.broker_url  # read by conf.broker_url too
    previous = signal.signal(signal.SIGTERM, _exit)  # so that `finally` stops the servers
    try:
        yield runtime
    finally:
        signal.signal(signal.SIGTERM, previous)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if services.started:
            runtime.database.dispose()  # its connections would only hold up the shutdown
            stop()
            print(
                "stopped   the embedded PostgreSQL and Redis; their data stays: "
                "`durable-celery dev-services start` runs them again (and prints their URLs)"
            )


def _exit(signum: int, _frame: Any) -> None:
    sys.exit(128 + signum)
