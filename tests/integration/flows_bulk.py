"""Workflows for the bulk-control tests (tests/integration/test_bulk_control.py). Only the
test's own worker imports this module (DURABLE_WORKFLOW_MODULES in its environment)."""

from __future__ import annotations

from durable_celery import StepContext, Workflow, step
from tests.integration.flows import count_run, side_effects


def broken_key(batch: str) -> str:
    return f"bulk:broken:{batch}"


class FailsUntilFixed(Workflow):
    """Its second step fails while the switch of its batch (`input["batch"]`) is on: a
    whole batch fails, then resumes once the switch is off."""

    name = "tests.bulk.fails_until_fixed"

    @step
    def first(ctx: StepContext) -> str:
        count_run(ctx)
        return "done once"

    @step
    def second(ctx: StepContext) -> str:
        count_run(ctx)
        if side_effects().get(broken_key(ctx.input["batch"])):
            raise RuntimeError("dependency down")
        return "recovered"
