"""Who may use the dashboard, and proof that a POST came from its own pages.

The token (when one is set) is given once, as `?token=` or through the login form, and a
digest of it is kept in an HttpOnly cookie; scripts (a Prometheus scraper) may send it as
a Bearer header instead. CSRF is a double submit: a random per-browser token in a cookie
that each form repeats in a hidden field, compared in constant time. Neither needs
server-side sessions.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from durable_celery.errors import ConfigurationError

TOKEN_COOKIE = "durable_dashboard_token"
CSRF_COOKIE = "durable_dashboard_csrf"
CSRF_FIELD = "csrf"
# Pages reachable without the token: the login form itself and the stylesheet it uses.
OPEN_PATHS = frozenset({"/login", "/static/dashboard.css"})


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the dashboard on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere: treat it as public


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token: the dashboard can cancel work."""
    if token is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to bind the dashboard to {host!r} without a token: give --token "
            f"or set DURABLE_DASHBOARD_TOKEN (or bind 127.0.0.1)"
        )


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def route_path(scope: Any) -> str:
    """The path within the dashboard: ASGI servers and mounts give the full path with the
    prefix in root_path (as Starlette's own routing reads it)."""
    path, root = str(scope["path"]), str(scope.get("root_path") or "")
    if root and path.startswith(root) and path[len(root) :][:1] in ("", "/"):
        return path[len(root) :] or "/"
    return path or "/"


def cookie_path(request: Request) -> str:
    # Mounted under a prefix, the cookies belong to that prefix alone.
    return str(request.scope.get("root_path") or "") or "/"


Endpoint = Callable[[Request], Awaitable[Response]]


class Guard:
    """The middleware's logic: the token check before a page, the CSRF cookie after it."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def authorised(self, request: Request) -> bool:
        if self.token is None:
            return True
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and same(header[7:].strip(), self.token):
            return True
        return same(request.cookies.get(TOKEN_COOKIE), self.session)

    @property
    def session(self) -> str:
        # The cookie holds a digest of the token, not the token: a leaked cookie does not
        # give away what to type into --token elsewhere.
        assert self.token is not None
        return hmac.new(self.token.encode(), b"durable-dashboard-session", "sha256").hexdigest()

    async def __call__(self, request: Request, call_next: Endpoint) -> Response:
        request.state.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        path = route_path(request.scope)
        given = request.query_params.get("token")
        if self.token is not None and given is not None:
            if not same(given, self.token):
                return Response("invalid token", status_code=401)
            # Keep it in a cookie and drop it from the address bar (and the history).
            query = urlencode(
                [
                    (key, value)
                    for key, value in request.query_params.multi_items()
                    if key != "token"
                ]
            )
            target = str(request.scope.get("root_path") or "") + path
            response: Response = RedirectResponse(
                target + (f"?{query}" if query else ""), status_code=303
            )
            self.remember(request, response)
        elif path in OPEN_PATHS or self.authorised(request):
            response = await call_next(request)
        elif request.method == "GET":
            login = str(request.scope.get("root_path") or "") + "/login"
            back = path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(f"{login}?{urlencode({'next': back})}", status_code=303)
        else:
            response = Response("the dashboard's token is needed", status_code=401)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(
                CSRF_COOKIE,
                request.state.csrf,
                path=cookie_path(request),
                httponly=True,
                samesite="strict",
            )
        return response

    def remember(self, request: Request, response: Response) -> None:
        response.set_cookie(
            TOKEN_COOKIE, self.session, path=cookie_path(request), httponly=True, samesite="strict"
        )


async def csrf_ok(request: Request) -> bool:
    """Whether a POST repeats the CSRF cookie in its form (the form is read and cached)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    form = await request.form()
    field = form.get(CSRF_FIELD)
    return cookie is not None and isinstance(field, str) and same(field, cookie)
