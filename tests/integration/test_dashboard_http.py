"""The dashboard over HTTP (Starlette's test client, in this process, on the session
database): filters, search, pagination, an execution's page, the actions with their
CSRF, token and read-only rules, mounting under a prefix, /metrics, and the command
that refuses a public bind without a token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

import durable_celery as dc
from durable_celery.client import throughput
from durable_celery.dashboard import Server, create_app
from durable_celery.testing import wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows_dashboard import DashAwaitsEvent, DashReview

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


Serve = Callable[[object], httpx.Client]


@pytest.fixture()
def serve() -> Iterator[Serve]:
    """serve(app): the app on a loopback port of its own (uvicorn in a thread), and an
    HTTP client of it that keeps cookies and follows redirects, as a browser does."""
    with ExitStack() as stack:

        def start(app: object) -> httpx.Client:
            server = stack.enter_context(Server(app))
            client = httpx.Client(base_url=server.url, follow_redirects=True, timeout=30)
            return stack.enter_context(client)

        yield start


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture()
def parked(runtime) -> Iterator[tuple[str, list[str], list[str]]]:  # type: ignore[no-untyped-def]
    """Three executions on a queue no worker consumes (so they stay pending), oldest
    first, with their idempotency keys; cancelled afterwards."""
    queue = f"dash-{uuid.uuid4().hex[:8]}"
    keys = [f"order-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    ids = [dc.start(DashAwaitsEvent.name, {}, queue=queue, idempotency_key=key).id for key in keys]
    yield queue, ids, keys
    for execution_id in ids:
        if not dc.get_execution(execution_id, include_steps=False).finished:
            dc.cancel(execution_id)


def test_lists_filters_searches_and_pages(serve, runtime, parked):  # type: ignore[no-untyped-def]
    queue, ids, keys = parked
    web = serve(create_app(runtime, page_size=2))

    page = web.get("/", params={"queue": queue})
    assert page.status_code == 200
    assert re.search(r"pending <b>3</b>", page.text) and "3 matching" in page.text

    # Newest first, two a page, then the oldest on page 2.
    first = web.get("/", params={"queue": queue, "page": "1"}).text
    assert ids[2] in first and ids[1] in first and ids[0] not in first
    assert first.index(ids[2]) < first.index(ids[1])
    assert 'rel="next"' in first
    second = web.get("/", params={"queue": queue, "page": "2"}).text
    assert ids[0] in second and ids[2] not in second and 'rel="next"' not in second

    by_key = web.get("/", params={"q": keys[1]}).text
    assert ids[1] in by_key and ids[0] not in by_key and ids[2] not in by_key
    by_prefix = web.get("/", params={"q": ids[0][:13], "queue": queue}).text
    assert ids[0] in by_prefix and ids[1] not in by_prefix

    # The newest is on the first page whenever it matches.
    newest = ids[2]
    assert newest in web.get("/", params={"queue": queue, "workflow": DashAwaitsEvent.name}).text
    assert newest not in web.get("/", params={"queue": queue, "workflow": "tests.other"}).text
    assert newest not in web.get("/", params={"queue": queue, "status": "completed"}).text
    assert newest in web.get("/", params={"queue": queue, "status": "pending"}).text
    assert newest in web.get("/", params={"queue": queue, "since": "1h"}).text
    assert newest not in web.get("/", params={"queue": queue, "until": "1h"}).text

    bad = web.get("/", params={"queue": queue, "since": "yesterday"})
    assert bad.status_code == 200 and "since must be a duration ago" in bad.text


def test_execution_page_and_cancel_needs_csrf(serve, runtime, parked):  # type: ignore[no-untyped-def]
    _, ids, _ = parked
    web = serve(create_app(runtime))
    page = web.get(f"/executions/{ids[0]}")
    assert page.status_code == 200
    assert DashAwaitsEvent.name in page.text and 'id="cancel"' in page.text
    assert web.get(f"/executions/{uuid.uuid4()}").status_code == 404
    token = csrf_of(page.text)

    for form in ({"reason": "no csrf"}, {"reason": "wrong", "csrf": token + "x"}):
        refused = web.post(f"/executions/{ids[0]}/cancel", data=form, follow_redirects=False)
        assert refused.status_code == 403
    assert dc.get_execution(ids[0]).status == "pending"

    done = web.post(
        f"/executions/{ids[0]}/cancel",
        data={"reason": "customer left", "csrf": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    cancelled = dc.get_execution(ids[0], include_steps=False)
    assert cancelled.status == "cancelled" and cancelled.error["message"] == "customer left"
    shown = web.get(done.headers["location"]).text
    assert "cancel requested" in shown

    # A refused action reports the client's error and changes nothing.
    again = web.post(f"/executions/{ids[0]}/retry", data={"csrf": token})
    assert again.status_code == 200 and "cannot retry" in again.text.lower()


def test_read_only_hides_and_refuses_actions(serve, runtime, parked):  # type: ignore[no-untyped-def]
    _, ids, _ = parked
    web = serve(create_app(runtime, read_only=True))
    page = web.get(f"/executions/{ids[0]}")
    assert "read-only" in page.text and 'id="cancel"' not in page.text
    csrf = web.cookies["durable_dashboard_csrf"]
    refused = web.post(f"/executions/{ids[0]}/cancel", data={"csrf": csrf})
    assert refused.status_code == 403
    assert dc.get_execution(ids[0], include_steps=False).status == "pending"


def test_token_by_query_login_form_or_bearer(serve, runtime):  # type: ignore[no-untyped-def]
    app = create_app(runtime, token="s3cret")
    web = serve(app)
    first = web.get("/inputs?workflow=w", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2Finputs%3Fworkflow%3Dw"
    assert web.get("/?token=wrong", follow_redirects=False).status_code == 401
    assert web.post("/executions/x/cancel", data={}).status_code == 401

    entered = web.get("/inputs?token=s3cret", follow_redirects=False)
    assert entered.status_code == 303 and entered.headers["location"] == "/inputs"
    # The rest of the query survives, encoded as it came.
    kept = web.get("/?workflow=a%26b&token=s3cret&status=failed", follow_redirects=False)
    assert kept.headers["location"] == "/?workflow=a%26b&status=failed"
    assert web.get("/inputs").status_code == 200
    assert "s3cret" not in str(web.cookies.get("durable_dashboard_token"))

    other = serve(app)
    assert other.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    login = other.get("/login").text
    wrong = other.post("/login", data={"token": "nope", "csrf": csrf_of(login), "next": "/"})
    assert "wrong token" in wrong.text
    right = other.post(
        "/login",
        data={"token": "s3cret", "csrf": csrf_of(login), "next": "/overview"},
        follow_redirects=False,
    )
    assert right.status_code == 303 and right.headers["location"] == "/overview"
    assert other.get("/overview").status_code == 200


def test_mounted_under_a_prefix(serve, runtime, parked):  # type: ignore[no-untyped-def]
    queue, ids, _ = parked
    outer = Starlette(routes=[Mount("/durable", app=create_app(runtime))])
    web = serve(outer)
    page = web.get("/durable/", params={"queue": queue}).text
    assert f'href="/durable/executions/{ids[0]}"' in page
    assert 'href="/durable/static/dashboard.css"' in page
    assert web.get("/durable/static/dashboard.css").status_code == 200
    one = web.get(f"/durable/executions/{ids[1]}")
    assert one.status_code == 200
    done = web.post(
        f"/durable/executions/{ids[1]}/cancel",
        data={"csrf": csrf_of(one.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"/durable/executions/{ids[1]}?")
    assert dc.get_execution(ids[1], include_steps=False).status == "cancelled"

    # As README's Django asgi.py does it: the full path, the prefix in root_path.
    dashboard = create_app(runtime, token="s3cret")

    async def asgi(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"].startswith("/durable/"):
            return await dashboard({**scope, "root_path": "/durable"}, receive, send)
        raise AssertionError(f"not the dashboard's: {scope['path']}")

    plain = serve(asgi)
    entered = plain.get("/durable/executions/?token=s3cret", follow_redirects=False)
    assert entered.headers["location"] == "/durable/executions/"
    redirected = plain.get("/durable/inputs", follow_redirects=False)
    assert redirected.status_code == 200
    assert plain.get(f"/durable/executions/{ids[2]}").status_code == 200


def test_send_event_and_overview(serve, runtime, worker):  # type: ignore[no-untyped-def]
    web = serve(create_app(runtime))
    handle = dc.start(DashAwaitsEvent.name, {})
    assert wait_until(lambda: dc.get_execution(handle.id).status == "waiting", 20)
    page = web.get(f"/executions/{handle.id}").text
    assert "event &#39;go&#39;" in page or "event 'go'" in page
    sent = web.post(
        f"/executions/{handle.id}/event",
        data={"name": "go", "payload": '{"ok": 1}', "csrf": csrf_of(page)},
    )
    assert "event &#39;go&#39; sent" in sent.text
    assert handle.result(timeout=20) == {"ok": 1}
    finished = {row.workflow: row for row in throughput(timedelta(hours=1))}
    assert finished[DashAwaitsEvent.name].completed >= 1
    overview = web.get("/overview").text
    assert DashAwaitsEvent.name in overview and "Oldest pending wake-up" in overview


def test_answer_an_input_through_its_form(serve, runtime, worker):  # type: ignore[no-untyped-def]
    web = serve(create_app(runtime))
    handle = dc.start(DashReview.name, {})
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=handle.id), 20)
    page = web.get("/inputs").text
    assert "Approve the refund?" in page and f"/inputs/{handle.id}/details" in page
    form = {"csrf": csrf_of(page), "f.amount": "many", "f.note": "n"}

    # A value the field's type refuses is reported; the input stays open.
    refused = web.post(f"/inputs/{handle.id}/details", data=form)
    assert "field &#39;amount&#39; takes a whole number" in refused.text
    assert dc.list_pending_inputs(execution_id=handle.id)

    answered = web.post(f"/inputs/{handle.id}/details", data={**form, "f.amount": "7"})
    assert "input &#39;details&#39; answered" in answered.text
    assert handle.result(timeout=20) == {"amount": 7, "note": "n", "rush": False}
    again = web.post(f"/inputs/{handle.id}/details", data={**form, "f.amount": "8"})
    assert "cannot provide input &#39;details&#39; to execution" in again.text


def test_schedules_pause_resume_trigger(serve, runtime):  # type: ignore[no-untyped-def]
    key = f"dash-{uuid.uuid4().hex[:8]}"
    queue = f"dash-{uuid.uuid4().hex[:8]}"
    dc.schedule(key, DashAwaitsEvent.name, "0 3 * * *", queue=queue)
    try:
        web = serve(create_app(runtime))
        page = web.get("/schedules").text
        assert key in page and f"/schedules/{key}/pause" in page
        csrf = csrf_of(page)
        web.post(f"/schedules/{key}/pause", data={"csrf": csrf})
        assert dc.get_schedule(key).status == "paused"
        web.post(f"/schedules/{key}/resume", data={"csrf": csrf})
        assert dc.get_schedule(key).status == "active"
        fired = web.post(f"/schedules/{key}/trigger", data={"csrf": csrf}).text
        found = re.search(
            rf"schedule &#39;{key}&#39; triggered: execution ([0-9a-f-]{{36}})", fired
        )
        assert found, fired
        started = dc.get_execution(found.group(1), include_steps=False)
        assert started.schedule_key == key
        dc.cancel(started.id)
    finally:
        dc.delete_schedule(key)


def test_metrics(serve, runtime):  # type: ignore[no-untyped-def]
    answer = serve(create_app(runtime)).get("/metrics")
    assert answer.status_code == 200 and "# HELP" in answer.text


def test_public_bind_without_token_refuses_to_start():
    env = {**os.environ, "DURABLE_DASHBOARD_TOKEN": ""}
    command = [sys.executable, "-m", "durable_celery.cli", "dashboard", "--host", "0.0.0.0"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "refusing to bind the dashboard to '0.0.0.0' without a token" in done.stderr


def test_mounted_in_a_wsgi_app_under_a_prefix(runtime, parked):  # type: ignore[no-untyped-def]
    """As Flask's or Django's WSGI side mounts it: the prefix in SCRIPT_NAME, links and
    actions under it, CSRF still required."""
    from durable_celery.dashboard import create_wsgi_app

    _, ids, _ = parked
    dashboard = create_wsgi_app(runtime)

    def site(environ, start_response):  # type: ignore[no-untyped-def]
        path = environ["PATH_INFO"]
        if path == "/durable" or path.startswith("/durable/"):
            environ = {**environ, "SCRIPT_NAME": "/durable", "PATH_INFO": path[len("/durable") :]}
            return dashboard(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"the site's own page"]

    transport = httpx.WSGITransport(app=site)
    with httpx.Client(transport=transport, base_url="http://site.test") as web:
        one = web.get(f"/durable/executions/{ids[0]}")
        assert one.status_code == 200
        assert 'href="/durable/static/dashboard.css"' in one.text
        refused = web.post(f"/durable/executions/{ids[0]}/cancel", data={})
        assert refused.status_code == 403
        done = web.post(f"/durable/executions/{ids[0]}/cancel", data={"csrf": csrf_of(one.text)})
        assert done.status_code == 303
        assert done.headers["location"].startswith(f"/durable/executions/{ids[0]}?")
    assert dc.get_execution(ids[0], include_steps=False).status == "cancelled"
