"""Running one fan-out item: the unit of work of an `@each` item or a `parallel` branch.

An item is claimed and fenced like an execution, retried on a durable timer by its
step's policy, and its ending does the fan-in in the same statement (store.items).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection

from durable_celery.dsl import StepContext, StepSpec, get_workflow
from durable_celery.engine import aio
from durable_celery.engine.claims import run_claimed
from durable_celery.engine.outcomes import abandoned_too_often, describe_error, retry_delay
from durable_celery.engine.timeouts import Interrupted, Limit, limit_for
from durable_celery.errors import DurableError, LockLost, RecordingFailed, StepTimeout
from durable_celery.runtime import Runtime
from durable_celery.states import ItemStatus, WakeTarget
from durable_celery.store import executions, items
from durable_celery.store.connections import is_disconnect
from durable_celery.store.items import ClaimedItem, ItemEnd, ItemParent


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
    clock = time.perf_counter()
    # The rule, as for a step: whatever happens, the attempt ends recorded and the claim
    # released; only a lost claim or a database that went away leaves it to recovery.
    try:
        return _attempt(runtime, conn, item, parent, clock)
    except LockLost:
        raise
    except Exception as exc:
        if is_disconnect(exc):
            raise
        failure = RecordingFailed(
            f"the outcome of item {item.index} of step {item.step_name!r} could not be "
            f"recorded: {describe_error(exc)['message']}"
        )
        return _finish(runtime, conn, item, _failure_end(runtime, None, item, failure, clock))


def _attempt(
    runtime: Runtime, conn: Connection, item: ClaimedItem, parent: ItemParent, clock: float
) -> ItemStatus | None:
    spec: StepSpec | None = None
    try:
        runtime.import_workflows()
        spec = get_workflow(parent.workflow, parent.version).step_spec(item.step_name)
        if spec is None or not spec.is_fanout:
            raise DurableError(f"step {item.step_name!r} is no longer an each/parallel step")
        too_often = abandoned_too_often(spec, item.attempt)
        if too_often is not None:
            return _finish(runtime, conn, item, _failure_end(runtime, spec, item, too_often, clock))
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
        seconds, limit = limit_for(spec.timeout, parent.deadline_at)
        function, args = spec.item_call(item.value)
        output = aio.call(function, ctx, *args, seconds=seconds, limit=limit)
        output_json = runtime.codec.encode(
            output, f"output of item {item.index} of step {item.step_name!r}"
        )
    except (Exception, SystemExit, Interrupted) as raised:
        failure = _as_failure(raised, item)
        delay = None if spec is None else retry_delay(spec, failure, item.attempt)
        if delay is not None:
            error = runtime.codec.record_error(_describe(failure, item))
            items.retry_item(conn, item, error, delay.total_seconds())
            return ItemStatus.PENDING
        return _finish(runtime, conn, item, _failure_end(runtime, spec, item, failure, clock))
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


def _failure_end(
    runtime: Runtime,
    spec: StepSpec | None,
    item: ClaimedItem,
    failure: BaseException,
    clock: float,
) -> ItemEnd:
    """The recorded ending of an item that failed for good."""
    fail_fast = spec is None or spec.on_error == "fail_fast"
    error = runtime.codec.record_error(_describe(failure, item))
    return ItemEnd(ItemStatus.FAILED, None, error, fail_fast, _elapsed_ms(clock))


def _describe(failure: BaseException, item: ClaimedItem) -> dict[str, Any]:
    error = describe_error(failure, item.step_name, item.attempt)
    error["item"] = item.index
    return error


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
