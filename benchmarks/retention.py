"""Claim latency while retention prunes a large history.

    python -m benchmarks.retention --finished 1000000

Fills a scratch database (created here, dropped at the end) with N finished executions
(benchmarks/explain_poller.py's filler: a completed step attempt each, fan-out items for
every hundredth) and live ones, then starts a claimer subprocess that works like a busy
worker: it starts a one-step execution, claims it through the engine's claim
(store.executions.claim, the statement every wake-up begins with) and gives it back,
then runs it to completion through the engine (run_execution: claim, step, checkpoint,
completion), over and over. After a baseline without pruning, the parent runs
apply_retention (the beat task's work, `durable_retention` completed=1d) until the whole
history is gone, and reports the claim's and the whole wake-up's latency percentiles
without and during the prune, and the executions (and rows) deleted per second.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import durable_celery as dc
from benchmarks.explain_poller import fill
from durable_celery import StepContext, Workflow, step
from durable_celery.client import apply_retention
from durable_celery.config import Settings
from durable_celery.store.migrate import upgrade

DATABASE = "durable_retention_bench"

# One completed step attempt for every finished execution: a prune deletes them too.
FILL_STEPS = text(
    """
    INSERT INTO step_executions
        (id, execution_id, step_name, sequence, attempt, status, output, started_at,
         completed_at, duration_ms, worker)
    SELECT gen_random_uuid(), id, 'only', 1, 1, 'completed', '{"ok": true}'::jsonb,
           completed_at, completed_at, 1.0, 'bench'
    FROM workflow_executions WHERE status = 'completed'
    """
)


class Tick(Workflow):
    name = "bench.retention.tick"

    @step
    def only(ctx: StepContext) -> None:
        return None


def _install(url: str, **settings: Any) -> dc.Runtime:
    return dc.install(Celery("retention-bench", broker="memory://"), url, [], **settings)


def claimer(url: str, out: str, stop: Any) -> None:
    """The busy worker: one line per round, (time, claim ms, whole wake-up ms)."""
    from durable_celery.engine import run_execution
    from durable_celery.store import executions
    from durable_celery.store.connections import autocommit

    runtime = _install(url)
    with open(out, "w") as samples:
        while not stop.is_set():
            execution_id = dc.start(Tick.name, {}, runtime=runtime).id
            with autocommit(runtime.database) as conn:
                began = time.perf_counter()
                claimed = executions.claim(conn, execution_id, runtime.worker_id)
                claim_ms = (time.perf_counter() - began) * 1000
                assert claimed is not None
                executions.release(conn, claimed.fence)
            began = time.perf_counter()
            assert run_execution(runtime, execution_id) == "completed"
            wake_ms = (time.perf_counter() - began) * 1000
            samples.write(f"{time.time()} {claim_ms:.3f} {wake_ms:.3f}\n")


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"n": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "n": len(values),
        "p50": round(cuts[49], 2),
        "p95": round(cuts[94], 2),
        "p99": round(cuts[98], 2),
        "max": round(max(values), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=Settings().retention_batch_size)
    parser.add_argument("--baseline", type=float, default=30.0, help="seconds without prune")
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"),
    )
    parser.add_argument("--samples", default="/tmp/durable_retention_bench.samples")
    args = parser.parse_args(argv)
    admin = make_url(f"{args.server}/postgres").set(drivername="postgresql")
    admin_dsn = admin.render_as_string(False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    url = f"{args.server}/{DATABASE}"
    try:
        return _run(args, url)
    finally:
        from durable_celery.store.connections import dispose_engines

        dispose_engines()
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _run(args: argparse.Namespace, url: str) -> int:
    upgrade(Settings(database_url=url))
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        fill(conn, args.finished, args.live)
        conn.execute(FILL_STEPS)
        conn.commit()
        conn.execute(text("ANALYZE step_executions"))
        conn.commit()
        rows_before = _rows(conn)
    print(
        f"filled {args.finished:,} finished + {args.live:,} live executions "
        f"({rows_before}) in {time.perf_counter() - started:.0f}s",
        flush=True,
    )

    stop = multiprocessing.get_context("spawn").Event()
    process = multiprocessing.get_context("spawn").Process(
        target=claimer, args=(url, args.samples, stop), daemon=True
    )
    process.start()
    time.sleep(3.0)  # the claimer's start-up (imports, first connections) is not measured
    baseline_from = time.time()
    time.sleep(args.baseline)
    if not process.is_alive():
        raise SystemExit("the claimer stopped: see its traceback above")
    runtime = _install(url, retention="completed=1d", retention_batch_size=args.batch_size)
    prune_from = time.time()
    run = apply_retention(runtime, time_budget=24 * 3600)
    prune_until = time.time()
    stop.set()
    process.join(timeout=60)

    with engine.connect() as conn:
        rows_after = _rows(conn)
    engine.dispose()
    samples = [
        tuple(float(part) for part in line.split())
        for line in Path(args.samples).read_text().splitlines()
    ]
    baseline = [s for s in samples if baseline_from <= s[0] < prune_from]
    during = [s for s in samples if prune_from <= s[0] < prune_until]
    seconds = prune_until - prune_from
    deleted_rows = {table: rows_before[table] - rows_after[table] for table in rows_before}
    report = {
        "finished": args.finished,
        "batch_size": args.batch_size,
        "deleted_executions": run.total,
        "deleted_rows": deleted_rows,
        "prune_seconds": round(seconds, 1),
        "executions_per_second": round(run.total / seconds),
        "rows_per_second": round(sum(deleted_rows.values()) / seconds),
        "wakeups_per_second": {
            "without_prune": round(len(baseline) / (prune_from - baseline_from), 1),
            "during_prune": round(len(during) / seconds, 1),
        },
        "claim_ms": {
            "without_prune": percentiles([s[1] for s in baseline]),
            "during_prune": percentiles([s[1] for s in during]),
        },
        "wakeup_ms": {
            "without_prune": percentiles([s[2] for s in baseline]),
            "during_prune": percentiles([s[2] for s in during]),
        },
    }
    print(json.dumps(report, indent=2), flush=True)
    return 0


def _rows(conn: Any) -> dict[str, int]:
    """The filled history's rows (the claimer's own executions and steps left out)."""
    counts = {
        "workflow_executions": "SELECT count(*) FROM workflow_executions WHERE workflow <> :tick",
        "step_executions": "SELECT count(*) FROM step_executions WHERE worker = 'bench'",
        "step_items": "SELECT count(*) FROM step_items",
    }
    return {
        table: int(conn.execute(text(query), {"tick": Tick.name}).scalar_one())
        for table, query in counts.items()
    }


if __name__ == "__main__":
    sys.exit(main())
