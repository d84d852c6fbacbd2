"""Workflows for the tests of flows_dsl (imported by the workers of the integration tests):
END, @branch, per-step log capture, retried decisions and per-branch queues."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from celery import current_task

from durable_celery import Retry, StepContext, Workflow, decision, parallel, step
from durable_celery.dsl import END, branch
from tests.integration.flows import count_run
from tests.integration.flows_control import Flaky, runs

QUICK_RETRY = Retry(max_attempts=3, backoff="constant", base=0.2, jitter=False)


class EndsEarly(Workflow):
    name = "tests.dsl.ends_early"

    @step
    def price(ctx: StepContext) -> dict[str, Any]:
        return {"total": ctx.input["total"]}

    @decision
    def route(ctx: StepContext) -> str | None:
        return END if ctx.input["total"] == 0 else None

    @step
    def charge(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        return {"charged": ctx.input["total"]}

    @decision
    def audit(ctx: StepContext) -> str | None:
        return None


class Fulfil(Workflow):
    name = "tests.dsl.fulfil"

    @step
    def validate(ctx: StepContext) -> dict[str, Any]:
        return {"kind": ctx.input["kind"]}

    @branch
    def by_kind(ctx: StepContext) -> str | None:
        kind = ctx.input["kind"]
        if kind == "gift":
            return "digital"
        if kind == "void":
            return END
        return None if kind == "none" else kind

    @by_kind.case("digital")
    def email_link(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        return {"emailed": True}

    @by_kind.case("physical")
    def reserve(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        return {"reserved": True}

    @by_kind.case("physical", retry=QUICK_RETRY)
    def ship(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        if runs(ctx) == 1:
            raise Flaky("the carrier did not answer")
        return {"shipped": True}

    @step
    def notify(ctx: StepContext) -> dict[str, Any]:
        return {"seen": sorted(ctx.results)}

    @decision
    def reship(ctx: StepContext) -> str | None:
        if ctx.input.get("reship") and not ctx.get("reshipped"):
            ctx.put("reshipped", True)
            return "ship"
        return None


class FlakyRouting(Workflow):
    name = "tests.dsl.flaky_routing"

    @step
    def start(ctx: StepContext) -> str:
        return "started"

    @decision(retry=QUICK_RETRY)
    def choose(ctx: StepContext) -> str | None:
        count_run(ctx)
        if runs(ctx) < 3:
            raise Flaky(f"decision attempt {ctx.attempt} failed")
        return "pick"

    @step
    def skipped(ctx: StepContext) -> str:
        count_run(ctx)
        return "never"

    @branch(retry=QUICK_RETRY)
    def pick(ctx: StepContext) -> str:
        count_run(ctx)
        if runs(ctx) < 2:
            raise Flaky(f"branch attempt {ctx.attempt} failed")
        return "only"

    @pick.case("only")
    def done(ctx: StepContext) -> dict[str, int]:
        return {"choose": runs(ctx, "choose"), "pick": runs(ctx, "pick")}


class Chatty(Workflow):
    name = "tests.dsl.chatty"

    @step
    def talk(ctx: StepContext) -> str:
        token = ctx.input["token"]
        print(f"printed {token}")
        print(f"to stderr {token}", file=sys.stderr)
        logging.getLogger("tests.dsl.library").warning("library says %s", token)
        ctx.logger.warning("ctx says %s", token)
        other = threading.Thread(
            target=lambda: logging.getLogger("tests.dsl.library").warning("thread %s", token)
        )
        other.start()
        other.join()
        sys.stdout.write(f"no newline {token}")
        return "talked"

    @step
    def flood(ctx: StepContext) -> str:
        for line in range(ctx.input.get("lines", 0)):
            print(f"line {line} " + "x" * 50)
        return "flooded"

    @step
    def fail_loudly(ctx: StepContext) -> None:
        if ctx.input.get("fail"):
            print(f"about to fail {ctx.input['token']}")
            raise ValueError("loud failure")


def where_default(ctx: StepContext) -> str:
    return str(current_task.request.hostname)


def where_routed(ctx: StepContext) -> str:
    return str(current_task.request.hostname)


ROUTED_QUEUE = "dsl-branch"


class RoutedChecks(Workflow):
    name = "tests.dsl.routed_checks"

    checks = parallel(where_default, where_routed, queue={"where_routed": ROUTED_QUEUE})
