"""The dashboard's actions, each a POST through the client API: cancel, retry, send an
event, answer an input, pause/resume/trigger a schedule. Every one needs the CSRF field
and is refused in read-only mode; each answers with a redirect back to a page that says
what happened (a refused action changes nothing, as the client guarantees)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from durable_celery import client
from durable_celery.client import schedules
from durable_celery.dashboard import forms
from durable_celery.dashboard.render import Dashboard
from durable_celery.dashboard.security import csrf_ok
from durable_celery.errors import DurableError, InvalidPayload


def _local(path: str | None, fallback: str) -> str:
    """A path inside the dashboard to return to; anything else (another site) is not."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return fallback
    return path


class Actions:
    def __init__(self, dashboard: Dashboard) -> None:
        self.d = dashboard

    async def _run(
        self, request: Request, back: str, action: Callable[[dict[str, Any]], str]
    ) -> Response:
        if self.d.read_only:
            return Response("the dashboard is read-only", status_code=403)
        if not await csrf_ok(request):
            return Response("missing or wrong CSRF token", status_code=403)
        form = await request.form()
        values = {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}
        flat: dict[str, Any] = {key: items[-1] if items else "" for key, items in values.items()}
        flat["__lists__"] = values
        back = _local(str(flat.get("next") or ""), back)
        try:
            message = await run_in_threadpool(action, flat)
            outcome = {"notice": message}
        except DurableError as exc:
            outcome = {"error": str(exc)}
        separator = "&" if "?" in back else "?"
        target = self.d.base(request) + back + separator + urlencode(outcome)
        return RedirectResponse(target, status_code=303)

    async def cancel(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]

        def act(form: dict[str, Any]) -> str:
            reason = str(form.get("reason") or "").strip() or None
            status = client.cancel(execution_id, reason, runtime=self.d.runtime)
            return f"cancel requested: the execution is {status}"

        return await self._run(request, f"/executions/{quote(execution_id)}", act)

    async def retry(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]

        def act(form: dict[str, Any]) -> str:
            client.retry(execution_id, runtime=self.d.runtime)
            return "retried: it resumes from the step it failed in"

        return await self._run(request, f"/executions/{quote(execution_id)}", act)

    async def send_event(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]

        def act(form: dict[str, Any]) -> str:
            name = str(form.get("name") or "").strip()
            text = str(form.get("payload") or "").strip()
            try:
                payload = json.loads(text) if text else None
            except json.JSONDecodeError as exc:
                raise InvalidPayload(f"the payload must be JSON ({exc})") from None
            client.send_event(execution_id, name, payload, runtime=self.d.runtime)
            return f"event {name!r} sent"

        return await self._run(request, f"/executions/{quote(execution_id)}", act)

    async def provide_input(self, request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        name = request.path_params["name"]

        def act(form: dict[str, Any]) -> str:
            asked = client.list_pending_inputs(execution_id=execution_id, runtime=self.d.runtime)
            found = next((item for item in asked if item.name == name), None)
            if found is None:
                # Answered meanwhile, or never asked: the client says which.
                client.provide_input(execution_id, name, None, runtime=self.d.runtime)
                return f"input {name!r} answered"
            answer = forms.answer_of(found.kind, found.choices, found.fields, form["__lists__"])
            client.provide_input(execution_id, name, answer, runtime=self.d.runtime)
            return f"input {name!r} answered"

        return await self._run(request, "/inputs", act)

    def _schedule(self, verb: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            key = request.path_params["key"]

            def act(form: dict[str, Any]) -> str:
                if verb == "pause":
                    schedules.pause_schedule(key, runtime=self.d.runtime)
                    return f"schedule {key!r} paused"
                if verb == "resume":
                    schedules.resume_schedule(key, runtime=self.d.runtime)
                    return f"schedule {key!r} resumed"
                handle = schedules.trigger_schedule(key, runtime=self.d.runtime)
                return f"schedule {key!r} triggered: execution {handle.id}"

            return await self._run(request, "/schedules", act)

        return endpoint

    @property
    def pause(self) -> Callable[[Request], Any]:
        return self._schedule("pause")

    @property
    def resume(self) -> Callable[[Request], Any]:
        return self._schedule("resume")

    @property
    def trigger(self) -> Callable[[Request], Any]:
        return self._schedule("trigger")
