"""Checks of a workflow's steps taken together (each step checks itself): compensations
name undo steps, and decisions return steps that exist."""

from __future__ import annotations

from durable_celery.dsl.routing import Fail, literal_targets
from durable_celery.dsl.steps import StepKind, StepSpec


def check_compensations(
    forward: dict[str, StepSpec], undo: dict[str, StepSpec], fail: Fail
) -> None:
    for spec in forward.values():
        if spec.compensate is None:
            continue
        if spec.compensate in forward:
            raise fail(
                f"step {spec.name!r} names compensate={spec.compensate!r}, a regular step; "
                f"declare the undo step with @compensation so it only runs on failure"
            )
        if spec.compensate not in undo:
            raise fail(
                f"step {spec.name!r} names compensate={spec.compensate!r}, which is not a "
                f"step of this workflow (compensations: {', '.join(undo) or 'none'})"
            )
        if spec.kind is StepKind.DECISION:
            raise fail(f"decision {spec.name!r} cannot have a compensation")


def check_decision_targets(forward: dict[str, StepSpec], fail: Fail) -> None:
    for spec in forward.values():
        if spec.kind is not StepKind.DECISION:
            continue
        for target in literal_targets(spec.fn):
            if target not in forward:
                raise fail(
                    f"decision {spec.name!r} can return {target!r}, which is not a step "
                    f"(steps: {', '.join(forward)})"
                )
