"""EXPLAIN the poller's and the claim's queries over a table full of finished history.

    python -m benchmarks.explain_poller --finished 1000000

Fills a scratch database with N finished executions (and a few live ones) and their
fan-out items, ANALYZEs it,
then runs each hot query under EXPLAIN (ANALYZE, BUFFERS) inside a transaction that is
rolled back, and prints the plans. The point: the partial indexes on live rows keep these
queries independent of how much history the table holds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import psycopg
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from durable_celery.config import Settings
from durable_celery.store.migrate import upgrade
from durable_celery.store.sql import concurrency, executions, sweeps

FILL_FINISHED = text(
    """
    INSERT INTO workflow_executions
        (id, workflow, status, queue, input, current_step, run_at, created_at, started_at,
         completed_at, deadline_at, result)
    SELECT gen_random_uuid(), 'history', 'completed', 'default', '{}'::jsonb, NULL,
           now() - interval '30 days' + g * interval '1 second',
           now() - interval '30 days' + g * interval '1 second',
           now() - interval '30 days' + g * interval '1 second',
           now() - interval '30 days' + g * interval '1 second',
           now() - interval '29 days' + g * interval '1 second',
           '{"ok": true}'::jsonb
    FROM generate_series(1, :count) AS g
    """
)

FILL_LIVE = text(
    """
    INSERT INTO workflow_executions
        (id, workflow, status, queue, input, current_step, run_at, deadline_at)
    SELECT gen_random_uuid(), 'live', CASE WHEN g % 2 = 0 THEN 'pending' ELSE 'waiting' END,
           'default', '{}'::jsonb, 'first', now() + (g % 3 - 1) * interval '1 minute',
           now() + interval '1 hour'
    FROM generate_series(1, :count) AS g
    """
)


# Fan-out history: ten completed items for every hundredth finished execution, and one
# pending item for every other live one.
FILL_ITEMS = text(
    """
    INSERT INTO step_items
        (id, execution_id, step_name, fanout_seq, item_index, item, status, queue, run_at,
         completed_at)
    SELECT gen_random_uuid(), e.id, 'each', 1, i, '{}'::jsonb, 'completed', 'default',
           e.run_at, e.completed_at
    FROM (SELECT id, run_at, completed_at, row_number() OVER () AS n
          FROM workflow_executions WHERE status = 'completed') AS e,
         generate_series(0, 9) AS i
    WHERE e.n % 100 = 0
    UNION ALL
    SELECT gen_random_uuid(), e.id, 'each', 1, 0, '{}'::jsonb, 'pending', 'default',
           e.run_at, NULL
    FROM (SELECT id, run_at, row_number() OVER () AS n
          FROM workflow_executions WHERE workflow = 'live') AS e
    WHERE e.n % 2 = 0
    """
)


def fill(conn: Connection, finished: int, live: int) -> None:
    conn.execute(FILL_FINISHED, {"count": finished})
    conn.execute(FILL_LIVE, {"count": live})
    conn.execute(FILL_ITEMS)
    conn.commit()
    conn.execute(text("ANALYZE workflow_executions, step_items"))
    conn.commit()


def explain(
    conn: Connection, statement: str, params: dict[str, object], analyze: bool = True
) -> str:
    """The plan of `statement`; with analyze it runs, inside a transaction rolled back."""
    options = "ANALYZE, BUFFERS, " if analyze else ""
    rows = conn.execute(text(f"EXPLAIN ({options}COSTS OFF) {statement}"), params).all()
    conn.rollback()
    return "\n".join(row[0] for row in rows)


HOT_QUERIES = {
    "poller: due executions (DISPATCH_DUE)": (
        sweeps.DISPATCH_DUE.text,
        {"grace_seconds": 10.0, "backoff_max": 600.0, "batch_size": 500},
    ),
    "poller: expired deadlines (EXPIRED_DEADLINES)": (
        sweeps.EXPIRED_DEADLINES.text,
        {"grace_seconds": 10.0, "backoff_max": 600.0, "batch_size": 500},
    ),
    "poller: due items (DISPATCH_DUE_ITEMS)": (
        sweeps.DISPATCH_DUE_ITEMS.text,
        {"grace_seconds": 10.0, "backoff_max": 600.0, "batch_size": 500},
    ),
    "claim one execution (CLAIM)": (
        executions.CLAIM.text,
        {"id": str(uuid.uuid4()), "worker": "explain"},
    ),
    "claim one limited execution (CLAIM_LIMITED)": (
        concurrency.CLAIM_LIMITED.text,
        {"id": str(uuid.uuid4()), "worker": "explain"},
    ),
    "poller: queued for a concurrency slot (DISPATCH_SLOT_QUEUED)": (
        concurrency.DISPATCH_SLOT_QUEUED.text,
        {"batch_size": 500},
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=1_000)
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432"),
    )
    args = parser.parse_args(argv)
    name = "durable_explain"
    admin = make_url(f"{args.server}/postgres").set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.server}/{name}"
    upgrade(Settings(database_url=url))
    engine = create_engine(url)
    with engine.connect() as conn:
        started = time.perf_counter()
        fill(conn, args.finished, args.live)
        print(
            f"filled {args.finished:,} finished + {args.live:,} live executions "
            f"in {time.perf_counter() - started:.1f}s"
        )
        for title, (statement, params) in HOT_QUERIES.items():
            print(f"\n== {title}\n{explain(conn, statement, params)}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
