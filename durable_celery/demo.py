"""`durable-celery demo`: migrate, start a worker, run example orders, print each step."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from durable_celery.client import (
    ExecutionHandle,
    list_pending_inputs,
    provide_input,
    send_event,
)
from durable_celery.client.schedules import list_schedules, trigger_schedule
from durable_celery.dsl import ExecutionRef
from durable_celery.errors import ExecutionStateError
from durable_celery.runtime import Runtime
from durable_celery.states import ExecutionStatus
from durable_celery.store.migrate import upgrade
from durable_celery.testing import WorkerProcess

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


def run_demo(
    runtime: Runtime, orders: int = 4, timeout: float = 60.0, work_seconds: float = 0.2
) -> int:
    cwd = Path.cwd()
    if not (cwd / "workflows" / "examples.py").exists():
        print("run the demo from the repository root (it uses workflows/examples.py)")
        return 2
    sys.path.insert(0, str(cwd))
    # The worker subprocess loads the bundled app, which imports the example workflows.
    os.environ.setdefault("DURABLE_WORKFLOW_MODULES", "workflows.examples")
    print(f"database  {runtime.database.url.render_as_string(hide_password=True)}")
    print(f"broker    {runtime.app.conf.broker_url}")
    upgrade(runtime.settings)
    print("migrated  schema is at head")

    from workflows.examples import PlaceOrder

    env = {**os.environ, "DURABLE_DATABASE_URL": runtime.settings.database_url}
    if runtime.settings.schema:
        env["DURABLE_SCHEMA"] = runtime.settings.schema
    with WorkerProcess(queues=["default"], concurrency=2, beat=True, cwd=cwd, env=env) as worker:
        print(f"worker    celery -A durable_celery worker (pid {worker.pid})")
        handles = []
        for index in range(orders):
            order: dict[str, Any] = dict(DEMO_ORDERS[index % len(DEMO_ORDERS)])
            order["order_id"] = f"{order['order_id']}-{index}"
            order["work_seconds"] = work_seconds
            handle = PlaceOrder.start_durable(order)
            handles.append((order["order_id"], handle))
            print(f"started   {order['order_id']} as execution {handle.id}")
        ok = _follow(handles, worker, timeout)
        ok = ok and _expense(runtime, timeout)
        ok = ok and _nightly(runtime, timeout)
    cli = _command_line(cwd)
    print(f"\nInspect them with: {cli} list / {cli} show <id>")
    return 0 if ok else 1


def _expense(runtime: Runtime, timeout: float) -> bool:
    """An expense that waits for a human approval, then for an event."""
    from workflows.examples import ExpenseApproval

    print("\nexpense   waits for a manager's approval, then for the receipt")
    handle = ExpenseApproval.start_durable({"employee": "ada", "amount": 120})
    deadline = time.monotonic() + timeout
    while not list_pending_inputs(execution_id=handle.id, runtime=runtime):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    (asked,) = list_pending_inputs(execution_id=handle.id, runtime=runtime)
    print(f"  asking    {asked.prompt} (status {handle.status()}, no worker held)")
    provide_input(handle.id, "approval", {"approved": True, "note": "fine"}, runtime=runtime)
    print("  answered  approved")
    while handle.execution(include_steps=False).current_step != "collect_receipt" or (
        handle.status() is not ExecutionStatus.WAITING
    ):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    send_event(
        handle.id,
        "receipt_uploaded",
        {"url": "https://receipts.example/123.pdf"},
        runtime=runtime,
    )
    print("  event     receipt_uploaded sent")
    result = handle.result(timeout=timeout)
    print(f"result    expense    {handle.status():<9} {result}")
    return True


def _nightly(runtime: Runtime, timeout: float) -> bool:
    """The nightly report: its schedule, stored by the worker's beat, and one run now."""
    deadline = time.monotonic() + timeout
    while not (found := [s for s in list_schedules(runtime=runtime) if s.key == "nightly_report"]):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    nightly = found[0]
    local = nightly.next_fire_at.astimezone(ZoneInfo(nightly.timezone))
    print(
        f"\nschedule  nightly_report  {nightly.expression} ({nightly.timezone}), next fire "
        f"{local:%Y-%m-%d %H:%M %Z}"
    )
    how = "triggered now, once"
    try:
        handle: ExecutionRef = trigger_schedule("nightly_report", runtime=runtime)
    except ExecutionStateError as running:
        # A fire missed while no beat ran (the last demo was yesterday) is running now,
        # and the schedule's overlap="skip" allows one run at a time: show that one.
        handle, how = ExecutionHandle(running.execution_id, runtime), "a missed fire, caught up"
    result = handle.result(timeout=timeout)
    print(f"result    nightly    {handle.status():<9} {result} ({how})")
    return True


def _follow(handles: list[tuple[str, ExecutionRef]], worker: WorkerProcess, timeout: float) -> bool:
    """Print every step attempt as it is recorded, until every order has finished."""
    seen: set[str] = set()
    finished: set[str] = set()
    deadline = time.monotonic() + timeout
    while len(finished) < len(handles):
        for order, handle in handles:
            if handle.id in finished:
                continue
            execution = handle.execution(include_steps=True)
            for step in execution.steps or ():
                if step.id in seen or step.completed_at is None:
                    continue
                seen.add(step.id)
                detail = step.output if step.error is None else step.error["message"]
                duration = step.duration_ms or 0.0
                print(
                    f"  {order:<10} {step.step:<14} {step.status:<9} {duration:6.1f} ms  {detail}"
                )
            if execution.status.finished:
                finished.add(handle.id)
        if time.monotonic() > deadline:
            print(f"timed out after {timeout}s; worker log:\n{worker.log_tail()}")
            return False
        time.sleep(0.1)
    print()
    for order, handle in handles:
        execution = handle.execution(include_steps=False)
        outcome = (
            execution.result
            if execution.status is ExecutionStatus.COMPLETED
            else (
                f"{execution.error['type']}: {execution.error['message']}"
                if execution.error
                else ""
            )
        )
        print(f"result    {order:<10} {execution.status:<9} {outcome}")
    return True


def _command_line(cwd: Path) -> str:
    """How to call `durable-celery` from here: by name when it is on PATH, else its path
    (in a virtualenv that is not activated, say)."""
    if shutil.which("durable-celery"):
        return "durable-celery"
    installed = Path(sys.executable).with_name("durable-celery")
    try:
        return str(installed.relative_to(cwd))
    except ValueError:
        return str(installed)
