"""What happens after a step: pure decisions, no I/O.

The step loop asks these functions where to go next and what a failure means, and
applies the answer with one checkpoint. Keeping them pure lets the policy (retries,
decisions, sagas, poison steps) be tested without a database.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from durable_celery.dsl import END, Retry, StepKind, StepSpec, Workflow
from durable_celery.errors import (
    DecisionError,
    FanoutFailed,
    NonDeterministicStep,
    StepLimitExceeded,
    WaitTimeout,
    qualified_name,
)
from durable_celery.states import ExecutionStatus

# Attempts abandoned by dead workers (stale recovery) beyond a step's retry budget before
# the execution fails: a step that kills its worker every time must not loop forever.
MAX_ABANDONED_ATTEMPTS = 3

# Failures that would happen again however often the step ran: never retried.
_NOT_RETRYABLE = (FanoutFailed, DecisionError, StepLimitExceeded, WaitTimeout, NonDeterministicStep)


@dataclass(frozen=True)
class RetryLater:
    """Release the execution; the step runs again after `delay`."""

    delay: timedelta


@dataclass(frozen=True)
class Fail:
    """End the execution as `status` (failed, or compensation_failed in a saga)."""

    status: ExecutionStatus


@dataclass(frozen=True)
class Compensate:
    """Start the saga: run these undo steps, in this order, under the same claim."""

    steps: tuple[str, ...]


def retry_delay(spec: StepSpec, exc: BaseException, attempt: int) -> timedelta | None:
    """The wait before the next attempt when attempt number `attempt` of `spec` failed
    with `exc`, or None when the failure is final."""
    if not isinstance(exc, Exception) or isinstance(exc, _NOT_RETRYABLE):
        return None
    policy: Retry = spec.retry
    if not policy.should_retry(exc, attempt):
        return None
    return policy.delay_after(attempt)


def after_failure(
    workflow: type[Workflow],
    spec: StepSpec,
    exc: BaseException,
    attempt: int,
    *,
    compensating: bool,
    completed: Sequence[str],
) -> RetryLater | Fail | Compensate:
    """A failed attempt: retry it later, or end the execution, or (a forward step that
    failed for good after steps with compensations completed) start the saga.
    `completed`: the step runs completed so far, in order."""
    delay = retry_delay(spec, exc, attempt)
    if delay is not None:
        return RetryLater(delay)
    if compensating or spec.kind is StepKind.COMPENSATION:
        return Fail(ExecutionStatus.COMPENSATION_FAILED)
    plan = compensation_plan(workflow, completed)
    return Compensate(plan) if plan else Fail(ExecutionStatus.FAILED)


def compensation_plan(workflow: type[Workflow], completed: Sequence[str]) -> tuple[str, ...]:
    """The undo steps of the completed steps, newest first (a step completed twice in a
    loop is compensated twice)."""
    plan = []
    for name in reversed(completed):
        spec = workflow.step_spec(name)
        if spec is not None and spec.compensate:
            plan.append(spec.compensate)
    return tuple(plan)


def next_step(
    workflow: type[Workflow],
    spec: StepSpec,
    output: Any,
    step_runs: int,
    compensations: Sequence[str] | None,
) -> str | None:
    """The step to run after `spec` completed with `output`, or None: the execution ends.
    `step_runs` counts the runs before this one; `compensations` are the undo steps still
    to run (None outside a saga)."""
    if step_runs + 1 >= workflow.max_step_runs:
        raise StepLimitExceeded(
            f"workflow {workflow.name!r} ran {step_runs + 1} steps, the limit set by "
            f"max_step_runs={workflow.max_step_runs}; a decision probably loops forever"
        )
    if spec.kind is StepKind.COMPENSATION:
        return compensations[0] if compensations else None
    if spec.only_routes and isinstance(output, str) and output == END:
        return None
    if spec.kind is StepKind.DECISION and output is not None:
        if not isinstance(output, str) or not workflow.has_step(output):
            raise DecisionError(
                f"decision {spec.name!r} of workflow {workflow.name!r} returned {output!r}, "
                f"which is not a step; allowed: {', '.join(workflow.step_names())} or None "
                f"(or END to end the workflow)"
            )
        return output
    if spec.kind is StepKind.BRANCH and output is not None:
        cases = workflow.branch_layout(spec.name).cases
        if not isinstance(output, str) or output not in cases:
            raise DecisionError(
                f"branch {spec.name!r} of workflow {workflow.name!r} returned {output!r}, "
                f"which is not one of its cases; allowed: {', '.join(cases)} or None "
                f"(or END to end the workflow)"
            )
        return cases[output][0]
    return workflow.step_after(spec.name)


def result_after_routing(
    workflow: type[Workflow], completed: Sequence[str], results: Mapping[str, Any]
) -> Any:
    """The result of an execution that ends on a decision or a branch (END, or nothing
    after it): those only route, so it is the output of the most recent completed step
    that is neither (None when there is none). `completed`: the step runs completed
    before, in order; `results`: the latest output of each step."""
    for name in reversed(completed):
        spec = workflow.step_spec(name)
        if spec is None or not (spec.only_routes or spec.kind is StepKind.COMPENSATION):
            return results.get(name)
    return None


def abandoned_too_often(spec: StepSpec, attempt: int) -> StepLimitExceeded | None:
    """A step started more times than its retry budget allows, plus the abandoned attempts
    of dead workers: the error that fails the execution, else None."""
    if attempt <= spec.retry.max_attempts + MAX_ABANDONED_ATTEMPTS:
        return None
    return StepLimitExceeded(
        f"step {spec.name!r} was started {attempt} times without finishing: its worker "
        f"died each time (killed, out of memory?); giving up"
    )


def describe_error(
    exc: BaseException, step: str | None = None, attempt: int | None = None
) -> dict[str, Any]:
    """The recorded form of an error: type, message, traceback, and where it happened."""
    error: dict[str, Any] = {
        "type": qualified_name(type(exc)),
        "message": _describe(lambda: str(exc), exc),
        "traceback": _describe(lambda: "".join(traceback.format_exception(exc)), exc),
    }
    if step is not None:
        error["step"] = step
        error["attempt"] = attempt
    return error


def _describe(render: Callable[[], str], exc: BaseException) -> str:
    """The text `render` makes of an exception, or a stand-in when the exception's own
    `__str__` raises: describing an error must never fail."""
    try:
        return render()
    except Exception as broken:
        return f"<{qualified_name(type(exc))}: describing it raised {qualified_name(type(broken))}>"
