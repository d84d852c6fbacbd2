"""`@each` and `parallel(...)` on the execution's side: fan out, and collect once fanned in.

The execution is suspended while its items run on any worker (see engine.items); the
last item to finish flips it back to pending, and the step then runs again and collects
the items' results as its output.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from durable_celery.dsl import StepContext, StepSpec
from durable_celery.engine import aio
from durable_celery.engine.interrupts import Suspend
from durable_celery.errors import FanoutFailed
from durable_celery.states import ItemStatus, Suspension
from durable_celery.store import items
from durable_celery.store.codec import Codec
from durable_celery.store.executions import ClaimedExecution


def fan_out(
    conn: Connection,
    claim: ClaimedExecution,
    spec: StepSpec,
    ctx: StepContext,
    fanout_seq: int,
    codec: Codec,
) -> Any:
    """Write the step's items and suspend the execution on them (raises Suspend); a step
    with no items outputs its empty result at once."""
    work = spec.work_items(ctx, aio.call)
    if not work:
        return spec.gather([])
    values = [
        codec.encode(item, f"item {index} of step {spec.name!r}") for index, item in enumerate(work)
    ]
    queues = [spec.queue_of(item) or claim.queue for item in work]
    # Each unit of work goes to its own queue (parallel(queue={branch: queue})); with one
    # queue for all, the statement takes no per-item array.
    uniform = len(set(queues)) == 1
    wakeups = items.start_fanout(
        conn,
        claim.fence,
        workflow=claim.workflow,
        step_name=spec.name,
        fanout_seq=fanout_seq,
        concurrency=spec.concurrency,
        values=values,
        queue=queues[0] if uniform else claim.queue,
        queues=None if uniform else queues,
    )
    raise Suspend(Suspension.FANOUT, wakeups=wakeups)


def collect(conn: Connection, claim: ClaimedExecution, spec: StepSpec) -> Any:
    """The step's output once its items have finished. A fail_fast failure raises
    FanoutFailed; with on_error="continue" a failed item's entry is its error."""
    assert claim.fanout_seq is not None
    results = items.fanout_results(conn, claim.id, claim.fanout_seq)
    failed = [result for result in results if result.status is ItemStatus.FAILED]
    if spec.on_error == "fail_fast" and (failed or claim.fanout_failed):
        first = failed[0] if failed else None
        raise FanoutFailed(
            spec.name,
            first.index if first else -1,
            (first.error if first else None) or {"message": "an item failed"},
        )
    return spec.gather(
        [
            result.output
            if result.status is ItemStatus.COMPLETED
            else {"error": {key: (result.error or {}).get(key) for key in ("type", "message")}}
            for result in results
        ]
    )
