"""Many timers due at once: N executions sleeping until the same instant T.

    python -m benchmarks.timers --executions 100000 --pollers 1

Runs one real execution of `bench.timers.sleeps_until` (one step: `ctx.sleep_until(until)`,
then returns) until it waits on its sleep, clones its rows (the execution and its
`step_waits` row) N times with one INSERT ... SELECT generate_series, all due at T a few
seconds ahead, and deletes the template. Woken, each clone really resumes: a worker
claims it, the step finds its sleep passed and returns, the execution completes.

The pollers are N processes that each call `durable_celery.engine.poll_once` every
`durable_poll_interval`, as N beats with a worker each running their poll task would
(a poll that overruns is followed at once by the next). Each records what it publishes
(one call per batch), so every message sent is counted. The workers are `celery -A
durable_celery worker` subprocesses on a queue of this run's own; nothing runs beat.

Prints, from T: when every execution had its first wake-up sent, when all were claimed
again (`locked_at`) and when all completed; the batches (size, batches/s, rows/s, time
in SQL and in publishing); the wake-ups sent more than once, split into re-sends (the
lost-signal logic, a grace or more after the last send) and duplicates (sooner: two
pollers taking one row).

The database (default `durable_timers`) is a scratch one: the workflow's earlier
executions are deleted. Redis is never flushed: the run's queue has a name of its own,
and only its keys are deleted at the end. `--private-servers` runs on a throwaway
PostgreSQL and Redis of its own instead (tests/servers.py).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from durable_celery import StepContext, Workflow, step
from durable_celery.store.records import Wakeup
from durable_celery.store.schema import step_executions, step_waits, workflow_executions

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = datetime(2999, 1, 1, tzinfo=UTC)  # the template's sleep, never due


class SleepsUntil(Workflow):
    # `python -m` runs this file as __main__ (spawned pollers as __mp_main__), workers
    # import it as benchmarks.timers: one module name, so one registered class.
    __module__ = "benchmarks.timers"
    name = "bench.timers.sleeps_until"

    @step
    def nap(ctx: StepContext) -> str:
        ctx.sleep_until(datetime.fromisoformat(ctx.input["until"]))
        return "awake"


# --- the clones ---------------------------------------------------------------------------


def _copy(columns: Iterable[Any], overrides: dict[str, str]) -> tuple[str, str]:
    names = [column.name for column in columns]
    return ", ".join(names), ", ".join(overrides.get(name, f"t.{name}") for name in names)


def clone_statement() -> str:
    """N copies of the template execution with its waits and step rows, ids of their
    own, the sleep due at :until."""
    until = "CAST(:until AS timestamptz)"
    executions = _copy(
        workflow_executions.c,
        {
            "id": "gen_random_uuid()",
            "run_at": until,
            "input": "jsonb_set(t.input, '{until}', to_jsonb(CAST(:until_text AS text)))",
        },
    )
    wake_at = f"CASE WHEN t.kind = 'sleep' THEN {until} ELSE t.wake_at END"
    waits = _copy(
        step_waits.c, {"id": "gen_random_uuid()", "execution_id": "new.id", "wake_at": wake_at}
    )
    steps = _copy(step_executions.c, {"id": "gen_random_uuid()", "execution_id": "new.id"})
    return f"""
        WITH new AS (
            INSERT INTO workflow_executions ({executions[0]})
            SELECT {executions[1]}
            FROM workflow_executions AS t, generate_series(1, :count)
            WHERE t.id = :template
            RETURNING id
        ),
        waits AS (
            INSERT INTO step_waits ({waits[0]})
            SELECT {waits[1]} FROM step_waits AS t, new WHERE t.execution_id = :template
        )
        INSERT INTO step_executions ({steps[0]})
        SELECT {steps[1]} FROM step_executions AS t, new WHERE t.execution_id = :template
    """


def clone_sleeping(conn: Connection, template_id: str, count: int, until: datetime) -> None:
    """Clone an execution waiting on a sleep `count` times, every clone due at `until`
    (the caller commits). Refuses a template that holds what the clones would not copy."""
    row = conn.execute(
        text("SELECT status, suspended_on FROM workflow_executions WHERE id = :id"),
        {"id": template_id},
    ).one()
    if (row.status, row.suspended_on) != ("waiting", "sleep"):
        raise RuntimeError(f"template {template_id} is {row.status}/{row.suspended_on}")
    for table in ("workflow_events", "pending_inputs", "step_items"):
        sql = f"SELECT count(*) FROM {table} WHERE execution_id = :id"
        if conn.execute(text(sql), {"id": template_id}).scalar_one():
            raise RuntimeError(f"template {template_id} has rows in {table}")
    params = {"template": template_id, "count": count, "until": until}
    conn.execute(text(clone_statement()), {**params, "until_text": until.isoformat()})


# --- the pollers --------------------------------------------------------------------------


@dataclass
class PollerLog:
    polls: list[tuple[float, float]] = field(default_factory=list)  # start, end
    batches: list[tuple[float, float, list[str]]] = field(default_factory=list)  # + ids


def _poller(interval: float, ready: Queue[Any], stop: Event, results: Queue[Any]) -> None:
    from durable_celery.engine import poll_once
    from durable_celery.runtime import Runtime, current_runtime

    log = PollerLog()

    class Recording(Runtime):
        def publish(self, wakeups: Iterable[Wakeup]) -> None:
            batch = list(wakeups)
            started = time.time()
            super().publish(batch)
            if batch:
                log.batches.append((started, time.time(), [wakeup.id for wakeup in batch]))

    base = current_runtime()
    runtime = Recording(base.app, base.settings)
    poll_once(runtime)  # connections warm; nothing is due yet
    log.batches.clear()
    ready.put(os.getpid())
    next_tick = time.monotonic() + random.uniform(0, interval)  # a beat's phase is random
    while not stop.is_set():
        if (wait := next_tick - time.monotonic()) > 0:
            stop.wait(wait)
            continue
        started = time.time()
        poll_once(runtime)
        log.polls.append((started, time.time()))
        next_tick = max(next_tick + interval, time.monotonic())
    results.put(log)


# --- the run ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--pollers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="worker subprocesses")
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker")
    parser.add_argument("--lead", type=float, help="seconds from cloning to T (default: by N)")
    default_db = "postgresql+psycopg://postgres@127.0.0.1:5432/durable_timers"
    parser.add_argument(
        "--database", default=os.environ.get("BENCH_TIMERS_DATABASE_URL", default_db)
    )
    default_broker = "redis://127.0.0.1:6379/11"
    parser.add_argument(
        "--broker", default=os.environ.get("BENCH_TIMERS_BROKER_URL", default_broker)
    )
    parser.add_argument("--private-servers", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)
    # Killed (Ctrl-C, timeout, kill): stop the workers and pollers on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not args.private_servers:
        return run(args)
    sys.path.insert(0, str(ROOT))
    from tests.servers import PrivatePostgres, PrivateRedis

    with PrivatePostgres() as postgres, PrivateRedis() as broker:
        args.database, args.broker = f"{postgres.server_url}/durable_timers", broker.url(0)
        return run(args)


def run(args: argparse.Namespace) -> int:
    _prepare_environment(args)
    from durable_celery.runtime import current_runtime
    from durable_celery.store.migrate import upgrade
    from durable_celery.testing import WorkerProcess, wait_until

    runtime = current_runtime()
    upgrade(runtime.settings)
    settings = runtime.settings
    queue = f"bench-timers-{uuid.uuid4().hex[:8]}"
    print(
        f"{args.executions:,} executions due at once; {args.pollers} poller(s) every "
        f"{settings.poll_interval:g} s, batch {settings.poll_batch_size}, grace "
        f"{settings.dispatch_grace:g} s; {args.workers} worker(s) x {args.concurrency} "
        f"processes",
        flush=True,
    )
    with runtime.database.begin() as conn:
        sql = "DELETE FROM workflow_executions WHERE workflow = :w"
        conn.execute(text(sql), {"w": SleepsUntil.name})

    spawn = multiprocessing.get_context("spawn")
    ready: Queue[Any] = spawn.Queue()
    results: Queue[Any] = spawn.Queue()
    stop = spawn.Event()
    pollers = [
        spawn.Process(target=_poller, args=(settings.poll_interval, ready, stop, results))
        for _ in range(args.pollers)
    ]
    workers = [
        WorkerProcess(queues=[queue], concurrency=args.concurrency, cwd=ROOT, name=f"{queue}-{i}")
        for i in range(args.workers)
    ]
    finished = False
    try:
        for process in pollers:
            process.start()
        for worker in workers:
            worker.start()
        template = SleepsUntil.start_durable({"until": PLACEHOLDER.isoformat()}, queue=queue)
        if not wait_until(lambda: template.status() == "waiting", 60, 0.1):
            raise SystemExit("the template never reached its sleep")
        for _ in pollers:
            ready.get(timeout=120)
        due = _clone(runtime.database, template.id, args)
        finished = _watch(runtime.database, args, due)
        stop.set()
        logs = [results.get(timeout=120) for _ in pollers]
    finally:
        stop.set()
        for process in pollers:
            process.join(30)
            if process.is_alive():
                process.kill()
        for worker in workers:
            worker.stop()
        _delete_queue(args.broker, queue)
    if not finished:
        print("timed out: not every execution completed", file=sys.stderr)
        return 1
    _report(runtime.database, settings, due, logs)
    return 0


def _prepare_environment(args: argparse.Namespace) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(args.database)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = "SELECT 1 FROM pg_database WHERE datname = %s"
        if not conn.execute(exists, (url.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{url.database}"')
    os.environ["DURABLE_DATABASE_URL"] = args.database
    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ["DURABLE_WORKFLOW_MODULES"] = "benchmarks.timers"
    sys.path.insert(0, str(ROOT))


def _clone(engine: Engine, template_id: str, args: argparse.Namespace) -> datetime:
    """The clones, due at T (returned, database clock), vacuumed and analyzed."""
    lead = args.lead if args.lead is not None else 5 + args.executions * 100e-6
    started = time.perf_counter()
    with engine.begin() as conn:
        due: datetime = conn.execute(
            text("SELECT now() + make_interval(secs => :lead)"), {"lead": lead}
        ).scalar_one()
        clone_sleeping(conn, template_id, args.executions, due)
        conn.execute(text("DELETE FROM workflow_executions WHERE id = :id"), {"id": template_id})
    cloned = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE workflow_executions, step_waits, step_executions"))
        left = conn.execute(
            text("SELECT extract(epoch FROM CAST(:due AS timestamptz) - now())"), {"due": due}
        ).scalar_one()
    print(f"cloned {args.executions:,} sleeping executions in {cloned:.1f} s", flush=True)
    if left < 0.5:
        raise SystemExit(f"setup ran past T by {-left:.1f} s: give a longer --lead")
    return due


def _watch(engine: Engine, args: argparse.Namespace, due: datetime) -> bool:
    """Wait until every clone completed, with a progress line every few seconds."""
    deadline = time.monotonic() + args.timeout
    shown = 0.0
    while time.monotonic() < deadline:
        time.sleep(1.0)
        with engine.connect() as conn:
            sql = "SELECT status, count(*) FROM workflow_executions WHERE workflow = :w GROUP BY 1"
            counts: dict[str, int] = dict(conn.execute(text(sql), {"w": SleepsUntil.name}).all())
        since = time.time() - due.timestamp()
        if since > 0 and time.monotonic() - shown >= 10:
            shown = time.monotonic()
            line = ", ".join(f"{status} {n:,}" for status, n in sorted(counts.items()))
            print(f"  T+{since:4.0f} s: {line}", flush=True)
        if counts.get("completed", 0) >= args.executions:
            return True
    return False


def _delete_queue(broker: str, queue: str) -> None:
    """This run's keys only: its queue's lists and its entries in kombu's binding sets."""
    import redis

    client = redis.Redis.from_url(broker)
    for key in client.scan_iter(match=f"{queue}*"):
        client.delete(key)
    for key in client.scan_iter(match="_kombu.binding.*"):
        if mine := [m for m in client.smembers(key) if queue.encode() in m]:
            client.srem(key, *mine)


