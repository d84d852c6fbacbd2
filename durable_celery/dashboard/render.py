"""What every page shares: the dashboard's options, its templates, and links that stay
under the prefix the app is mounted at."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from durable_celery.runtime import Runtime


def when(moment: datetime | None) -> str:
    """Times in UTC, as the footer says: a dashboard's viewers sit in many zones."""
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


@dataclass
class Dashboard:
    runtime: Runtime | None
    token: str | None
    read_only: bool
    page_size: int
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("durable_celery.dashboard", "templates"),
            autoescape=select_autoescape(default=True),
        )
        self.env.filters["when"] = when
        self.env.filters["duration"] = duration

    def base(self, request: Request) -> str:
        return str(request.scope.get("root_path") or "")

    def link(self, request: Request, path: str, **changes: str | None) -> str:
        """`path` under the mount prefix, with this page's query changed by `changes`
        (None drops a parameter)."""
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
        query += [(k, v) for k, v in changes.items() if v is not None]
        encoded = urlencode(query)
        return self.base(request) + path + (f"?{encoded}" if encoded else "")

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        page = self.env.get_template(template).render(
            base=self.base(request),
            csrf=request.state.csrf,
            read_only=self.read_only,
            notice=request.query_params.get("notice"),
            **{"error": request.query_params.get("error"), **context},
        )
        return HTMLResponse(page, status_code=status_code)
