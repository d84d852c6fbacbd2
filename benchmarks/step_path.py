"""What one step costs the worker process: CPU µs of Python per step, and wall µs.

    python -m benchmarks.step_path --executions 300 --steps 10 [--profile 25]

Runs executions of K no-op steps in this process, through the engine's own entry point
(`engine.run_execution`, what the wake-up task calls), against a real PostgreSQL, with no
broker and no Celery worker in the way. CPU time is this process's (`time.process_time`):
Python, SQLAlchemy and psycopg on the client side, not the server's work; wall time adds
the database round trips. `--profile N` prints the N costliest functions (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=300)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest calls")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/durable_bench"
        ),
    )
    args = parser.parse_args(argv)
    os.environ.update(
        {
            "DURABLE_DATABASE_URL": args.database,
            "DURABLE_WORKFLOW_MODULES": "benchmarks.workloads",
            "BENCH_STEPS": str(args.steps),
            # Nobody consumes the wake-ups this produces: a broker that accepts and drops.
            "CELERY_BROKER_URL": "memory://",
        }
    )
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench import ensure_database
    from benchmarks.workloads import NoopWorkflow
    from durable_celery.engine import run_execution
    from durable_celery.runtime import current_runtime
    from durable_celery.store.migrate import upgrade

    ensure_database(args.database)
    runtime = current_runtime()
    upgrade(runtime.settings)
    runtime.import_workflows()

    def one_round(count: int) -> tuple[float, float]:
        ids = [NoopWorkflow.start_durable({}, queue="bench_step_path").id for _ in range(count)]
        cpu, wall = time.process_time(), time.perf_counter()
        for execution_id in ids:
            run_execution(runtime, execution_id)
        return time.process_time() - cpu, time.perf_counter() - wall

    one_round(20)  # warm-up: connections, prepared statements, imports
    results = []
    for _ in range(args.rounds):
        cpu, wall = one_round(args.executions)
        steps = args.executions * args.steps
        results.append((cpu / steps * 1e6, wall / steps * 1e6))
        cpu_us, wall_us = results[-1]
        print(f"  {steps} steps: {cpu_us:6.1f} µs CPU, {wall_us:6.1f} µs wall per step")
    cpu_us = sorted(r[0] for r in results)[len(results) // 2]
    wall_us = sorted(r[1] for r in results)[len(results) // 2]
    print(
        f"median of {args.rounds} rounds: {cpu_us:.1f} µs of CPU (Python, client side) and "
        f"{wall_us:.1f} µs wall per step; each run_execution also pays one claim"
    )
    if args.profile:
        ids = [NoopWorkflow.start_durable({}, queue="bench_step_path").id for _ in range(200)]
        profiler = cProfile.Profile(time.process_time)  # CPU time, not waits
        profiler.enable()
        for execution_id in ids:
            run_execution(runtime, execution_id)
        profiler.disable()
        order = os.environ.get("BENCH_SORT", "tottime")
        pstats.Stats(profiler).sort_stats(order).print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
