"""The database's own limit: how often the checkpoint statement itself can commit.

    python -m benchmarks.raw_checkpoint --clients 2 --seconds 5

Each client is a process with one psycopg connection in autocommit that runs the
engine's own ADVANCE statement (the fenced UPDATE of its execution row and the INSERT of
a step row, one statement, server-side prepared) in a tight loop, with the parameters a
no-op step sends: nothing else, no Python around it. Clients commits/s is the ceiling
that durable-celery's steps/s is compared with at the same number of worker processes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url


def _statement() -> str:
    from durable_celery.store.sql.executions import ADVANCE

    return str(ADVANCE.compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[attr-defined]


def _client(dsn: str, seconds: float, ready: Any, go: Any, counts: Any, index: int) -> None:
    sql = _statement()
    execution_id, token = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO workflow_executions (id, workflow, status, queue, input, "
            "current_step, lock_token, locked_by, heartbeat_at) VALUES "
            "(%s, 'bench.raw', 'running', 'bench_raw', '{}', 's000', %s, 'raw', now())",
            (execution_id, token),
        )
        params = {
            "id": execution_id,
            "token": token,
            "context": "{}",
            "next_step": "s001",
            "compensations": None,
            "execution_error": None,
            "step_name": "s000",
            "attempt": 1,
            "step_status": "completed",
            "output": "null",
            "error": None,
            "logs": None,
            "duration_ms": 0.01,
            "worker": f"raw:{os.getpid()}",
        }
        done = 0
        with conn.cursor() as cursor:
            for sequence in range(1, 21):  # warm-up: prepared on the server
                cursor.execute(
                    sql,
                    {
                        **params,
                        "step_id": str(uuid.uuid4()),
                        "sequence": sequence,
                        "started_at": datetime.now(UTC),
                    },
                    prepare=True,
                )
            ready.release()
            go.wait()
            deadline = time.perf_counter() + seconds
            sequence = 21
            while time.perf_counter() < deadline:
                cursor.execute(
                    sql,
                    {
                        **params,
                        "step_id": str(uuid.uuid4()),
                        "sequence": sequence,
                        "started_at": datetime.now(UTC),
                    },
                    prepare=True,
                )
                sequence += 1
                done += 1
        conn.execute("DELETE FROM workflow_executions WHERE id = %s", (execution_id,))
    counts[index] = done


def raw_checkpoint_rate(database_url: str, clients: int, seconds: float = 5.0) -> float:
    """Commits per second of the checkpoint statement with `clients` connections at once."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    context = multiprocessing.get_context("fork")
    ready = context.Semaphore(0)
    go = context.Event()
    counts = context.Array("l", clients)
    workers = [
        context.Process(target=_client, args=(dsn, seconds, ready, go, counts, index))
        for index in range(clients)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    go.set()
    for worker in workers:
        worker.join()
    return sum(counts) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/durable_bench"
        ),
    )
    args = parser.parse_args(argv)
    from benchmarks.bench import ensure_database
    from durable_celery.config import Settings
    from durable_celery.store.migrate import upgrade

    ensure_database(args.database)
    upgrade(Settings(database_url=args.database))
    for clients in args.clients:
        rate = raw_checkpoint_rate(args.database, clients, args.seconds)
        print(f"{clients} client(s): {rate:,.0f} checkpoint commits/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
