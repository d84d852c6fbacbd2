"""Send-to-resume latency of send_event on a waiting execution.

    python -m benchmarks.event_latency --executions 200

Starts N executions that suspend on `wait_for_event("go")`, waits until all of them are
suspended (no worker held), then sends the events one by one and measures, for each,
the time from the send_event call to the moment the step resumed (recorded by the step).
send_event wakes the execution through Celery at once; the poller is only the safety net.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks.bench import ROOT, _percentile, _prepare_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/durable_bench"
    )
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--steps", type=int, default=1)
    args = parser.parse_args(argv)
    _prepare_environment(args)

    from benchmarks.workloads import WaitsForGo
    from durable_celery.client import send_event
    from durable_celery.runtime import current_runtime
    from durable_celery.store.migrate import upgrade
    from durable_celery.testing import WorkerProcess, wait_until

    runtime = current_runtime()
    upgrade(runtime.settings)
    with WorkerProcess(queues=["events"], concurrency=args.concurrency, cwd=ROOT, name="events"):
        handles = [WaitsForGo.start_durable({}, queue="events") for _ in range(args.executions)]
        if not wait_until(lambda: all(h.status() == "waiting" for h in handles), 120, 0.2):
            raise SystemExit("executions did not all reach their wait")
        sent: dict[str, float] = {}
        for handle in handles:
            sent[handle.id] = time.time()
            send_event(handle.id, "go")
            # One at a time: latency of a single event, not of a burst.
            handle.result(timeout=30)
        latencies = [(h.result(timeout=1) - sent[h.id]) * 1000 for h in handles]
    print(f"{args.executions} events, one at a time, worker concurrency {args.concurrency}")
    print(
        f"send-to-resume ms: p50 {statistics.median(latencies):.1f}  "
        f"p95 {_percentile(latencies, 0.95):.1f}  max {max(latencies):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
