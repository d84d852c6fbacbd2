"""The dashboard as an ASGI application (Starlette), to serve alone (`durable-celery
dashboard`) or to mount in a web app of one's own."""

from __future__ import annotations

from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from durable_celery.dashboard.actions import Actions, _local
from durable_celery.dashboard.pages import Pages
from durable_celery.dashboard.render import Dashboard
from durable_celery.dashboard.security import Guard, csrf_ok, same
from durable_celery.errors import DatabaseUnavailable, DurableError, InvalidOption
from durable_celery.observability.metrics import exposition
from durable_celery.runtime import Runtime


def create_app(
    runtime: Runtime | None = None,
    *,
    token: str | None = None,
    read_only: bool = False,
    page_size: int = 50,
) -> Starlette:
    """The dashboard's ASGI app. `runtime`: the app's durable runtime (default: the
    current one, as client calls use). `token`: when given, every page needs it (once,
    as `?token=`, the login form, or an `Authorization: Bearer` header). `read_only`
    hides the actions and refuses them with 403. Mount it under any path: its links
    follow the mount's root_path."""
    if token is not None and (not isinstance(token, str) or not token):
        raise InvalidOption("token must be a non-empty string or None")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise InvalidOption(f"page_size must be an int >= 1, got {page_size!r}")
    dashboard = Dashboard(runtime, token, read_only, page_size)
    pages = Pages(dashboard)
    actions = Actions(dashboard)
    guard = Guard(token)

    async def login(request: Request) -> Response:
        target = _local(request.query_params.get("next"), "/")
        if request.method == "GET":
            return dashboard.render(request, "login.html", next=target)
        if not await csrf_ok(request):
            return Response("missing or wrong CSRF token", status_code=403)
        form = await request.form()
        given = form.get("token")
        target = _local(str(form.get("next") or ""), "/")
        if token is None or not (isinstance(given, str) and same(given, token)):
            query = urlencode({"next": target, "error": "wrong token"})
            return RedirectResponse(f"{dashboard.base(request)}/login?{query}", status_code=303)
        response = RedirectResponse(dashboard.base(request) + target, status_code=303)
        guard.remember(request, response)
        return response

    routes = [
        Route("/", pages.executions),
        Route("/executions/{execution_id}", pages.execution),
        Route("/executions/{execution_id}/cancel", actions.cancel, methods=["POST"]),
        Route("/executions/{execution_id}/retry", actions.retry, methods=["POST"]),
        Route("/executions/{execution_id}/event", actions.send_event, methods=["POST"]),
        Route("/inputs", pages.inputs),
        Route("/inputs/{execution_id}/{name}", actions.provide_input, methods=["POST"]),
        Route("/schedules", pages.schedules),
        Route("/schedules/{key}/pause", actions.pause, methods=["POST"]),
        Route("/schedules/{key}/resume", actions.resume, methods=["POST"]),
        Route("/schedules/{key}/trigger", actions.trigger, methods=["POST"]),
        Route("/overview", pages.overview),
        Route("/metrics", metrics),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/static/dashboard.css", stylesheet),
    ]

    async def failed(request: Request, exc: Exception) -> Response:
        # A page whose read failed says why (the database is down, ...) instead of a 500.
        status = 503 if isinstance(exc, DatabaseUnavailable) else 400
        return dashboard.render(
            request, "missing.html", status_code=status, title="Error", message=str(exc)
        )

    return Starlette(
        routes=routes,
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)],
        exception_handlers={DurableError: failed},
    )


async def stylesheet(request: Request) -> Response:
    css = files("durable_celery.dashboard").joinpath("static/dashboard.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=300"})


async def metrics(request: Request) -> Response:
    """Prometheus' exposition of this process's metrics, or of every process writing to
    PROMETHEUS_MULTIPROC_DIR when it is set (workers on this host), when
    prometheus_client is there."""
    try:
        body, content_type = exposition()
    except ImportError:
        return Response("prometheus_client is not installed", status_code=404)
    return Response(body, media_type=content_type)


def create_wsgi_app(
    runtime: Runtime | None = None,
    *,
    token: str | None = None,
    read_only: bool = False,
    page_size: int = 50,
) -> Any:
    """The dashboard as a WSGI app, for Flask or Django under WSGI: mount it under a prefix
    (werkzeug's DispatcherMiddleware, a URL route); the prefix comes from SCRIPT_NAME.
    Same options as `create_app`; the `dashboard` extra brings the adapter (a2wsgi)."""
    from a2wsgi import ASGIMiddleware

    return ASGIMiddleware(
        create_app(runtime, token=token, read_only=read_only, page_size=page_size)  # type: ignore[arg-type]
    )
