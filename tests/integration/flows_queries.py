"""Workflows for the tests of queries, cleanup and the command line
(tests/integration/test_queries_and_cli.py); the test workers import this module."""

from __future__ import annotations

from typing import Any

from durable_celery import StepContext, Workflow, step


class Echo(Workflow):
    """Returns its input: what `durable-celery start` starts in the tests."""

    name = "tests.queries.echo"

    @step
    def echo(ctx: StepContext) -> dict[str, Any]:
        return dict(ctx.input)


class Idle(Workflow):
    """Started on queues nobody consumes, so its executions stay pending where a test
    put them."""

    name = "tests.queries.idle"

    @step
    def only(ctx: StepContext) -> None:
        return None


class Fails(Workflow):
    name = "tests.queries.fails"

    @step
    def boom(ctx: StepContext) -> None:
        raise ValueError("planned failure")


class Versioned(Workflow):
    name = "tests.queries.versioned"
    version = 3
    queue = "other"

    @step
    def receive(ctx: StepContext) -> None:
        return None

    @step
    def check(ctx: StepContext) -> None:
        return None

    @step
    def store(ctx: StepContext) -> None:
        return None
