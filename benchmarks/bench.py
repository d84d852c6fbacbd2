"""durable-celery against plain Celery chains and against the database's own limit.

    python -m benchmarks.bench --workflows 500 --steps 10 --processes 2 4 --rounds 3

For each number of worker processes P (one `celery worker -c P` subprocess, prefork):

- the raw rate: how often P connections commit the checkpoint statement itself
  (benchmarks/raw_checkpoint.py) — the ceiling of durable steps/s;
- durable-celery: N workflows of K no-op steps started with one `start_many`;
- plain Celery chains of K no-op tasks, with a result backend (each link's result
  stored, as when the caller awaits the chain), and without one.
- durable-celery again with a workflow-level concurrency limit (5 per tenant, one
  tenant per execution: checked on every claim, never contended), for its cost in
  steps/s and commits per step.

Rounds alternate the systems so that noise hits all alike; the table shows the median
round of each. Commits per step are read from pg_stat_database after the workers exit
(the benchmark's own polling is not counted). Latencies: start (start call or send) to
the first step, and step to step (start to start of consecutive steps of a workflow;
for chains, a sample of one chain in ten). `--broker amqp://...` runs every system on
RabbitMQ (the chains' result backend and the benchmark's counters stay on Redis,
`--redis`). It never flushes a Redis database: its queues and keys are named after the
run and deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RUN = uuid.uuid4().hex[:8]
PLAIN_QUEUE = f"bench_plain_{RUN}"
DURABLE_QUEUE = f"bench_durable_{RUN}"
CHAINS = "chains (result backend)"
CHAINS_BARE = "chains (no backend)"
DURABLE = "durable-celery"
LIMITED = "durable-celery (limited)"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"


@dataclass
class Outcome:
    system: str
    workflows: int
    steps: int
    seconds: float
    first_step: list[float]  # seconds
    gaps: list[float] = field(default_factory=list)  # seconds, step start to step start
    commits: int | None = None

    @property
    def steps_per_second(self) -> float:
        return self.workflows * self.steps / self.seconds

    @property
    def commits_per_step(self) -> float | None:
        return None if self.commits is None else self.commits / (self.workflows * self.steps)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values: list[float]) -> str:
    return f"{percentile(values, 0.5) * 1000:.1f} / {percentile(values, 0.95) * 1000:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/durable_bench"
        ),
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12"),
        help="the Celery broker: redis://... or amqp://... (RabbitMQ)",
    )
    parser.add_argument(
        "--redis",
        default=None,
        help="the Redis of the chains' result backend and the benchmark's own counters "
        "(default: --broker when it is Redis, else redis://127.0.0.1:6379/12)",
    )
    args = parser.parse_args(argv)
    if args.redis is None:
        args.redis = args.broker if args.broker.startswith("redis") else DEFAULT_REDIS
    _prepare_environment(args)
    from benchmarks.raw_checkpoint import raw_checkpoint_rate
    from durable_celery.runtime import current_runtime
    from durable_celery.store.migrate import upgrade

    upgrade(current_runtime().settings)
    print(
        f"{args.workflows} workflows x {args.steps} no-op steps, {args.pool} pool, "
        f"{args.rounds} rounds, broker {args.broker}, database {make_url(args.database).database}",
        flush=True,
    )
    rows = []
    try:
        for processes in args.processes:
            raw = raw_checkpoint_rate(args.database, processes, args.raw_seconds)
            print(f"{processes} processes: raw checkpoint rate {raw:,.0f} commits/s", flush=True)
            outcomes: dict[str, list[Outcome]] = {
                CHAINS: [],
                CHAINS_BARE: [],
                DURABLE: [],
                LIMITED: [],
            }
            for round_number in range(1, args.rounds + 1):
                for system, run in (
                    (CHAINS, lambda p: run_plain(args, p, stored=True)),
                    (DURABLE, lambda p: run_durable(args, p)),
                    (CHAINS_BARE, lambda p: run_plain(args, p, stored=False)),
                    (LIMITED, lambda p: run_durable(args, p, limited=True)),
                ):
                    outcome = run(processes)
                    outcomes[system].append(outcome)
                    print(
                        f"  round {round_number}: {system:<24} "
                        f"{outcome.steps_per_second:8,.0f} steps/s",
                        flush=True,
                    )
            rows.append(_row(processes, raw, {k: _median(v) for k, v in outcomes.items()}))
    finally:
        _clean_broker(args.broker, args.redis)
    from durable_celery.cli.output import table

    headers = [
        "processes",
        "raw commits/s",
        "durable steps/s",
        "% of raw",
        "chains steps/s",
        "x chains",
        "x bare chains",
        "commits/step",
        "start p50/p95 ms",
        "step gap p50/p95 ms",
        "chain gap p50/p95 ms",
        "limited steps/s",
        "limited commits/step",
    ]
    print()
    print(table(headers, rows))
    print(
        "\nraw: the checkpoint statement alone, in a loop, on as many connections as worker "
        "processes.\nchains: plain Celery chains with a result backend (x bare chains: "
        "without one). limited: the same workflow with a concurrency limit per tenant, one "
        "tenant per execution (never contended).\nMedians of the rounds; latencies are "
        "p50 / p95."
    )
    return 0


def _row(processes: int, raw: float, median: dict[str, Outcome]) -> list[str]:
    durable, chains, bare = median[DURABLE], median[CHAINS], median[CHAINS_BARE]
    limited = median[LIMITED]
    per_step, limited_per_step = durable.commits_per_step, limited.commits_per_step
    return [
        str(processes),
        f"{raw:,.0f}",
        f"{durable.steps_per_second:,.0f}",
        f"{durable.steps_per_second / raw:.0%}",
        f"{chains.steps_per_second:,.0f}",
        f"{durable.steps_per_second / chains.steps_per_second:.2f}",
        f"{durable.steps_per_second / bare.steps_per_second:.2f}",
        "-" if per_step is None else f"{per_step:.2f}",
        ms(durable.first_step),
        ms(durable.gaps),
        ms(chains.gaps),
        f"{limited.steps_per_second:,.0f}",
        "-" if limited_per_step is None else f"{limited_per_step:.2f}",
    ]


def _median(outcomes: list[Outcome]) -> Outcome:
    ordered = sorted(outcomes, key=lambda outcome: outcome.steps_per_second)
    return ordered[len(ordered) // 2]


def ensure_database(database_url: str) -> None:
    """Create the benchmark's database if it does not exist (never drops anything)."""
    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{url.database}"')


