"""`@each` and `parallel(...)`: fan out items as units of work, fan in with one counter.

The execution is suspended while its items run on any worker. Each item is a
`step_items` row, claimed and fenced like an execution, with the step's retry policy on
a durable timer. The last item to finish flips the execution back to pending in the
same statement that records it (ITEM_FINISH), exactly once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from durable_celery import sql
from durable_celery.context import StepContext
from durable_celery.db import encode_json, is_disconnect
from durable_celery.definition import StepSpec, get_workflow
from durable_celery.errors import DurableError, FanoutFailed, InvalidPayload, LockLost, StepTimeout
from durable_celery.heartbeat import heartbeat_for
from durable_celery.runtime import ITEM_TASK, WAKE_TASK, Runtime
from durable_celery.timeouts import DEADLINE, Interrupted, limit_for, time_limit

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from durable_celery.executor import Claim, _Run

logger = logging.getLogger("durable_celery.fanout")


def _items(spec: StepSpec, ctx: StepContext) -> list[Any]:
    if spec.kind == "parallel":
        return [function.__name__ for function in spec.branches]
    produced = spec.items(ctx)
    if isinstance(produced, (str, bytes, dict)) or not isinstance(produced, Iterable):
        raise InvalidPayload(
            f"items of step {spec.name!r} must be a list (or other iterable) of JSON values, "
            f"got {type(produced).__name__}"
        )
    return list(produced)


def start(run: _Run, spec: StepSpec, ctx: StepContext) -> bool:
    """Write the items and suspend the execution; False when there is nothing to run."""
    items = _items(spec, ctx)
    if not items:
        return False
    limit = run.runtime.settings.max_payload_bytes
    values = [
        encode_json(item, f"item {index} of step {spec.name!r}", limit)
        for index, item in enumerate(items)
    ]
    queue = spec.queue or run.claim.queue
    rows = run.conn.execute(
        sql.START_FANOUT,
        {
            "id": run.claim.execution_id,
            "token": run.claim.token,
            "step_name": spec.name,
            "fanout_seq": run.step_runs,
            "total": len(items),
            "concurrency": spec.concurrency,
            "queue": queue,
            "item_ids": [str(uuid.uuid4()) for _ in items],
            "item_values": values,
        },
    ).all()
    if len(rows) != len(items):
        raise LockLost(f"execution {run.claim.execution_id}: lock token no longer matches")
    run.item_wakeups = [(str(row.id), queue) for row in rows if row.status == "pending"]
    return True


def collect(conn: Connection, spec: StepSpec, claim: Claim) -> Any:
    """The step's output once its items have finished: outputs in item order (each) or
    by branch name (parallel). A fail_fast failure raises FanoutFailed."""
    rows = conn.execute(
        sql.FANOUT_RESULTS, {"id": claim.execution_id, "fanout_seq": claim.fanout_seq}
    ).all()
    failed = [row for row in rows if row.status == "failed"]
    if spec.on_error == "fail_fast" and (failed or claim.fanout_failed):
        first = failed[0] if failed else None
        raise FanoutFailed(
            spec.name,
            first.item_index if first else -1,
            (first.error if first else None) or {"message": "an item failed"},
        )
    outputs = [
        row.output
        if row.status == "completed"
        else {"error": {key: (row.error or {}).get(key) for key in ("type", "message")}}
        for row in rows
    ]
    if spec.kind == "parallel":
        return {
            function.__name__: output
            for function, output in zip(spec.branches, outputs, strict=True)
        }
    return outputs


def run_item(runtime: Runtime, item_id: str) -> str | None:
    """Handle the wake-up of one fan-out item."""
    worker = runtime.worker_id
    for tries_left in (1, 0):
        with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            try:
                item = conn.execute(sql.ITEM_CLAIM, {"id": item_id, "worker": worker}).first()
            except DBAPIError as exc:
                if tries_left and is_disconnect(exc):
                    continue  # the connection died with the database; nothing was claimed
                raise
            if item is None:
                return None
            with heartbeat_for(runtime).hold("item", str(item.id), item.lock_token):
                return _run_claimed_item(runtime, conn, item)
    return None


def _run_claimed_item(runtime: Runtime, conn: Connection, item: Any) -> str | None:
    fence = {"id": str(item.id), "token": item.lock_token}
    parent = conn.execute(sql.ITEM_PARENT, {"id": item.execution_id}).first()
    if parent is None or (parent.status, parent.suspended_on, parent.fanout_seq) != (
        "waiting",
        "fanout",
        item.fanout_seq,
    ):
        # The execution stopped waiting for this fan-out (cancelled, failed fast).
        conn.execute(sql.ITEM_DROP, fence)
        return "cancelled"
    runtime.import_workflows()
    spec = get_workflow(parent.workflow).step_spec(item.step_name)
    results = {
        row.step_name: row.output
        for row in conn.execute(sql.COMPLETED_OUTPUTS, {"id": item.execution_id})
    }
    ctx = StepContext(
        execution_id=str(item.execution_id),
        workflow=parent.workflow,
        input=parent.input,
        context=parent.context,
        results=results,
        read_only=True,
    )
    ctx._enter_step(item.step_name, item.attempt)
    ctx.item_index = item.item_index
    clock = time.perf_counter()
    try:
        if spec is None or not spec.is_fanout:
            raise DurableError(f"step {item.step_name!r} is no longer an each/parallel step")
        seconds, reason = limit_for(spec.timeout, parent.deadline_at)
        with time_limit(seconds, reason):
            if spec.kind == "parallel":
                output = spec.branch(item.item)(ctx)
            else:
                output = spec.fn(ctx, item.item)
        output_json = encode_json(
            output,
            f"output of item {item.item_index} of step {item.step_name!r}",
            runtime.settings.max_payload_bytes,
        )
    except (Exception, Interrupted) as raised:
        exc: BaseException = raised
        if isinstance(raised, Interrupted):
            exc = StepTimeout(
                f"item {item.item_index} of step {item.step_name!r} passed the workflow deadline"
                if raised.reason == DEADLINE
                else f"item {item.item_index} of step {item.step_name!r} ran longer than its "
                f"timeout"
            )
        return _item_failed(runtime, conn, spec, item, fence, exc, clock)
    return _item_finished(
        runtime,
        conn,
        item,
        fence,
        {
            "status": "completed",
            "output": output_json,
            "error": None,
            "fail_fast": False,
            "duration_ms": (time.perf_counter() - clock) * 1000,
        },
    )


def _item_failed(
    runtime: Runtime,
    conn: Connection,
    spec: StepSpec | None,
    item: Any,
    fence: dict[str, Any],
    exc: BaseException,
    clock: float,
) -> str | None:
    from durable_celery.executor import describe_error

    error = describe_error(exc, item.step_name, item.attempt)
    error["item"] = item.item_index
    error_json = encode_json(error, "error", 1 << 62)
    if (
        spec is not None
        and isinstance(exc, Exception)
        and spec.retry.should_retry(exc, item.attempt)
    ):
        delay = spec.retry.delay_after(item.attempt)
        conn.execute(
            sql.ITEM_RETRY_LATER,
            {
                **fence,
                "error": error_json,
                "delay_seconds": delay.total_seconds(),
            },
        )
        return "pending"
    fail_fast = spec is None or spec.on_error == "fail_fast"
    return _item_finished(
        runtime,
        conn,
        item,
        fence,
        {
            "status": "failed",
            "output": None,
            "error": error_json,
            "fail_fast": fail_fast,
            "duration_ms": (time.perf_counter() - clock) * 1000,
        },
    )


def _item_finished(
    runtime: Runtime,
    conn: Connection,
    item: Any,
    fence: dict[str, Any],
    params: dict[str, Any],
) -> str | None:
    row = conn.execute(sql.ITEM_FINISH, {**fence, **params}).one()
    if not row.done:
        logger.warning("item %s: claim lost; its result was not recorded", fence["id"])
        return None
    if row.next_id is not None:
        runtime.send_wakeups([(str(row.next_id), row.next_queue)], task=ITEM_TASK)
    if row.parent_status == "pending":
        runtime.send_wakeups([(str(item.execution_id), row.parent_queue)], task=WAKE_TASK)
    return str(params["status"])
