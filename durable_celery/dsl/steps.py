"""Step declarations: `@step`, `@decision`, `@each`, `parallel(...)`, `@compensation`.

The decorators only record options; `StepSpec.validated` checks them when the workflow
class is defined, so a mistake fails at import time with the workflow and step named.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal, TypeVar, overload

from durable_celery.checks import check_queue
from durable_celery.dsl.retry import NO_RETRY, Retry
from durable_celery.errors import InvalidOption, InvalidPayload, WorkflowDefinitionError
from durable_celery.time import Duration, to_timedelta


class StepKind(StrEnum):
    STEP = "step"
    DECISION = "decision"
    EACH = "each"  # one unit of work per item
    PARALLEL = "parallel"  # one unit of work per branch
    COMPENSATION = "compensation"  # a saga's undo step, outside the forward order


FANOUT_KINDS = frozenset({StepKind.EACH, StepKind.PARALLEL})
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

    @property
    def name(self) -> str:
        return self.label or self.fn.__name__

    @property
    def is_fanout(self) -> bool:
        return self.kind in FANOUT_KINDS

    # --- the units of work of an each/parallel step ------------------------------------

    def work_items(self, ctx: Any) -> list[Any]:
        """What the step fans out: its items (each), or its branch names (parallel)."""
        if self.kind is StepKind.PARALLEL:
            return [function.__name__ for function in self.branches]
        produced = self.items(ctx)
        if isinstance(produced, (str, bytes, dict)) or not isinstance(produced, Iterable):
            raise InvalidPayload(
                f"items of step {self.name!r} must be a list (or other iterable) of JSON "
                f"values, got {type(produced).__name__}"
            )
        return list(produced)

    def run_item(self, ctx: Any, item: Any) -> Any:
        """Run one unit of work: the function on an item, or the branch it names."""
        if self.kind is StepKind.PARALLEL:
            return self._branch(item)(ctx)
        return self.fn(ctx, item)

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

    def validated(self, workflow: str, attribute: str) -> StepSpec:
        """Check every option; return a copy with normalised values."""

        def fail(problem: str) -> WorkflowDefinitionError:
            return WorkflowDefinitionError(f"workflow {workflow!r}, step {attribute!r}: {problem}")

        if attribute.startswith("_"):
            raise fail("step names must not start with an underscore")
        if self.kind is StepKind.PARALLEL:
            spec = self._validated_branches(attribute, fail)
        elif self.named_by_attribute:
            spec = replace(self, label=attribute)
        else:
            if attribute != self.name:
                raise fail(f"is bound to attribute {attribute!r} but its function is {self.name!r}")
            spec = self
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
        if spec.compensate is not None and not isinstance(spec.compensate, str):
            raise fail(f"compensate must be the name of a step, got {spec.compensate!r}")
        if spec.is_fanout:
            if spec.kind is StepKind.EACH and not callable(spec.items):
                raise fail(f"items must be a callable taking ctx, got {spec.items!r}")
            concurrency = spec.concurrency
            if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
                raise fail(f"concurrency must be an int >= 1, got {concurrency!r}")
            if spec.on_error not in ("fail_fast", "continue"):
                raise fail(f"on_error must be 'fail_fast' or 'continue', got {spec.on_error!r}")
        if spec.kind is not StepKind.PARALLEL:
            arity = 2 if spec.kind is StepKind.EACH else 1
            try:
                inspect.signature(spec.fn).bind(*range(arity))
            except TypeError:
                wanted = "(ctx, item)" if arity == 2 else "(ctx)"
                raise fail(f"the function must accept {wanted}") from None
        return replace(spec, timeout=timeout)

    def _validated_branches(
        self, attribute: str, fail: Callable[[str], WorkflowDefinitionError]
    ) -> StepSpec:
        if not self.branches:
            raise fail("parallel(...) needs at least one branch function")
        names = []
        for function in self.branches:
            branch_name = getattr(function, "__name__", "")
            if not callable(function) or not branch_name or branch_name == "<lambda>":
                raise fail(f"parallel branches must be named functions, got {function!r}")
            try:
                inspect.signature(function).bind(None)
            except TypeError:
                raise fail(f"branch {branch_name!r} must accept (ctx)") from None
            names.append(branch_name)
        if len(set(names)) != len(names):
            raise fail(f"parallel branch names must be distinct, got {names}")
        concurrency = len(names) if self.concurrency is None else self.concurrency
        return replace(self, label=attribute, fn=self.branches[0], concurrency=concurrency)


@overload
def step(fn: F, /) -> StepSpec: ...
@overload
def step(
    *,
    retry: Retry = ...,
    timeout: Duration | None = ...,
    queue: str | None = ...,
    compensate: str | None = ...,
) -> Callable[[F], StepSpec]: ...
def step(
    fn: Callable[..., Any] | None = None,
    *,
    retry: Retry = NO_RETRY,
    timeout: Duration | None = None,
    queue: str | None = None,
    compensate: str | None = None,
) -> StepSpec | Callable[[Callable[..., Any]], StepSpec]:
    """Declare a step. Steps run in the order they appear in the class body."""

    def wrap(function: Callable[..., Any]) -> StepSpec:
        return StepSpec(function, StepKind.STEP, retry, timeout, queue, compensate)

    return wrap(fn) if fn is not None else wrap


def decision(fn: Callable[..., Any]) -> StepSpec:
    """Declare a decision: it returns the name of the next step, or None to go on in order."""
    return StepSpec(fn, StepKind.DECISION)


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
    queue: str | None = None,
    concurrency: int | None = None,
    compensate: str | None = None,
) -> StepSpec:
    """Declare a step whose branches (functions taking ctx) run at the same time, each as
    its own unit of work. Its output maps each branch's function name to its output.

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


def literal_targets(fn: Callable[..., Any]) -> list[str]:
    """String constants a decision function returns, where its source can be read."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return []
    function = next((node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)), None)
    if function is None:
        return []
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Return) and child.value is not None:
                values = [child.value]
                if isinstance(child.value, ast.IfExp):
                    values = [child.value.body, child.value.orelse]
                found.extend(
                    value.value
                    for value in values
                    if isinstance(value, ast.Constant) and isinstance(value.value, str)
                )
            visit(child)

    visit(function)
    return found
