"""Soak: a mixed workload under random worker kills, then a check that nothing was lost
or recorded twice.

    python -m benchmarks.soak --minutes 10

Runs worker subprocesses (`celery -A durable_celery worker`) on a queue of their own plus
a maintenance worker with the beat (poller and stale recovery, never killed), submits
a mix of workflows at a steady rate, and SIGKILLs a random worker every few seconds,
restarting it at once. The mix: plain steps, retries, sleeps, events and `each`, and
failures that are hard to record (an output, a log line and an error message that
PostgreSQL cannot store as they are, a 5 MB error message, fan-outs cancelled while their
items run). When time is up it stops killing, waits for every execution to end, and
checks:

- every execution ended, none is left pending, running or waiting;
- the plain ones completed, and every step of each has exactly one completed step row;
- every fan-out item of `each` completed, exactly once; the outputs are the expected ones;
- the hard ones ended as they must, recorded: failed with InvalidPayload or their own
  (sanitised, cut) error, or cancelled with no item left queued, pending or running.
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
# The workflows that must complete, and the steps each records exactly once.
EXPECTED_STEPS = {
    "soak.steps": {"a", "b", "c", "d"},
    "soak.retry": {"flaky", "after"},
    "soak.sleep": {"nap", "after"},
    "soak.event": {"wait", "after"},
    "soak.each": {"square", "total"},
    "soak.unstorable_logs": {"log"},
}
# The workflows that must fail, recorded, with an error of this type.
EXPECTED_FAILURES = {
    "soak.unstorable_output": "durable_celery.errors.InvalidPayload",
    "soak.unstorable_error": "ValueError",
    "soak.huge_error": "ValueError",
}
CANCELLED = "soak.cancelled_fan_out"  # cancelled while its items run (or completed first)


@dataclass
class Report:
    seconds: float
    executions: Counter[str] = field(default_factory=Counter)
    endings: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    cancels: int = 0
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
        print(
            f"      endings: {', '.join(f'{k} {v}' for k, v in sorted(self.endings.items()))}; "
            f"{self.cancels} cancels sent during fan-outs"
        )
        if self.problems:
            print(f"FAILED: {len(self.problems)} problems")
            for problem in self.problems[:20]:
                print(f"  - {problem}")
        else:
            print(
                "OK: every execution ended as expected and recorded; every step and item "
                "recorded exactly once; no item left behind"
            )


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
    args = argparse.Namespace(database=database, broker=broker, redis=broker, steps=10)
    _prepare_environment(args)
    os.environ.update(SOAK_SETTINGS)
    import redis

    from benchmarks.workloads import SOAK_WORKFLOWS, SoakCancelledFanOut, SoakEvent
    from durable_celery.client import cancel, send_event
    from durable_celery.errors import ExecutionStateError
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
    cancels_due: list[tuple[float, str]] = []
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
            if workflow is SoakCancelledFanOut:
                cancels_due.append((time.monotonic() + rng.uniform(0.1, 2.0), handle.id))
            now = time.monotonic()
            for due, execution_id in [e for e in events_due if e[0] <= now]:
                send_event(execution_id, "go", {"at": due})
                events_due.remove((due, execution_id))
            for due, execution_id in [c for c in cancels_due if c[0] <= now]:
                cancels_due.remove((due, execution_id))
                try:
                    cancel(execution_id, reason="soak")
                    report.cancels += 1
                except ExecutionStateError:
                    pass  # it finished first
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
        statuses = {
            row.id: (row.status, row.error)
            for row in conn.execute(
                text(
                    "SELECT id::text AS id, status, error FROM workflow_executions "
                    "WHERE id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": ids},
            )
        }
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
                "SELECT execution_id::text, count(*), "
                "count(*) FILTER (WHERE status = 'completed'), "
                "count(*) FILTER (WHERE status IN ('queued', 'pending', 'running')) "
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
    items_by_execution = {row[0]: (row[1], row[2], row[3]) for row in items}
    for execution_id, name in started:
        status, error = statuses.get(execution_id, (None, None))
        report.endings[str(status)] += 1
        total, done, left = items_by_execution.get(execution_id, (0, 0, 0))
        report.items += done
        if name in EXPECTED_FAILURES:
            kind = (error or {}).get("type")
            if status != "failed" or kind != EXPECTED_FAILURES[name]:
                report.problems.append(f"{name} {execution_id} ended {status} ({kind})")
            elif len((error or {}).get("message", "")) > 70_000:
                report.problems.append(f"{name} {execution_id}: error message not cut")
            continue
        if name == CANCELLED:
            if status not in ("cancelled", "completed") or left:
                report.problems.append(f"{name} {execution_id} ended {status}, {left} items left")
            continue
        if status != "completed":
            report.problems.append(f"{name} {execution_id} ended {status}")
            continue
        recorded = steps[execution_id]
        if set(recorded) != EXPECTED_STEPS[name] or set(recorded.values()) != {1}:
            report.problems.append(f"{name} {execution_id} recorded steps {dict(recorded)}")
        if name == "soak.each":
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
    parser.add_argument(
        "--private-servers",
        action="store_true",
        help="run on a throwaway PostgreSQL cluster and redis-server of its own (tests/servers.py)",
    )
    args = parser.parse_args(argv)
    if args.private_servers:
        from tests.servers import PrivatePostgres, PrivateRedis

        with PrivatePostgres() as postgres, PrivateRedis() as broker:
            args.database = f"{postgres.server_url}/durable_soak"
            args.broker = broker.url(0)
            return _run_and_report(args)
    return _run_and_report(args)


def _run_and_report(args: argparse.Namespace) -> int:
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
