"""Soak: a mixed workload under random worker kills, then a check that nothing was lost
or recorded twice.

    python -m benchmarks.soak --minutes 10

Runs worker subprocesses (`celery -A durable_celery worker`) on a queue of their own plus
a maintenance worker with the beat (poller and stale recovery, never killed), submits
a mix of workflows (plain steps, retries, sleeps, events, each) at a steady rate, and
SIGKILLs a random worker every few seconds, restarting it at once. When time is up it
stops killing, waits for every execution to finish, and checks:

- every execution completed (none lost, none failed);
- every step of every execution has exactly one completed step row (none recorded twice);
- every fan-out item completed, exactly once (one row per item, status completed);
- the outputs are the expected ones.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import text

from benchmarks.bench import ROOT, _prepare_environment

SOAK_SETTINGS = {
    "DURABLE_STALE_LOCK_TIMEOUT": "3",
    "DURABLE_HEARTBEAT_INTERVAL": "0.5",
    "DURABLE_RECOVERY_INTERVAL": "1",
    "DURABLE_POLL_INTERVAL": "0.5",
    "DURABLE_DISPATCH_GRACE": "3",
    "DURABLE_MAINTENANCE_QUEUE": "soak-maintenance",
}
EXPECTED_STEPS = {
    "soak.steps": {"a", "b", "c", "d"},
    "soak.retry": {"flaky", "after"},
    "soak.sleep": {"nap", "after"},
    "soak.event": {"wait", "after"},
    "soak.each": {"square", "total"},
}


@dataclass
class Report:
    seconds: float
    executions: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    abandoned: int = 0
    recorded_steps: int = 0
    items: int = 0
    problems: list[str] = field(default_factory=list)

    def print(self) -> None:
        total = sum(self.executions.values())
        print(
            f"soak: {self.seconds:.0f} s, {total} executions "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.executions.items()))}), "
            f"{self.kills} worker kills"
        )
        print(
            f"      {self.recorded_steps} completed step rows, {self.items} items, "
            f"{self.abandoned} attempts abandoned by killed workers and run again"
        )
        if self.problems:
            print(f"FAILED: {len(self.problems)} problems")
            for problem in self.problems[:20]:
                print(f"  - {problem}")
        else:
            print("OK: every execution completed; every step and item recorded exactly once")


def run(
    seconds: float,
    *,
    workers: int = 2,
    concurrency: int = 2,
    rate: float = 8.0,
    kill_every: float = 5.0,
    seed: int | None = None,
    drain_timeout: float = 180.0,
    database: str = "postgresql+psycopg://postgres@127.0.0.1:5432/durable_soak",
    broker: str = "redis://127.0.0.1:6379/10",
) -> Report:
    args = argparse.Namespace(database=database, broker=broker, steps=10)
    _prepare_environment(args)
    os.environ.update(SOAK_SETTINGS)
    import redis

    from benchmarks.workloads import SOAK_WORKFLOWS, SoakEvent
    from durable_celery.client import send_event
    from durable_celery.runtime import current_runtime
    from durable_celery.store.migrate import upgrade
    from durable_celery.testing import WorkerProcess

    runtime = current_runtime()
    upgrade(runtime.settings)
    redis.Redis.from_url(broker).flushdb()
    rng = random.Random(seed)
    report = Report(seconds=seconds)

    def worker(index: int) -> WorkerProcess:
        return WorkerProcess(
            queues=["soak"], concurrency=concurrency, cwd=ROOT, name=f"soak{index}-{report.kills}"
        ).start()

    keeper = WorkerProcess(
        queues=["soak-maintenance"], concurrency=1, beat=True, cwd=ROOT, name="soak-keeper"
    ).start()
    pool = [worker(i) for i in range(workers)]
    started: list[tuple[str, str]] = []
    events_due: list[tuple[float, str]] = []
    begin = time.monotonic()
    next_kill = begin + kill_every
    try:
        while time.monotonic() - begin < seconds:
            workflow = rng.choice(SOAK_WORKFLOWS)
            payload = {"seconds": round(rng.uniform(0.2, 2.0), 2)}
            handle = workflow.start_durable(payload, queue="soak")
            started.append((handle.id, workflow.name))
            if workflow is SoakEvent:
                events_due.append((time.monotonic() + rng.uniform(0.1, 3.0), handle.id))
            now = time.monotonic()
            for due, execution_id in [e for e in events_due if e[0] <= now]:
                send_event(execution_id, "go", {"at": due})
                events_due.remove((due, execution_id))
            if now >= next_kill:
                victim = rng.randrange(len(pool))
                pool[victim].kill()
                report.kills += 1
                pool[victim] = worker(victim)
                next_kill = now + rng.uniform(0.5, 1.5) * kill_every
            time.sleep(1 / rate)
        for _, execution_id in events_due:
            send_event(execution_id, "go", {"at": "drain"})
        _drain(runtime, [execution_id for execution_id, _ in started], drain_timeout)
    finally:
        for process in [*pool, keeper]:
            process.stop()
    _check(runtime, started, report)
    return report


def _drain(runtime, ids: list[str], timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.database.connect() as conn:
            live = conn.execute(
                text(
                    "SELECT count(*) FROM workflow_executions WHERE id = ANY(CAST(:ids AS uuid[])) "
                    "AND status IN ('pending', 'running', 'waiting')"
                ),
                {"ids": ids},
            ).scalar_one()
        if live == 0:
            return
        time.sleep(0.5)


def _check(runtime, started: list[tuple[str, str]], report: Report) -> None:  # type: ignore[no-untyped-def]
    ids = [execution_id for execution_id, _ in started]
    report.executions = Counter(name for _, name in started)
    with runtime.database.connect() as conn:
        statuses = dict(
            conn.execute(
                text(
                    "SELECT id::text, status FROM workflow_executions "
                    "WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": ids},
            ).all()
        )
        completed = conn.execute(
            text(
                "SELECT execution_id::text, step_name, count(*) FROM step_executions "
                "WHERE execution_id = ANY(CAST(:ids AS uuid[])) AND status = 'completed' "
                "GROUP BY 1, 2"
            ),
            {"ids": ids},
        ).all()
        report.abandoned = conn.execute(
            text(
                "SELECT count(*) FROM step_executions "
                "WHERE execution_id = ANY(CAST(:ids AS uuid[])) "
                "AND status = 'abandoned'"
            ),
            {"ids": ids},
        ).scalar_one()
        items = conn.execute(
            text(
                "SELECT execution_id::text, count(*), count(*) FILTER (WHERE status = 'completed') "
                "FROM step_items WHERE execution_id = ANY(CAST(:ids AS uuid[])) GROUP BY 1"
            ),
            {"ids": ids},
        ).all()
        results = dict(
            conn.execute(
                text(
                    "SELECT id::text, result FROM workflow_executions "
                    "WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": ids},
            ).all()
        )
    steps: dict[str, Counter[str]] = {execution_id: Counter() for execution_id in ids}
    for execution_id, step_name, count in completed:
        steps[execution_id][step_name] = count
        report.recorded_steps += count
    items_by_execution = {row[0]: (row[1], row[2]) for row in items}
    for execution_id, name in started:
        status = statuses.get(execution_id)
        if status != "completed":
            report.problems.append(f"{name} {execution_id} ended {status}")
            continue
        recorded = steps[execution_id]
        if set(recorded) != EXPECTED_STEPS[name] or set(recorded.values()) != {1}:
            report.problems.append(f"{name} {execution_id} recorded steps {dict(recorded)}")
        if name == "soak.each":
            total, done = items_by_execution.get(execution_id, (0, 0))
            report.items += done
            if (total, done) != (8, 8):
                report.problems.append(f"{execution_id}: {done}/{total} items completed")
            if results[execution_id] != sum(i * i for i in range(8)):
                report.problems.append(f"{execution_id}: wrong total {results[execution_id]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rate", type=float, default=8.0, help="executions started per second")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "SOAK_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/durable_soak"
        ),
        help="its database is created if missing (default: durable_soak on localhost)",
    )
    parser.add_argument(
        "--broker",
        default=os.environ.get("SOAK_BROKER_URL", "redis://127.0.0.1:6379/10"),
        help="a Redis database of its own: it is flushed at the start",
    )
    args = parser.parse_args(argv)
    report = run(
        args.minutes * 60,
        workers=args.workers,
        concurrency=args.concurrency,
        rate=args.rate,
        kill_every=args.kill_every,
        seed=args.seed,
        database=args.database,
        broker=args.broker,
    )
    report.print()
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
