"""Workloads shared by the benchmarks: K no-op steps, as a durable workflow and as Celery tasks.

Worker subprocesses import this module (DURABLE_WORKFLOW_MODULES), so the number of
steps comes from the environment (BENCH_STEPS) rather than from arguments.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import redis

from durable_celery import Concurrency, Retry, StepContext, Workflow, each, step
from durable_celery.celery import app

STEPS = int(os.environ.get("BENCH_STEPS", "10"))
# Keys of one benchmark run (BENCH_RUN): the benchmark deletes its own keys and never
# flushes a database.
RUN = os.environ.get("BENCH_RUN", "0")
DONE_KEY = f"bench:{RUN}:plain:done"
LATENCY_KEY = f"bench:{RUN}:plain:first_step_latency"
GAP_KEY = f"bench:{RUN}:plain:step_gap"
# Every how many chains one records its step-to-step gaps (a Redis write per step would
# slow the chains down).
GAP_SAMPLE = 10


@functools.cache
def _redis() -> redis.Redis:
    # The benchmark's Redis, which is not the broker when that is RabbitMQ.
    return redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL") or app.conf.broker_url)


def make_noop_workflow(steps: int, limited: bool = False) -> type[Workflow]:
    """K no-op steps; `limited`: with a concurrency limit per input["tenant"] (5 at once),
    which the benchmark starts with a tenant per execution: a limit never contended."""
    name = f"bench.noop_limited_{steps}" if limited else f"bench.noop_{steps}"
    body: dict[str, Any] = {"name": name, "__module__": __name__}
    if limited:
        body["concurrency"] = Concurrency(limit=5, key=lambda ctx: ctx.input["tenant"])
    for index in range(steps):

        def noop(ctx: StepContext) -> None:
            return None

        noop.__name__ = f"s{index:03d}"
        body[noop.__name__] = step(noop)
    return type(f"Noop{steps}", (Workflow,), body)


NoopWorkflow = make_noop_workflow(STEPS)
LimitedNoopWorkflow = make_noop_workflow(STEPS, limited=True)


def _plain(previous: list[float], index: int, last: int, chain_number: int) -> list[float]:
    """One link of a plain Celery chain; the chain carries [sent_at, previous start]."""
    now = time.time()
    sent_at, started = previous
    client = _redis()
    if index == 0:
        client.rpush(LATENCY_KEY, now - sent_at)
    elif chain_number % GAP_SAMPLE == 0:
        client.rpush(GAP_KEY, now - started)
    if index == last:
        client.incr(DONE_KEY)
    return [sent_at, now]


@app.task(name="bench.plain_step", ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
def plain_step(previous: list[float], index: int, last: int, chain_number: int) -> list[float]:
    return _plain(previous, index, last, chain_number)


@app.task(name="bench.plain_step_stored", ignore_result=False, shared=False)  # type: ignore[untyped-decorator]
def plain_step_stored(
    previous: list[float], index: int, last: int, chain_number: int
) -> list[float]:
    """The same link, with its result stored in the result backend, as when the caller
    awaits the chain's result."""
    return _plain(previous, index, last, chain_number)


class WaitsForGo(Workflow):
    """Suspends on an event; records when it resumed, for send-to-resume latency."""

    name = "bench.waits_for_go"

    @step
    def wait(ctx: StepContext) -> float:
        ctx.wait_for_event("go")
        return time.time()


# --- soak: a mixed workload (benchmarks/soak.py) -----------------------------------------


class SoakSteps(Workflow):
    name = "soak.steps"

    @step
    def a(ctx: StepContext) -> int:
        time.sleep(0.02)
        return 1

    @step
    def b(ctx: StepContext) -> int:
        time.sleep(0.4)  # long enough for worker kills to land in the middle of steps
        return ctx.results["a"] + 1

    @step
    def c(ctx: StepContext) -> int:
        time.sleep(0.02)
        return ctx.results["b"] + 1

    @step
    def d(ctx: StepContext) -> int:
        return ctx.results["c"] + 1


class SoakRetry(Workflow):
    name = "soak.retry"

    @step(retry=Retry(max_attempts=4, backoff="constant", base=0.2, jitter=False))
    def flaky(ctx: StepContext) -> int:
        if ctx.attempt == 1:
            raise RuntimeError("first attempts fail")
        return ctx.attempt

    @step
    def after(ctx: StepContext) -> str:
        return "ok"


class SoakSleep(Workflow):
    name = "soak.sleep"

    @step
    def nap(ctx: StepContext) -> str:
        ctx.sleep(float(ctx.input.get("seconds", 1)))
        return "rested"

    @step
    def after(ctx: StepContext) -> str:
        return "ok"


class SoakEvent(Workflow):
    name = "soak.event"

    @step
    def wait(ctx: StepContext) -> object:
        return ctx.wait_for_event("go", timeout=300)

    @step
    def after(ctx: StepContext) -> str:
        return "ok"


class SoakEach(Workflow):
    name = "soak.each"

    @each(
        items=lambda ctx: list(range(8)),
        concurrency=4,
        retry=Retry(max_attempts=3, base=0.2, jitter=False),
    )
    def square(ctx: StepContext, item: int) -> int:
        time.sleep(0.2)
        return item * item

    @step
    def total(ctx: StepContext) -> int:
        return sum(ctx.results["square"])


class SoakUnstorableOutput(Workflow):
    """Returns what jsonb cannot store: must end failed with InvalidPayload, recorded."""

    name = "soak.unstorable_output"

    @step
    def half_a_pair(ctx: StepContext) -> dict[str, str]:
        return {"text": "\ud800"}


class SoakUnstorableLogs(Workflow):
    """Logs what jsonb cannot store: must complete, its log lines sanitised."""

    name = "soak.unstorable_logs"

    @step
    def log(ctx: StepContext) -> str:
        ctx.logger.info("NUL \x00, lone surrogate \ud800")
        return "logged"


class SoakUnstorableError(Workflow):
    """Raises an error whose message jsonb cannot store: must end failed, recorded."""

    name = "soak.unstorable_error"

    @step
    def boom(ctx: StepContext) -> None:
        raise ValueError("NUL \x00 in an error")


class SoakHugeError(Workflow):
    """Raises a 5 MB error message: must end failed, its message cut to the limit."""

    name = "soak.huge_error"

    @step
    def boom(ctx: StepContext) -> None:
        raise ValueError("x" * 5_000_000)


class SoakCancelledFanOut(Workflow):
    """Cancelled by the soak while its items run: no item may be left behind."""

    name = "soak.cancelled_fan_out"

    @each(items=lambda ctx: list(range(30)), concurrency=10)
    def slow(ctx: StepContext, item: int) -> int:
        time.sleep(0.1)
        return item


SOAK_WORKFLOWS = [
    SoakSteps,
    SoakRetry,
    SoakSleep,
    SoakEvent,
    SoakEach,
    SoakUnstorableOutput,
    SoakUnstorableLogs,
    SoakUnstorableError,
    SoakHugeError,
    SoakCancelledFanOut,
]
