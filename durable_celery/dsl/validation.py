"""Checking a step's declaration when its workflow class is defined,
so that a mistake fails at import time with the workflow and the step named."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from durable_celery.checks import check_queue
from durable_celery.dsl.flow import RateLimit
from durable_celery.dsl.retry import Retry
from durable_celery.dsl.steps import StepKind, StepSpec
from durable_celery.errors import InvalidOption, WorkflowDefinitionError
from durable_celery.time import to_timedelta

Fail = Callable[[str], WorkflowDefinitionError]


def validate(spec: StepSpec, workflow: str, attribute: str) -> StepSpec:
    """Check every option; return a copy with normalised values."""

    def fail(problem: str) -> WorkflowDefinitionError:
        return WorkflowDefinitionError(f"workflow {workflow!r}, step {attribute!r}: {problem}")

    if attribute.startswith("_"):
        raise fail("step names must not start with an underscore")
    if spec.case_of is not None:
        _check_case(spec, fail)
    if spec.kind is StepKind.PARALLEL:
        spec = _validated_branches(spec, attribute, fail)
    elif spec.named_by_attribute:
        spec = replace(spec, label=attribute)
    else:
        if attribute != spec.name:
            raise fail(f"is bound to attribute {attribute!r} but its function is {spec.name!r}")
    if not isinstance(spec.retry, Retry):
        raise fail(f"retry must be a Retry(...), got {spec.retry!r}")
    timeout: timedelta | None = None
    if spec.timeout is not None:
        try:
            timeout = to_timedelta(spec.timeout, "timeout")
        except InvalidOption as exc:
            raise fail(str(exc)) from None
        if timeout <= timedelta(0):
            raise fail(f"timeout must be positive, got {timeout}")
    if spec.queue is not None:
        try:
            check_queue(spec.queue)
        except InvalidOption as exc:
            raise fail(str(exc)) from None
    if spec.rate_limit is not None and not isinstance(spec.rate_limit, RateLimit):
        raise fail(f"rate_limit must be a RateLimit('N/s|m|h', key=...), got {spec.rate_limit!r}")
    if not spec.is_fanout and spec.concurrency is not None and spec.step_limit is None:
        raise fail(
            f"concurrency must be a Concurrency(limit=..., key=...), "
            f"got {type(spec.concurrency).__name__}"
        )
    if spec.compensate is not None and not isinstance(spec.compensate, str):
        raise fail(f"compensate must be the name of a step, got {spec.compensate!r}")
    if spec.is_fanout:
        if spec.kind is StepKind.EACH:
            if not callable(spec.items):
                raise fail(f"items must be a callable taking ctx, got {spec.items!r}")
            check_function_kind(spec.items, "items", fail)
        concurrency = spec.concurrency
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise fail(f"concurrency must be an int >= 1, got {concurrency!r}")
        if spec.on_error not in ("fail_fast", "continue"):
            raise fail(f"on_error must be 'fail_fast' or 'continue', got {spec.on_error!r}")
    if spec.kind is not StepKind.PARALLEL:
        check_function_kind(spec.fn, "the function", fail)
        arity = 2 if spec.kind is StepKind.EACH else 1
        try:
            inspect.signature(spec.fn).bind(*range(arity))
        except TypeError:
            wanted = "(ctx, item)" if arity == 2 else "(ctx)"
            raise fail(f"the function must accept {wanted}") from None
    return replace(spec, timeout=timeout)


def check_function_kind(function: Any, what: str, fail: Fail) -> None:
    """A step runs a plain function or an `async def` that returns its output. A generator
    of either kind would hand the engine an iterator it cannot store, so it is refused."""
    if inspect.isasyncgenfunction(function):
        raise fail(
            f"{what} is an async generator function (async def with yield); use a plain "
            f"function or an async def that returns its output"
        )
    if inspect.isgeneratorfunction(function):
        raise fail(
            f"{what} is a generator function (def with yield); use a plain function or an "
            f"async def that returns its output"
        )


def _check_case(spec: StepSpec, fail: Fail) -> None:
    assert spec.case_of is not None
    owner, case = spec.case_of
    if not isinstance(case, str) or not case or case.startswith("_"):
        raise fail(
            f"case names must be non-empty strings not starting with an underscore, got {case!r}"
        )
    if spec.kind is StepKind.BRANCH:
        raise fail(
            f"is a @branch inside case {case!r} of branch {owner!r}; nested branches are "
            f"not supported: choose after the join, or with a @decision"
        )
    if spec.kind is not StepKind.STEP:
        raise fail(
            f"is a {spec.kind}; a case step is a plain function decorated with "
            f'@{owner}.case("{case}", ...) only'
        )


def _validated_branches(spec: StepSpec, attribute: str, fail: Fail) -> StepSpec:
    if not spec.branches:
        raise fail("parallel(...) needs at least one branch function")
    names = []
    for function in spec.branches:
        branch_name = getattr(function, "__name__", "")
        if not callable(function) or not branch_name or branch_name == "<lambda>":
            raise fail(f"parallel branches must be named functions, got {function!r}")
        check_function_kind(function, f"branch {branch_name!r}", fail)
        try:
            inspect.signature(function).bind(None)
        except TypeError:
            raise fail(f"branch {branch_name!r} must accept (ctx)") from None
        names.append(branch_name)
    if len(set(names)) != len(names):
        raise fail(f"parallel branch names must be distinct, got {names}")
    concurrency = len(names) if spec.concurrency is None else spec.concurrency
    validated = replace(spec, label=attribute, fn=spec.branches[0], concurrency=concurrency)
    if not isinstance(spec.queue, Mapping):
        return validated
    routed = []
    for branch_name, queue in spec.queue.items():
        if branch_name not in names:
            raise fail(
                f"queue names branch {branch_name!r}, which is not a branch of this step "
                f"(branches: {', '.join(names)})"
            )
        try:
            routed.append((branch_name, check_queue(queue, f"queue of branch {branch_name!r}")))
        except InvalidOption as exc:
            raise fail(str(exc)) from None
    # Branches not named keep the step's default routing (the execution's queue).
    return replace(validated, queue=None, branch_queues=tuple(routed))
