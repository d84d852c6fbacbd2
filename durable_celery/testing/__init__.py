"""Testing durable workflows: for this project's suite and for users' own tests.

- `run_inline(Workflow, input, clock=...)` runs an execution in the test's process
  through the real engine and database; `VirtualClock.advance(days(3))` lets time pass
  for it (sleeps, retry timers, wait timeouts and deadlines fire at once).
- `timeline(execution)` and `assert_step_ran(execution, "charge", times=2)`.
- `in_process_worker(app)`: a real Celery worker in a thread, with the poller;
  `WorkerProcess` / `BeatProcess`: `celery worker` / `celery beat` subprocesses (for
  tests that kill workers); `wait_until(predicate, timeout)`.
- The pytest plugin (durable_celery.testing.plugin, loaded with this module by
  `-p durable_celery.testing` or the entry point): fixtures `durable_db`,
  `durable_clock`, `durable_app`, `durable_worker`, `durable_worker_process`.
"""

from durable_celery.testing.assertions import StepAttempt, assert_step_ran, timeline
from durable_celery.testing.clock import VirtualClock
from durable_celery.testing.databases import DatabasePool, DurableDatabase, fresh_database
from durable_celery.testing.inline import InlineRuntime
from durable_celery.testing.processes import BeatProcess, WorkerProcess, wait_until
from durable_celery.testing.runner import run_inline
from durable_celery.testing.worker import in_process_worker

__all__ = [
    "BeatProcess",
    "DatabasePool",
    "DurableDatabase",
    "InlineRuntime",
    "StepAttempt",
    "VirtualClock",
    "WorkerProcess",
    "assert_step_ran",
    "fresh_database",
    "in_process_worker",
    "run_inline",
    "timeline",
    "wait_until",
]

try:  # pytest is a test-time dependency: without it, only the helpers above exist
    import pytest as _pytest  # noqa: F401
except ImportError:  # pragma: no cover - production images without pytest
    pass
else:
    # This module is the plugin (so that `-p durable_celery.testing` and the entry point
    # are one registration): pytest reads its hooks and fixtures from here.
    from durable_celery.testing.plugin import (  # noqa: F401
        durable_app,
        durable_clock,
        durable_databases,
        durable_db,
        durable_worker,
        durable_worker_options,
        durable_worker_process,
        pytest_addoption,
    )
