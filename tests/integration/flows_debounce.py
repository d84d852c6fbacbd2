"""Workflows of the debounce tests; the worker subprocesses import this module."""

from __future__ import annotations

from typing import Any

from durable_celery import StepContext, Workflow, step
from tests.integration.flows import count_run


class Debounced(Workflow):
    name = "tests.debounced"

    @step
    def collect(ctx: StepContext) -> dict[str, Any]:
        count_run(ctx)
        return dict(ctx.input)


class DebouncedWithTimeout(Workflow):
    name = "tests.debounced_timeout"
    timeout = 1

    @step
    def collect(ctx: StepContext) -> dict[str, Any]:
        return dict(ctx.input)