def _prepare_environment(args: argparse.Namespace) -> None:
    ensure_database(args.database)
    os.environ.update(
        {
            "DURABLE_DATABASE_URL": args.database,
            "CELERY_BROKER_URL": args.broker,
            "DURABLE_WORKFLOW_MODULES": "benchmarks.workloads",
            "BENCH_STEPS": str(args.steps),
            "BENCH_RUN": RUN,
            "BENCH_REDIS_URL": args.redis,
        }
    )
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    sys.path.insert(0, str(ROOT))


def _clean_broker(broker: str, redis_url: str) -> None:
    """Delete this run's queues and keys, and nothing else."""
    client = redis.Redis.from_url(redis_url)
    mine = [key for key in client.scan_iter(f"*{RUN}*")]
    if mine:
        client.delete(*mine)
    if not broker.startswith("redis"):
        from kombu import Connection, Exchange, Queue

        with Connection(broker) as conn:
            channel = conn.channel()
            for name in (PLAIN_QUEUE, DURABLE_QUEUE):
                Queue(name, Exchange(name), name)(channel).delete()
                Exchange(name)(channel).delete()


def _worker(args: argparse.Namespace, queue: str, processes: int, env: dict[str, str]) -> Any:
    from durable_celery.testing import WorkerProcess

    return WorkerProcess(
        queues=[queue], concurrency=processes, pool=args.pool, cwd=ROOT, name=queue, env=env
    )


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    from durable_celery.testing import wait_until

    if not wait_until(predicate, timeout, interval=0.02):
        raise SystemExit(f"timed out waiting for {what}")