def _report(engine: Engine, settings: Any, due: datetime, logs: list[PollerLog]) -> None:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT count(*) AS n, count(*) FILTER (WHERE result = '"awake"') AS awake,
                       extract(epoch FROM min(locked_at) - :due) AS first_claim,
                       extract(epoch FROM max(locked_at) - :due) AS all_claimed,
                       extract(epoch FROM max(completed_at) - :due) AS all_completed
                FROM workflow_executions WHERE workflow = :w
                """
            ),
            {"due": due, "w": SleepsUntil.name},
        ).one()
    grace, t0 = settings.dispatch_grace, due.timestamp()
    batches = sorted(batch for log in logs for batch in log.batches)
    sends: dict[str, list[float]] = {}
    for started, _, ids in batches:
        for execution_id in ids:
            sends.setdefault(execution_id, []).append(started)
    gaps = [b - a for times in sends.values() for a, b in itertools.pairwise(times)]
    duplicates = sum(1 for gap in gaps if gap < grace / 2)
    all_sent = max(times[0] for times in sends.values())
    draining = [batch for batch in batches if batch[0] <= all_sent]
    window = all_sent - draining[0][0]
    in_polls = sum(end - start for log in logs for start, end in log.polls if end > t0)
    publishing = sum(end - start for start, end, _ in batches)
    messages = sum(len(ids) for _, _, ids in batches)
    sizes = [len(ids) for _, _, ids in draining]
    print(f"\n{row.n:,} executions due at T, {len(logs)} poller(s); from T:")
    print(f"  all dispatched (first wake-up sent) {all_sent - t0:8.1f} s")
    print(f"  first claimed again                 {row.first_claim:8.1f} s")
    print(f"  all claimed again                   {row.all_claimed:8.1f} s")
    print(f"  all completed                       {row.all_completed:8.1f} s")
    print(
        f"pollers: {len(draining)} batches of {statistics.mean(sizes):,.0f} rows (batch size "
        f"{settings.poll_batch_size}) in {window:.1f} s: {len(draining) / window:,.1f} "
        f"batches/s, {len(sends) / window:,.0f} rows/s"
    )
    print(
        f"  in polls {in_polls:.1f} s, of which publishing {publishing:.1f} s "
        f"({publishing / messages * 1e6:,.0f} µs per wake-up) and SQL about "
        f"{(in_polls - publishing) / max(len(batches), 1) * 1e3:,.0f} ms per batch"
    )
    for index, log in enumerate(logs, 1):
        mine = sum(len(ids) for _, _, ids in log.batches)
        print(f"  poller {index}: {mine:,} wake-ups in {len(log.batches)} batches")
    print(
        f"wake-ups published: {messages:,} for {len(sends):,} executions: "
        f"{len(gaps) - duplicates:,} re-sent (lost-signal logic), {duplicates:,} duplicates; "
        f"{row.awake:,} completed with the step's result"
    )


if __name__ == "__main__":
    sys.exit(main())
