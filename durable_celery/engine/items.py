"""Running one fan-out item: the unit of work of an `@each` item or a `parallel` branch.

An item is claimed and fenced like an execution, retried on a durable timer by its
step's policy, and its ending does the fan-in in the same statement (store.items).
"""

from __future__ import annotations

import time

from sqlalchemy import Connection

from durable_celery.dsl import StepContext, StepSpec, get_workflow
from durable_celery.engine.claims import run_claimed
from durable_celery.engine.outcomes import describe_error, retry_delay
from durable_celery.engine.timeouts import Interrupted, Limit, limit_for, time_limit
from durable_celery.errors import DurableError, LockLost, StepTimeout
from durable_celery.runtime import Runtime
from durable_celery.states import ItemStatus, WakeTarget
from durable_celery.store import executions, items
from durable_celery.store.codec import encode_record
from durable_celery.store.items import ClaimedItem, ItemEnd


def run_item(runtime: Runtime, item_id: str) -> str | None:
    """Handle the wake-up of one fan-out item; returns the status it was left in."""
    return run_claimed(
        runtime,
        WakeTarget.ITEM,
        item_id,
        items.claim_item,
        lambda conn, item: _run(runtime, conn, item),
    )


def _run(runtime: Runtime, conn: Connection, item: ClaimedItem) -> ItemStatus | None:
    parent = items.parent_of(conn, item)
    if parent is None or not parent.waits_for_this_fanout:
        # The execution stopped waiting for this fan-out (cancelled, failed fast).
        items.drop_item(conn, item)
        return ItemStatus.CANCELLED
    runtime.import_workflows()
    spec = get_workflow(parent.workflow).step_spec(item.step_name)
    results = {
        done.name: done.output
        for done in executions.completed_steps(conn, item.execution_id)
        if done.latest
    }
    ctx = StepContext(
        execution_id=item.execution_id,
        workflow=parent.workflow,
        input=parent.input,
        context=parent.context,
        results=results,
        in_item=True,
    )
    ctx.enter(item.step_name, item.attempt, item_index=item.index)
    clock = time.perf_counter()
    try:
        if spec is None or not spec.is_fanout:
            raise DurableError(f"step {item.step_name!r} is no longer an each/parallel step")
        seconds, limit = limit_for(spec.timeout, parent.deadline_at)
        with time_limit(seconds, limit):
            output = spec.run_item(ctx, item.value)
        output_json = runtime.codec.encode(
            output, f"output of item {item.index} of step {item.step_name!r}"
        )
    except (Exception, Interrupted) as raised:
        return _failed(runtime, conn, spec, item, _as_failure(raised, item), clock)
    return _finish(
        runtime,
        conn,
        item,
        ItemEnd(ItemStatus.COMPLETED, output_json, None, False, _elapsed_ms(clock)),
    )


def _as_failure(raised: BaseException, item: ClaimedItem) -> BaseException:
    if not isinstance(raised, Interrupted):
        return raised
    where = f"item {item.index} of step {item.step_name!r}"
    if raised.limit is Limit.DEADLINE:
        return StepTimeout(f"{where} passed the workflow deadline")
    return StepTimeout(f"{where} ran longer than its timeout")


def _failed(
    runtime: Runtime,
    conn: Connection,
    spec: StepSpec | None,
    item: ClaimedItem,
    exc: BaseException,
    clock: float,
) -> ItemStatus | None:
    error = describe_error(exc, item.step_name, item.attempt)
    error["item"] = item.index
    error_json = encode_record(error, "error")
    delay = None if spec is None else retry_delay(spec, exc, item.attempt)
    if delay is not None:
        items.retry_item(conn, item, error_json, delay.total_seconds())
        return ItemStatus.PENDING
    fail_fast = spec is None or spec.on_error == "fail_fast"
    return _finish(
        runtime,
        conn,
        item,
        ItemEnd(ItemStatus.FAILED, None, error_json, fail_fast, _elapsed_ms(clock)),
    )


def _finish(
    runtime: Runtime, conn: Connection, item: ClaimedItem, end: ItemEnd
) -> ItemStatus | None:
    wakeups = items.finish_item(conn, item, end)
    if wakeups is None:
        raise LockLost(f"item {item.id}: lock token no longer matches; nothing recorded")
    runtime.publish(wakeups)
    return end.status


def _elapsed_ms(clock: float) -> float:
    return (time.perf_counter() - clock) * 1000
