"""The dashboard's pages: executions, one execution, pending inputs, schedules, overview.

Each reads through the client API in a worker thread (the client is synchronous) and
renders a server-side template; nothing here writes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from durable_celery import client
from durable_celery.client.schedules import list_schedules
from durable_celery.dashboard import forms
from durable_celery.dashboard.render import Dashboard
from durable_celery.errors import DurableError, ExecutionNotFound, InvalidOption
from durable_celery.states import ExecutionStatus

_AGO = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RETRYABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT})


def moment(text: str, what: str, now: datetime) -> datetime:
    """A time filter: a duration ago ("2h", "30m", "7d") or an ISO datetime (UTC unless
    it carries its offset, as a browser's datetime-local field does not)."""
    match = _AGO.fullmatch(text)
    if match is not None:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])
    try:
        found = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidOption(
            f"{what} must be a duration ago (2h, 30m, 7d) or a date and time "
            f"(2026-05-01T12:00), got {text!r}"
        ) from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


class Pages:
    def __init__(self, dashboard: Dashboard) -> None:
        self.d = dashboard

    async def executions(self, request: Request) -> Response:
        params = request.query_params
        text = {key: (params.get(key) or "").strip() for key in ("workflow", "queue", "q")}
        text.update({key: (params.get(key) or "").strip() for key in ("since", "until")})
        statuses = [s for s in params.getlist("status") if s]
        page = int(params["page"]) if params.get("page", "").isdigit() else 1
        page = max(page, 1)
        size = self.d.page_size
        error = None
        rows: list[Any] = []
        counts: dict[ExecutionStatus, int] = {}
        try:
            now = datetime.now(UTC)
            filters: dict[str, Any] = {
                "workflow": text["workflow"] or None,
                "queue": text["queue"] or None,
                "search": text["q"] or None,
                "since": moment(text["since"], "since", now) if text["since"] else None,
                "until": moment(text["until"], "until", now) if text["until"] else None,
                "runtime": self.d.runtime,
            }
            counts = await run_in_threadpool(lambda: client.count_executions(**filters))
            rows = await run_in_threadpool(
                lambda: client.list_executions(
                    status=statuses or None, limit=size + 1, offset=(page - 1) * size, **filters
                )
            )
        except DurableError as exc:
            error = str(exc)
        total = sum(n for s, n in counts.items() if not statuses or s.value in statuses)
        return self.d.render(
            request,
            "executions.html",
            active="executions",
            live=True,
            executions=rows[:size],
            counts=counts,
            all_statuses=list(ExecutionStatus),
            statuses=statuses,
            filters=text,
            total=total,
            page=page,
            has_next=len(rows) > size,
            page_link=lambda n: self.d.link(request, "/", page=str(n)),
            status_link=lambda s: self.d.link(request, "/", status=s, page=None),
            error=error or request.query_params.get("error"),
        )

    async def execution(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        runtime = self.d.runtime
        try:
            found = await run_in_threadpool(client.get_execution, execution_id, runtime=runtime)
        except ExecutionNotFound as exc:
            return self.d.render(request, "missing.html", status_code=404, message=str(exc))
        except InvalidOption as exc:
            return self.d.render(request, "missing.html", status_code=404, message=str(exc))

        def related() -> tuple[list[Any], list[Any], list[Any]]:
            children = client.list_executions(parent_id=found.id, limit=100, runtime=runtime)
            inputs = client.list_pending_inputs(execution_id=found.id, runtime=runtime)
            events = client.list_pending_events(execution_id=found.id, runtime=runtime)
            return children, inputs, events

        children, inputs, events = await run_in_threadpool(related)
        return self.d.render(
            request,
            "execution.html",
            active="executions",
            live=True,
            e=found,
            children=children,
            inputs=[(pending, self._form(pending)) for pending in inputs],
            events=events,
            can_cancel=found.status.live,
            can_retry=found.status in RETRYABLE,
            pretty=pretty,
        )

    async def inputs(self, request: Request) -> Response:
        workflow = (request.query_params.get("workflow") or "").strip() or None
        error = request.query_params.get("error")
        pending: list[Any] = []
        try:
            pending = await run_in_threadpool(
                lambda: client.list_pending_inputs(workflow=workflow, runtime=self.d.runtime)
            )
        except DurableError as exc:
            error = str(exc)
        return self.d.render(
            request,
            "inputs.html",
            active="inputs",
            inputs=[(item, self._form(item)) for item in pending],
            workflow=workflow or "",
            error=error,
        )

    def _form(self, pending: Any) -> list[forms.Field]:
        return forms.fields_of(pending.kind, pending.choices, pending.fields)

    async def schedules(self, request: Request) -> Response:
        found = await run_in_threadpool(lambda: list_schedules(runtime=self.d.runtime))
        return self.d.render(request, "schedules.html", active="schedules", schedules=found)

    async def overview(self, request: Request) -> Response:
        def read() -> tuple[Any, Any]:
            return (
                client.overview(runtime=self.d.runtime),
                client.throughput(timedelta(hours=1), runtime=self.d.runtime),
            )

        load, finished = await run_in_threadpool(read)
        return self.d.render(
            request,
            "overview.html",
            active="overview",
            live=True,
            load=load,
            throughput=finished,
        )
