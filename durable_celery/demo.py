"""`durable-celery demo`: migrate, start a worker, run example orders, print each step."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from durable_celery.handle import ExecutionHandle
from durable_celery.migrate import upgrade
from durable_celery.models import FINISHED_STATUSES, step_executions
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.workers import WorkerProcess

DEMO_ORDERS: list[dict[str, Any]] = [
    # Ships.
    {"order_id": "A-1001", "lines": [{"sku": "book", "qty": 2}, {"sku": "pen", "qty": 5}]},
    # The payment gateway times out once: the charge is retried on a durable timer.
    {"order_id": "A-1002", "lines": [{"sku": "lamp", "qty": 1}], "gateway_flaky": True},
    # Shipping fails after the charge: refund and stock release run (compensated).
    {"order_id": "A-1003", "lines": [{"sku": "pen", "qty": 1}], "carrier": "none"},
    # An unknown SKU fails while pricing, before anything needs undoing.
    {"order_id": "A-1004", "lines": [{"sku": "unicorn", "qty": 1}]},
]


def run_demo(orders: int = 4, timeout: float = 60.0, work_seconds: float = 0.2) -> int:
    cwd = Path.cwd()
    if not (cwd / "workflows" / "examples.py").exists():
        print("run the demo from the repository root (it uses workflows/examples.py)")
        return 2
    sys.path.insert(0, str(cwd))
    os.environ.setdefault("DURABLE_WORKFLOW_MODULES", "workflows.examples")
    runtime = current_runtime()
    print(f"database  {runtime.engine.url.render_as_string(hide_password=True)}")
    print(f"broker    {runtime.app.conf.broker_url}")
    upgrade(runtime.settings)
    print("migrated  schema is at head")

    from workflows.examples import PlaceOrder

    with WorkerProcess(queues=["default"], concurrency=2, beat=True, cwd=cwd) as worker:
        print(f"worker    celery -A durable_celery worker (pid {worker.pid})")
        handles = []
        for index in range(orders):
            order: dict[str, Any] = dict(DEMO_ORDERS[index % len(DEMO_ORDERS)])
            order["order_id"] = f"{order['order_id']}-{index}"
            order["work_seconds"] = work_seconds
            handle = PlaceOrder.start_durable(order)
            handles.append((order["order_id"], handle))
            print(f"started   {order['order_id']} as execution {handle.id}")
        ok = _follow(runtime, handles, worker, timeout)
        ok = ok and _expense(timeout)
    print("\nInspect them with: durable-celery list / durable-celery show <id>")
    return 0 if ok else 1


def _expense(timeout: float) -> bool:
    """An expense that waits for a human approval, then for an event."""
    from durable_celery.signals import list_pending_inputs, provide_input, send_event
    from workflows.examples import ExpenseApproval

    print("\nexpense   waits for a manager's approval, then for the receipt")
    handle = ExpenseApproval.start_durable({"employee": "ada", "amount": 120})
    deadline = time.monotonic() + timeout
    while not list_pending_inputs(execution_id=handle.id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    (asked,) = list_pending_inputs(execution_id=handle.id)
    print(f"  asking    {asked.prompt} (status {handle.status()}, no worker held)")
    provide_input(handle.id, "approval", {"approved": True, "note": "fine"})
    print("  answered  approved")
    while handle.execution(include_steps=False).current_step != "collect_receipt" or (
        handle.status() != "waiting"
    ):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    send_event(handle.id, "receipt_uploaded", {"url": "https://receipts.example/123.pdf"})
    print("  event     receipt_uploaded sent")
    result = handle.result(timeout=timeout)
    print(f"result    expense    {handle.status():<9} {result}")
    return True


def _follow(
    runtime: Runtime,
    handles: list[tuple[str, ExecutionHandle]],
    worker: WorkerProcess,
    timeout: float,
) -> bool:
    ids = {handle.id: order for order, handle in handles}
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    finished: dict[str, str] = {}
    table = step_executions
    while len(finished) < len(ids):
        with runtime.engine.connect() as conn:
            rows = conn.execute(
                select(
                    table.c.id,
                    table.c.execution_id,
                    table.c.step_name,
                    table.c.status,
                    table.c.duration_ms,
                    table.c.output,
                    table.c.error,
                )
                .where(table.c.execution_id.in_(list(ids)))
                .order_by(table.c.completed_at)
            ).all()
        for row in rows:
            if str(row.id) in seen:
                continue
            seen.add(str(row.id))
            detail = row.output if row.error is None else row.error["message"]
            print(
                f"  {ids[str(row.execution_id)]:<10} {row.step_name:<14} {row.status:<9} "
                f"{row.duration_ms:6.1f} ms  {detail}"
            )
        for execution_id in ids:
            if execution_id not in finished:
                status = next(h for _, h in handles if h.id == execution_id).status()
                if status in FINISHED_STATUSES:
                    finished[execution_id] = status
        if time.monotonic() > deadline:
            print(f"timed out after {timeout}s; worker log:\n{worker.log_tail()}")
            return False
        time.sleep(0.1)
    print()
    for order, handle in handles:
        execution = handle.execution(include_steps=False)
        outcome = (
            execution.result
            if execution.status == "completed"
            else (
                f"{execution.error['type']}: {execution.error['message']}"
                if execution.error
                else ""
            )
        )
        print(f"result    {order:<10} {execution.status:<9} {outcome}")
    return True
