"""Durable workflows versus plain Celery chains, same machine, broker and worker pool.

    python -m benchmarks.bench --workflows 500 --steps 10 --concurrency 2

Runs N workflows of K no-op steps through durable-celery, then N chains of K no-op
tasks through plain Celery, each on a fresh `celery -A durable_celery worker` subprocess
with the same pool and concurrency, and prints steps/s, workflows/s, start-to-first-step
latency and PostgreSQL commits per step (from pg_stat_database, read after the workers
exit so every backend has flushed its counters).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
PLAIN_QUEUE = "bench_plain"
DURABLE_QUEUE = "bench_durable"


@dataclass
class Outcome:
    system: str
    workflows: int
    steps: int
    seconds: float
    latencies: list[float]
    commits: int | None = None

    @property
    def steps_per_second(self) -> float:
        return self.workflows * self.steps / self.seconds

    def row(self) -> list[str]:
        total = self.workflows * self.steps
        p50 = statistics.median(self.latencies) * 1000 if self.latencies else float("nan")
        p95 = _percentile(self.latencies, 0.95) * 1000
        commits = f"{self.commits / total:.2f}" if self.commits is not None else "-"
        return [
            self.system,
            str(self.workflows),
            str(total),
            f"{self.seconds:.2f}",
            f"{total / self.seconds:,.0f}",
            f"{self.workflows / self.seconds:,.1f}",
            f"{p50:.1f}",
            f"{p95:.1f}",
            commits,
        ]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--pool", default="prefork")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/durable_bench"
        ),
    )
    parser.add_argument(
        "--broker", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)

    _prepare_environment(args)
    from durable_celery.runtime import current_runtime
    from durable_celery.store.migrate import upgrade

    runtime = current_runtime()
    upgrade(runtime.settings)
    redis.Redis.from_url(args.broker).flushdb()

    print(
        f"{args.workflows} workflows x {args.steps} no-op steps, {args.pool} pool, "
        f"concurrency {args.concurrency}, broker {args.broker}, {args.rounds} rounds",
        flush=True,
    )
    outcomes: list[Outcome] = []
    for round_number in range(1, args.rounds + 1):
        # Alternate the systems so that machine noise hits both alike.
        for run in (run_plain, run_durable):
            outcome = run(args)
            outcomes.append(outcome)
            print(
                f"  round {round_number}: {outcome.system:<15} {outcome.steps_per_second:8,.0f} "
                f"steps/s",
                flush=True,
            )
    plain = _median([o for o in outcomes if o.system == "celery chains"])
    durable = _median([o for o in outcomes if o.system == "durable-celery"])
    headers = [
        "system (median round)",
        "workflows",
        "steps",
        "seconds",
        "steps/s",
        "workflows/s",
        "p50 start ms",
        "p95 start ms",
        "commits/step",
    ]
    from durable_celery.cli import table

    print()
    print(table(headers, [plain.row(), durable.row()]))
    ratio = durable.steps_per_second / plain.steps_per_second
    print(f"\ndurable-celery runs {ratio:.2f}x the steps/s of plain Celery chains")
    print("(start ms: from start call / send to the first step, under the full load)")
    return 0


def _median(outcomes: list[Outcome]) -> Outcome:
    ordered = sorted(outcomes, key=lambda outcome: outcome.steps_per_second)
    return ordered[len(ordered) // 2]


def _prepare_environment(args: argparse.Namespace) -> None:
    url = make_url(args.database)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{url.database}"')
    os.environ.update(
        {
            "DURABLE_DATABASE_URL": args.database,
            "CELERY_BROKER_URL": args.broker,
            "DURABLE_WORKFLOW_MODULES": "benchmarks.workloads",
            "BENCH_STEPS": str(args.steps),
        }
    )
    sys.path.insert(0, str(ROOT))


def _worker(args: argparse.Namespace, queue: str):  # type: ignore[no-untyped-def]
    from durable_celery.testing import WorkerProcess

    return WorkerProcess(
        queues=[queue], concurrency=args.concurrency, pool=args.pool, cwd=ROOT, name=queue
    )


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    from durable_celery.testing import wait_until

    if not wait_until(predicate, timeout, interval=0.02):
        raise SystemExit(f"timed out waiting for {what}")


def run_plain(args: argparse.Namespace) -> Outcome:
    from celery import chain

    from benchmarks.workloads import DONE_KEY, LATENCY_KEY, plain_step

    client = redis.Redis.from_url(args.broker)
    last = args.steps - 1

    def send(count: int) -> None:
        for _ in range(count):
            links = [plain_step.s(time.time(), 0, last).set(queue=PLAIN_QUEUE)]
            links += [plain_step.s(i, last).set(queue=PLAIN_QUEUE) for i in range(1, args.steps)]
            chain(*links).apply_async()

    with _worker(args, PLAIN_QUEUE):
        send(2)  # warm-up: the pool is up and connected
        _wait(lambda: int(client.get(DONE_KEY) or 0) >= 2, 60, "plain warm-up")
        client.delete(DONE_KEY, LATENCY_KEY)
        started = time.perf_counter()
        send(args.workflows)
        _wait(
            lambda: int(client.get(DONE_KEY) or 0) >= args.workflows, args.timeout, "plain chains"
        )
        elapsed = time.perf_counter() - started
    latencies = [float(v) for v in client.lrange(LATENCY_KEY, 0, -1)]
    return Outcome("celery chains", args.workflows, args.steps, elapsed, latencies)


def run_durable(args: argparse.Namespace) -> Outcome:
    from sqlalchemy import text

    from benchmarks.workloads import NoopWorkflow
    from durable_celery.runtime import current_runtime
    from durable_celery.store.connections import dispose_engines

    runtime = current_runtime()
    engine = runtime.database

    def completed() -> int:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) FROM workflow_executions WHERE workflow = :w "
                    "AND status = 'completed' AND created_at >= :since"
                ),
                {"w": NoopWorkflow.name, "since": since},
            ).scalar_one()

    with _worker(args, DURABLE_QUEUE):
        since = _db_now(engine)
        for _ in range(2):
            NoopWorkflow.start_durable({}, queue=DURABLE_QUEUE)
        _wait(lambda: completed() >= 2, 60, "durable warm-up")
        dispose_engines()
        commits_before = _commits(args.database)
        since = _db_now(engine)
        started = time.perf_counter()
        for _ in range(args.workflows):
            NoopWorkflow.start_durable({}, queue=DURABLE_QUEUE)
        _wait(lambda: completed() >= args.workflows, args.timeout, "durable workflows")
        elapsed = time.perf_counter() - started
    # The workers have exited and our pool is closed, so every backend flushed its stats.
    dispose_engines()
    time.sleep(0.5)
    commits = _commits(args.database) - commits_before
    with engine.connect() as conn:
        latencies = [
            row[0]
            for row in conn.execute(
                text(
                    "SELECT extract(epoch FROM s.started_at - e.created_at) "
                    "FROM workflow_executions e "
                    "JOIN step_executions s ON s.execution_id = e.id AND s.sequence = 1 "
                    "WHERE e.workflow = :w AND e.created_at >= :since"
                ),
                {"w": NoopWorkflow.name, "since": since},
            )
        ]
    return Outcome(
        "durable-celery",
        args.workflows,
        args.steps,
        elapsed,
        [float(v) for v in latencies],
        commits,
    )


def _db_now(engine):  # type: ignore[no-untyped-def]
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
