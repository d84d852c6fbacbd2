"""Step declarations: `@step`, `@decision`, `@branch` and its cases, `@each`,
`parallel(...)`, `@compensation`.

The decorators only record options; `dsl.validation` checks them when the workflow
class is defined, so a mistake fails at import time with the workflow and step named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal, TypeVar, overload

from durable_celery.dsl.flow import Concurrency, RateLimit
from durable_celery.dsl.retry import NO_RETRY, Retry
from durable_celery.errors import InvalidPayload
from durable_celery.time import Duration


class StepKind(StrEnum):
    STEP = "step"
    DECISION = "decision"
    BRANCH = "branch"  # picks one of its named cases, then joins after them
    EACH = "each"  # one unit of work per item
    PARALLEL = "parallel"  # one unit of work per branch
    COMPENSATION = "compensation"  # a saga's undo step, outside the forward order


FANOUT_KINDS = frozenset({StepKind.EACH, StepKind.PARALLEL})
# Steps that only choose where to go: their output is not the workflow's result.
ROUTING_KINDS = frozenset({StepKind.DECISION, StepKind.BRANCH})
OnError = Literal["fail_fast", "continue"]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class StepSpec:
    """One step of a workflow as declared. Calling it calls the step function."""

    fn: Callable[..., Any]
    kind: StepKind = StepKind.STEP
    retry: Any = NO_RETRY
    timeout: Any = None
    queue: Any = None
    compensate: Any = None
    items: Any = None
    concurrency: Any = None
    on_error: Any = "fail_fast"
    branches: tuple[Callable[..., Any], ...] = ()
    label: str | None = None
    # Named by the class attribute it is bound to, not by its function (task_step).
    named_by_attribute: bool = False
    # A case step: (the name of its branch, the case's name).
    case_of: tuple[str, str] | None = None
    # parallel(queue={branch: queue}): where each named branch's unit of work goes.
    branch_queues: tuple[tuple[str, str], ...] = ()
    # RateLimit(...) of a @step: at most N starts per period for one key.
    rate_limit: Any = None

    @property
    def name(self) -> str:
        return self.label or self.fn.__name__

    @property
    def step_limit(self) -> Concurrency | None:
        """@step(concurrency=Concurrency(...)): at most `limit` attempts with one key run
        at once (a fan-out's `concurrency` is its number of items in flight instead)."""
        return self.concurrency if isinstance(self.concurrency, Concurrency) else None

    @property
    def is_fanout(self) -> bool:
        return self.kind in FANOUT_KINDS

    @property
    def only_routes(self) -> bool:
        """A decision or a branch: it chooses the next step and produces no result."""
        return self.kind in ROUTING_KINDS

    def case(
        self,
        name: str,
        *,
        retry: Retry = NO_RETRY,
        timeout: Duration | None = None,
        queue: str | None = None,
        compensate: str | None = None,
    ) -> Callable[[Callable[..., Any]], StepSpec]:
        """Declare a step of case `name` of this branch (`@by_kind.case("digital")`); it
        takes the options of `@step`. A case's steps run in class order, then the join."""

        def wrap(function: Callable[..., Any]) -> StepSpec:
            if isinstance(function, StepSpec):
                # A declared step handed in (a nested @branch, a @decision) keeps its
                # kind, so that the class check can name the mistake.
                return replace(function, case_of=(self.name, name))
            return StepSpec(
                function,
                StepKind.STEP,
                retry,
                timeout,
                queue,
                compensate,
                case_of=(self.name, name),
            )

        return wrap

    def queue_of(self, item: Any) -> str | None:
        """The queue of one unit of work: its branch's own (parallel), else the step's."""
        routed = dict(self.branch_queues)
        default: str | None = self.queue
        return routed.get(item, default) if isinstance(item, str) else default

    # --- the units of work of an each/parallel step ------------------------------------

    def work_items(self, ctx: Any, call: Callable[..., Any] | None = None) -> list[Any]:
        """What the step fans out: its items (each), or its branch names (parallel).
        `call(function, ctx)` runs the items callable (the engine's, for an async one)."""
        if self.kind is StepKind.PARALLEL:
            return [function.__name__ for function in self.branches]
        produced = self.items(ctx) if call is None else call(self.items, ctx)
        if isinstance(produced, (str, bytes, dict)) or not isinstance(produced, Iterable):
            raise InvalidPayload(
                f"items of step {self.name!r} must be a list (or other iterable) of JSON "
                f"values, got {type(produced).__name__}"
            )
        return list(produced)

    def item_call(self, item: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """One unit of work: the function to call with ctx, and its arguments after ctx
        (the function and the item, or the branch the item names)."""
        if self.kind is StepKind.PARALLEL:
            return self._branch(item), ()
        return self.fn, (item,)

    def gather(self, outputs: list[Any]) -> Any:
        """The step's output from its items' outputs, in item order: the list (each), or a
        mapping of branch name to output (parallel)."""
        if self.kind is StepKind.PARALLEL:
            return {
                function.__name__: output
                for function, output in zip(self.branches, outputs, strict=True)
            }
        return outputs

    def _branch(self, name: str) -> Callable[..., Any]:
        for function in self.branches:
            if function.__name__ == name:
                return function
        raise KeyError(name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


@overload
def step(fn: F, /) -> StepSpec: ...
@overload
def step(
    *,
    retry: Retry = ...,
    timeout: Duration | None = ...,
    queue: str | None = ...,
    compensate: str | None = ...,
    concurrency: Concurrency | None = ...,
    rate_limit: RateLimit | None = ...,
) -> Callable[[F], StepSpec]: ...
def step(
    fn: Callable[..., Any] | None = None,
    *,
    retry: Retry = NO_RETRY,
    timeout: Duration | None = None,
    queue: str | None = None,
    compensate: str | None = None,
    concurrency: Concurrency | None = None,
    rate_limit: RateLimit | None = None,
) -> StepSpec | Callable[[Callable[..., Any]], StepSpec]:
    """Declare a step. Steps run in the order they appear in the class body."""

    def wrap(function: Callable[..., Any]) -> StepSpec:
        return StepSpec(
            function,
            StepKind.STEP,
            retry,
            timeout,
            queue,
            compensate,
            concurrency=concurrency,
            rate_limit=rate_limit,
        )

    return wrap(fn) if fn is not None else wrap


@overload
def decision(fn: F, /) -> StepSpec: ...
@overload
def decision(*, retry: Retry = ...) -> Callable[[F], StepSpec]: ...
def decision(
    fn: Callable[..., Any] | None = None, *, retry: Retry = NO_RETRY
) -> StepSpec | Callable[[Callable[..., Any]], StepSpec]:
    """Declare a decision: it returns the name of the next step, None to go on in order,
    or END to end the workflow. `retry` applies when it raises."""

    def wrap(function: Callable[..., Any]) -> StepSpec:
        return StepSpec(function, StepKind.DECISION, retry)

    return wrap(fn) if fn is not None else wrap


@overload
def branch(fn: F, /) -> StepSpec: ...
@overload
def branch(*, retry: Retry = ...) -> Callable[[F], StepSpec]: ...
def branch(
    fn: Callable[..., Any] | None = None, *, retry: Retry = NO_RETRY
) -> StepSpec | Callable[[Callable[..., Any]], StepSpec]:
    """Declare a branch: it returns the name of one of its cases (declared right after it
    with `@<branch>.case("name")`), None to skip them all, or END to end the workflow. The
    chosen case's steps run, then the step after the cases (the join)."""

    def wrap(function: Callable[..., Any]) -> StepSpec:
        if isinstance(function, StepSpec):
            # `@branch` over `@other.case(...)`: the case is kept, so that the class check
            # refuses the nesting by name.
            return StepSpec(function.fn, StepKind.BRANCH, retry, case_of=function.case_of)
        return StepSpec(function, StepKind.BRANCH, retry)

    return wrap(fn) if fn is not None else wrap


def compensation(fn: Callable[..., Any]) -> StepSpec:
    """Declare an undo step. It runs only when the execution fails, for each completed step
    that names it with `@step(compensate="...")`, newest first."""
    return StepSpec(fn, StepKind.COMPENSATION)


def each(
    *,
    items: Callable[[Any], Any],
    concurrency: int = 10,
    on_error: OnError = "fail_fast",
    retry: Retry = NO_RETRY,
    timeout: Duration | None = None,
    queue: str | None = None,
    compensate: str | None = None,
) -> Callable[[Callable[..., Any]], StepSpec]:
    """Declare a step that runs its function once per item, each item as its own unit of
    work dispatched through Celery. Its output is the list of item outputs, in item order."""

    def wrap(function: Callable[..., Any]) -> StepSpec:
        return StepSpec(
            function,
            StepKind.EACH,
            retry,
            timeout,
            queue,
            compensate,
            items,
            concurrency,
            on_error,
        )

    return wrap


def parallel(
    *branches: Callable[..., Any],
    on_error: OnError = "fail_fast",
    retry: Retry = NO_RETRY,
    timeout: Duration | None = None,
    queue: str | Mapping[str, str] | None = None,
    concurrency: int | None = None,
    compensate: str | None = None,
) -> StepSpec:
    """Declare a step whose branches (functions taking ctx) run at the same time, each as
    its own unit of work. Its output maps each branch's function name to its output.
    `queue`: one queue for every branch, or {branch function name: queue} (branches not
    named go where the execution's wake-ups go).

        checks = parallel(credit_check, fraud_check, on_error="continue")
    """
    return StepSpec(
        branches[0] if branches else (lambda ctx: None),
        StepKind.PARALLEL,
        retry,
        timeout,
        queue,
        compensate,
        None,
        concurrency,
        on_error,
        tuple(branches),
    )
