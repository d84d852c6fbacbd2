"""A real Celery worker in the test's process: Celery's own embedded test worker
(`celery.contrib.testing.worker.start_worker`, what pytest-celery's `celery_worker`
fixture runs) with durable-celery's poller beside it. Beat is not part of an embedded
worker, so a timer thread runs the poll and the recovery that beat would send."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.contrib.testing.worker import start_worker

from durable_celery.engine import poll_once, recover_once
from durable_celery.errors import ConfigurationError
from durable_celery.runtime import Runtime

logger = logging.getLogger("durable_celery.testing")


class PollerThread:
    """Runs poll_once every `poll_interval` and recover_once every `recovery_interval`
    of the runtime's settings, on a daemon thread, until stopped."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="durable-poller", daemon=True)

    def _run(self) -> None:
        settings = self.runtime.settings
        since_recovery = 0.0
        while not self._stop.is_set():
            try:
                poll_once(self.runtime)
                since_recovery += settings.poll_interval
                if since_recovery >= settings.recovery_interval:
                    recover_once(self.runtime)
                    since_recovery = 0.0
            except Exception:  # a test's database going away must not kill the thread loudly
                logger.exception("durable poller thread: a sweep failed")
            self._stop.wait(settings.poll_interval)

    def __enter__(self) -> PollerThread:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)


@contextmanager
def in_process_worker(
    app: Celery,
    *,
    pool: str = "threads",
    concurrency: int = 2,
    queues: list[str] | None = None,
    loglevel: str = "WARNING",
    shutdown_timeout: float = 30.0,
    **options: Any,
) -> Iterator[Any]:
    """Run a worker of `app` (on which install() ran) in a thread of this process, and its
    poller, for the block; yields Celery's WorkController. `queues`: the queues it
    consumes (default: the app's, as `celery worker` without -Q). Other options go to
    Celery's WorkController."""
    runtime: Runtime | None = getattr(app, "durable_runtime", None)
    if runtime is None:
        raise ConfigurationError(
            f"the Celery app {app.main!r} has no durable runtime: call "
            f"durable_celery.install(app, ...) on it first"
        )
    if queues is not None:
        options["queues"] = list(queues)
    with (
        start_worker(
            app,
            pool=pool,
            concurrency=concurrency,
            loglevel=loglevel,
            perform_ping_check=False,  # needs a result backend; the start-up check suffices
            shutdown_timeout=shutdown_timeout,
            **options,
        ) as worker,
        PollerThread(runtime),
    ):
        yield worker
