"""I/O-bound workflows on one threads (or gevent) worker: how close to the ideal time.

    python -m benchmarks.io_bound --executions 1000 --steps 5 --sleep 0.05 \\
        --pool threads --concurrency 100

Starts N executions of K steps that each sleep S seconds (`time.sleep`, which is gevent's
sleep in a gevent worker), on one `celery -A durable_celery worker -P POOL -c C`
subprocess, and prints the elapsed time from the first start to the last completion,
the ideal time (N x K x S / C), their ratio, steps/s, and the p50/p95 of step-to-step
latency (a step's start minus the previous step's end, from the step rows) and of
start-to-first-step latency. The bar: ratio <= 1.5 for 1,000 x 5 x 0.05 s at -c 100.

It uses a database of its own (created if missing) and a queue named for the run on the
broker; it deletes only the broker keys that carry that name, never a whole database.
Worker processes import this module (DURABLE_WORKFLOW_MODULES), so the steps and the
sleep reach them through the environment (IO_STEPS, IO_SLEEP).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from durable_celery import StepContext, Workflow, step

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = "bench.io_bound"
STEPS = int(os.environ.get("IO_STEPS", "5"))
SLEEP = float(os.environ.get("IO_SLEEP", "0.05"))


def make_io_workflow(steps: int, sleep: float) -> type[Workflow]:
    body: dict[str, Any] = {"name": WORKFLOW, "__module__": __name__}
    for index in range(steps):

        def wait_on_io(ctx: StepContext) -> None:
            time.sleep(sleep)  # stands for a network call

        wait_on_io.__name__ = f"s{index:03d}"
        body[wait_on_io.__name__] = step(wait_on_io)
    return type("IoBound", (Workflow,), body)


if __name__ != "__main__":  # `python -m` runs main() from the imported module (below)
    IoBound = make_io_workflow(STEPS, SLEEP)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--pool", choices=("threads", "gevent"), default="threads")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--mode",
        choices=("backlog", "live"),
        default="backlog",
        help="backlog: start all, then the worker, timed from its first step (the worker's "
        "time); live: start them while a warm worker runs, timed from the first start",
    )
    parser.add_argument("--producers", type=int, default=4, help="threads that start them")
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_IO_DATABASE_URL"),
        help="an existing PostgreSQL (default: a throwaway cluster of its own)",
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("BENCH_IO_BROKER_URL"),
        help="an existing Redis database (default: a throwaway redis-server of its own)",
    )
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--loglevel", default="warning", help="the worker's")
    args = parser.parse_args(argv)
    # Killed (Ctrl-C, timeout, kill): stop the workers and pollers on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.pool == "gevent":
        try:
            import gevent  # noqa: F401
        except ImportError:
            raise SystemExit("--pool gevent needs gevent: pip install gevent") from None

    if args.database and args.broker:
        return run(args)
    # A worker at -c 100 holds ~100 connections: more than a default max_connections
    # leaves for anyone else. A throwaway server of our own has room, and nobody else's.
    sys.path.insert(0, str(ROOT))
    from tests.servers import PrivatePostgres, PrivateRedis

    with contextlib.ExitStack() as servers:
        if not args.database:
            postgres = servers.enter_context(
                PrivatePostgres(max_connections=max(300, args.concurrency + 50))
            )
            args.database = f"{postgres.server_url}/durable_io_bench"
        if not args.broker:
            args.broker = servers.enter_context(PrivateRedis()).url(0)
        return run(args)


def run(args: argparse.Namespace) -> int:
    tag = f"io{os.getpid()}x{uuid.uuid4().hex[:8]}"
    _prepare_environment(args)
    from durable_celery.runtime import current_runtime
    from durable_celery.store.migrate import upgrade

    runtime = current_runtime()
    upgrade(runtime.settings)
    ideal = args.executions * args.steps * args.sleep / args.concurrency
    print(
        f"{args.executions} executions x {args.steps} steps x {args.sleep} s sleep, "
        f"-P {args.pool} -c {args.concurrency}, ideal {ideal:.2f} s, {args.mode} mode, "
        f"queue {tag}",
        flush=True,
    )
    ratios = []
    try:
        for round_number in range(1, args.rounds + 1):
            result = run_round(args, f"{tag}r{round_number}")
            ratios.append(result["elapsed"] / ideal)
            _print_round(round_number, result, ideal, args)
    finally:
        _delete_broker_keys(args.broker, tag)
    if args.rounds > 1:
        print(f"median ratio {statistics.median(ratios):.2f}")
    return 0


def run_round(args: argparse.Namespace, queue: str) -> dict[str, Any]:
    import psycopg
    from sqlalchemy.engine import make_url

    from durable_celery.store.connections import dispose_engines
    from durable_celery.testing import WorkerProcess

    dsn = make_url(args.database).set(drivername="postgresql").render_as_string(False)
    watch = psycopg.connect(dsn, autocommit=True)
    watch.execute("DELETE FROM workflow_executions WHERE workflow = %s", (WORKFLOW,))

    def completed() -> int:
        row = watch.execute(
            "SELECT count(*) FROM workflow_executions WHERE workflow = %s AND status = 'completed'",
            (WORKFLOW,),
        ).fetchone()
        return int(row[0]) if row else 0

    def connections() -> int:
        row = watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
        return int(row[0]) if row else 0

    peak = 0

    def done() -> bool:
        nonlocal peak
        peak = max(peak, connections())
        return completed() >= args.executions

    worker = WorkerProcess(
        queues=[queue],
        concurrency=args.concurrency,
        pool=args.pool,
        cwd=ROOT,
        name=queue,
        loglevel=args.loglevel,
    )
    starting = 0.0
    if args.mode == "backlog":
        # Every execution is started, its wake-up queued, before the worker exists: the
        # time is the worker's alone, from its first step to the last completion.
        starting = _start_all(args, queue)
        dispose_engines()  # from here on, every connection to the database is the worker's
        with worker:
            _wait(done, args.timeout, "the executions", worker)
            peak = max(peak, connections())
        row = watch.execute(
            "SELECT extract(epoch FROM max(e.completed_at) - min(s.started_at)) "
            "FROM workflow_executions e JOIN step_executions s ON s.execution_id = e.id "
            "WHERE e.workflow = %s",
            (WORKFLOW,),
        ).fetchone()
        assert row is not None
        elapsed = float(row[0])
    else:
        # A warm worker, and the executions started while it runs: from the first start
        # call to the last completion, the producer's time included.
        with worker:
            for _ in range(2):
                IoBound.start_durable({}, queue=queue)
            _wait(lambda: completed() >= 2, 60, "the warm-up", worker)
            watch.execute("DELETE FROM workflow_executions WHERE workflow = %s", (WORKFLOW,))
            began = time.perf_counter()
            starting = _start_all(args, queue)
            dispose_engines()
            _wait(done, args.timeout, "the executions", worker)
            elapsed = time.perf_counter() - began
            peak = max(peak, connections())
    gaps = _column(
        watch,
        "SELECT extract(epoch FROM s.started_at - p.completed_at) FROM step_executions s "
        "JOIN step_executions p ON p.execution_id = s.execution_id "
        "AND p.sequence = s.sequence - 1 JOIN workflow_executions e ON e.id = s.execution_id "
        "WHERE e.workflow = %s",
    )
    firsts = _column(
        watch,
        "SELECT extract(epoch FROM s.started_at - e.created_at) FROM step_executions s "
        "JOIN workflow_executions e ON e.id = s.execution_id "
        "WHERE e.workflow = %s AND s.sequence = 1",
    )
    watch.close()
    return {
        "elapsed": elapsed,
        "starting": starting,
        "gaps": gaps,
        "firsts": firsts,
        "peak_connections": peak,
    }


def _start_all(args: argparse.Namespace, queue: str) -> float:
    """Start the executions from `--producers` threads; returns the seconds it took."""
    from concurrent.futures import ThreadPoolExecutor

    def start(count: int) -> None:
        for _ in range(count):
            IoBound.start_durable({}, queue=queue)

    shares = [args.executions // args.producers] * args.producers
    shares[0] += args.executions - sum(shares)
    began = time.perf_counter()
    with ThreadPoolExecutor(args.producers) as producers:
        list(producers.map(start, shares))
    return time.perf_counter() - began


def _column(conn: Any, sql: str) -> list[float]:
    return [float(row[0]) for row in conn.execute(sql, (WORKFLOW,))]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _print_round(
    number: int, result: dict[str, Any], ideal: float, args: argparse.Namespace
) -> None:
    elapsed = result["elapsed"]
    steps = args.executions * args.steps
    gaps, firsts = result["gaps"], result["firsts"]
    print(
        f"round {number}: elapsed {elapsed:.2f} s (starting them took "
        f"{result['starting']:.2f} s), "
        f"ideal {ideal:.2f} s, ratio {elapsed / ideal:.2f} (bar 1.50), "
        f"{steps / elapsed:,.0f} steps/s\n"
        f"  step->step latency p50 {_ms(statistics.median(gaps) if gaps else None)} "
        f"p95 {_ms(_percentile(gaps, 0.95))}; start->first step p50 "
        f"{_ms(statistics.median(firsts) if firsts else None)} "
        f"p95 {_ms(_percentile(firsts, 0.95))}; "
        f"worker connections at most {result['peak_connections']}",
        flush=True,
    )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _wait(predicate: Any, timeout: float, what: str, worker: Any) -> None:
    from durable_celery.testing import wait_until

    if not wait_until(predicate, timeout, interval=0.02):
        raise SystemExit(f"timed out waiting for {what}; worker log:\n{worker.log_tail()}")


def _prepare_environment(args: argparse.Namespace) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

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
            "DURABLE_WORKFLOW_MODULES": "benchmarks.io_bound",
            "IO_STEPS": str(args.steps),
            "IO_SLEEP": str(args.sleep),
        }
    )
    sys.path.insert(0, str(ROOT))


def _delete_broker_keys(broker: str, run: str) -> None:
    """Only what this run made: keys named for its queues and worker, and its queues'
    members of kombu's shared binding sets."""
    import redis

    client = redis.Redis.from_url(broker)
    mine = list(client.scan_iter(match=f"*{run}*", count=1000))
    if mine:
        client.delete(*mine)
    for key in client.scan_iter(match="_kombu.binding.*", count=1000):
        members = [m for m in client.smembers(key) if run.encode() in m]
        if members:
            client.srem(key, *members)


if __name__ == "__main__":
    # One registered workflow: the one of `benchmarks.io_bound`, which the workers import.
    sys.path.insert(0, str(ROOT))
    from benchmarks.io_bound import main as imported_main

    sys.exit(imported_main())


# EXPERIMENT (temporary)
if os.environ.get("IO_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["IO_SWITCH_INTERVAL"]))
if os.environ.get("IO_NO_ACK_EMULATION"):
    from celery import current_app

    current_app.conf.broker_transport_options = {"ack_emulation": False}
