"""How the command line shows things to people: aligned tables and one execution in full.
(`--json` prints the records themselves, for scripts.)"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from durable_celery.store.records import Execution, StepRecord


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if not rows:
        lines.append("(none)")
    return "\n".join(line.rstrip() for line in lines)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def waited(delta: timedelta | None) -> str:
    """A wait in its two largest units: 42s, 12m05s, 3h04m, 2d03h."""
    if delta is None:
        return "-"
    total = max(0, int(delta.total_seconds()))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def counts(by_status: dict[str, int] | None) -> str:
    """{"completed": 3, "running": 1} as "completed 3, running 1"."""
    return ", ".join(f"{status} {n}" for status, n in (by_status or {}).items()) or "none"


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def plain(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if hasattr(value, "isoformat") else value
        for key, value in data.items()
    }


def execution_in_full(execution: Execution) -> str:
    lines = [
        f"execution  {execution.id}",
        f"workflow   {execution.workflow}  (queue {execution.queue})",
        f"status     {execution.status}",
    ]
    if execution.waiting_for:
        lines.append(f"waits for  {execution.waiting_for}")
    lines += [
        f"created    {when(execution.created_at)}   started {when(execution.started_at)}   "
        f"ended {when(execution.completed_at)}",
        f"input      {json.dumps(execution.input)}",
        f"context    {json.dumps(execution.context)}",
    ]
    if execution.parent_id:
        lines.append(f"parent     {execution.parent_id}")
    if execution.children:
        lines.append(f"children   {counts(execution.children)}")
    if execution.schedule_key is not None:
        lines.append(
            f"schedule   {execution.schedule_key}   fire time {when(execution.scheduled_at)}"
        )
    if execution.debounce_key is not None:
        lines.append(f"debounce   {execution.debounce_key}")
    if execution.status == "completed":
        lines.append(f"result     {json.dumps(execution.result)}")
    if execution.error:
        lines.append(f"error      {execution.error.get('type')}: {execution.error.get('message')}")
    steps = execution.steps or ()
    rows = [
        [
            str(s.sequence),
            s.step,
            str(s.attempt),
            s.status,
            when(s.started_at),
            f"{s.duration_ms:.1f}" if s.duration_ms is not None else "-",
            s.worker or "-",
            short(s.output if s.error is None else s.error.get("message")),
        ]
        for s in steps
    ]
    lines += [
        "",
        table(
            ["#", "STEP", "ATTEMPT", "STATUS", "STARTED", "MS", "WORKER", "OUTPUT / ERROR"], rows
        ),
    ]
    logs = [_logs_of(step) for step in steps if step.logs]
    if logs:
        lines += ["", "logs", *logs]
    return "\n".join(lines)


def _logs_of(step: StepRecord) -> str:
    return "\n".join(f"  #{step.sequence} {step.step}: {line}" for line in step.logs)