def run_plain(args: argparse.Namespace, processes: int, *, stored: bool) -> Outcome:
    from benchmarks import workloads

    env = dict(os.environ)
    if stored:
        env["CELERY_RESULT_BACKEND"] = args.redis
    client = redis.Redis.from_url(args.redis)
    last = args.steps - 1
    task = workloads.plain_step_stored if stored else workloads.plain_step
    app = task.app
    app.conf.result_backend = args.redis if stored else None

    def send(count: int) -> None:
        from celery import chain

        for number in range(count):
            links = [task.s([time.time(), 0.0], 0, last, number).set(queue=PLAIN_QUEUE)]
            links += [task.s(i, last, number).set(queue=PLAIN_QUEUE) for i in range(1, args.steps)]
            chain(*links).apply_async()

    keys = (workloads.DONE_KEY, workloads.LATENCY_KEY, workloads.GAP_KEY)
    with _worker(args, PLAIN_QUEUE, processes, env):
        send(2)  # warm-up: the pool is up and connected
        _wait(lambda: int(client.get(workloads.DONE_KEY) or 0) >= 2, 60, "plain warm-up")
        client.delete(*keys)
        started = time.perf_counter()
        send(args.workflows)
        _wait(
            lambda: int(client.get(workloads.DONE_KEY) or 0) >= args.workflows,
            args.timeout,
            "plain chains",
        )
        elapsed = time.perf_counter() - started
    first = [float(v) for v in client.lrange(workloads.LATENCY_KEY, 0, -1)]
    gaps = [float(v) for v in client.lrange(workloads.GAP_KEY, 0, -1)]
    client.delete(*keys)
    if stored:
        for key in client.scan_iter("celery-task-meta-*", count=1000):
            client.delete(key)
    return Outcome(
        CHAINS if stored else CHAINS_BARE, args.workflows, args.steps, elapsed, first, gaps
    )


def run_durable(args: argparse.Namespace, processes: int, limited: bool = False) -> Outcome:
    from sqlalchemy import text

    from benchmarks.workloads import LimitedNoopWorkflow, NoopWorkflow
    from durable_celery.runtime import current_runtime
    from durable_celery.store.connections import dispose_engines

    workflow = LimitedNoopWorkflow if limited else NoopWorkflow
    # One tenant per execution: the limit is checked on every claim, never contended.
    inputs = [{"tenant": f"{RUN}-{i}"} for i in range(args.workflows)]

    runtime = current_runtime()
    engine = runtime.database
    polls = 0

    def completed() -> int:
        nonlocal polls
        polls += 1
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM workflow_executions WHERE workflow = :w "
                        "AND status = 'completed' AND created_at >= :since"
                    ),
                    {"w": workflow.name, "since": since},
                ).scalar_one()
            )

    with _worker(args, DURABLE_QUEUE, processes, dict(os.environ)):
        since = _db_now(engine)
        workflow.start_many(
            [{"tenant": f"{RUN}-warm-1"}, {"tenant": f"{RUN}-warm-2"}], queue=DURABLE_QUEUE
        )
        _wait(lambda: completed() >= 2, 60, "durable warm-up")
        dispose_engines()
        commits_before = _commits(args.database)
        since = _db_now(engine)
        polls = 0
        started = time.perf_counter()
        workflow.start_many(inputs, queue=DURABLE_QUEUE)
        _wait(lambda: completed() >= args.workflows, args.timeout, "durable workflows")
        elapsed = time.perf_counter() - started
    # The workers have exited and our pool is closed, so every backend flushed its stats.
    dispose_engines()
    time.sleep(0.5)
    # Each poll of ours and the reading of `since` is a transaction too: not the engine's.
    commits = _commits(args.database) - commits_before - polls - 1
    first, gaps = _durable_latencies(engine, workflow.name, since)
    return Outcome(
        LIMITED if limited else DURABLE, args.workflows, args.steps, elapsed, first, gaps, commits
    )


def _durable_latencies(engine: Any, workflow: str, since: Any) -> tuple[list[float], list[float]]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.sequence, extract(epoch FROM s.started_at - e.created_at),"
                " extract(epoch FROM s.started_at - lag(s.started_at) OVER ("
                "   PARTITION BY s.execution_id ORDER BY s.sequence))"
                " FROM workflow_executions e JOIN step_executions s ON s.execution_id = e.id"
                " WHERE e.workflow = :w AND e.created_at >= :since"
            ),
            {"w": workflow, "since": since},
        ).all()
    first = [float(row[1]) for row in rows if row[0] == 1]
    gaps = [float(row[2]) for row in rows if row[2] is not None]
    return first, gaps


def _db_now(engine: Any) -> Any:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT now()")).scalar_one()


def _commits(database_url: str) -> int:
    url = make_url(database_url)
    dsn = url.set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (url.database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


if __name__ == "__main__":
    sys.exit(main())
