"""The workflow DSL: `Workflow`, `@step`, `@decision`, `@each`, and the registry by name.

Options are recorded by the decorators and validated when the workflow class is
defined, so a mistake fails at import time with the workflow and step named.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, overload

from durable_celery.errors import UnknownWorkflow, WorkflowDefinitionError
from durable_celery.retry import NO_RETRY, Retry
from durable_celery.time import Duration, to_timedelta

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from durable_celery.handle import ExecutionHandle

StepKind = Literal["step", "decision", "each", "parallel", "compensation"]
FANOUT_KINDS = ("each", "parallel")
OnError = Literal["fail_fast", "continue"]
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_QUEUE = "default"
DEFAULT_MAX_STEP_RUNS = 10_000


@dataclass(frozen=True)
class StepSpec:
    """One step of a workflow as declared. Calling it calls the step function."""

    fn: Callable[..., Any]
    kind: StepKind = "step"
    retry: Any = NO_RETRY
    timeout: Any = None
    queue: Any = None
    compensate: Any = None
    items: Any = None
    concurrency: Any = None
    on_error: Any = "fail_fast"
    branches: tuple[Callable[..., Any], ...] = ()
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.fn.__name__

    @property
    def is_fanout(self) -> bool:
        return self.kind in FANOUT_KINDS

    def branch(self, name: str) -> Callable[..., Any]:
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
        if self.kind == "parallel":
            spec = self._validated_branches(attribute, fail)
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
            except Exception as exc:
                raise fail(str(exc)) from None
            if timeout <= timedelta(0):
                raise fail(f"timeout must be positive, got {timeout}")
        if spec.queue is not None and (not isinstance(spec.queue, str) or not spec.queue):
            raise fail(f"queue must be a non-empty string, got {spec.queue!r}")
        if spec.compensate is not None and not isinstance(spec.compensate, str):
            raise fail(f"compensate must be the name of a step, got {spec.compensate!r}")
        if spec.is_fanout:
            if spec.kind == "each" and not callable(spec.items):
                raise fail(f"items must be a callable taking ctx, got {spec.items!r}")
            concurrency = spec.concurrency
            if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
                raise fail(f"concurrency must be an int >= 1, got {concurrency!r}")
            if spec.on_error not in ("fail_fast", "continue"):
                raise fail(f"on_error must be 'fail_fast' or 'continue', got {spec.on_error!r}")
        if spec.kind != "parallel":
            arity = 2 if spec.kind == "each" else 1
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
        return StepSpec(function, "step", retry, timeout, queue, compensate)

    return wrap(fn) if fn is not None else wrap


def decision(fn: Callable[..., Any]) -> StepSpec:
    """Declare a decision: it returns the name of the next step, or None to go on in order."""
    return StepSpec(fn, "decision")


def compensation(fn: Callable[..., Any]) -> StepSpec:
    """Declare an undo step. It runs only when the execution fails, for each completed step
    that names it with `@step(compensate="...")`, newest first."""
    return StepSpec(fn, "compensation")


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
            function, "each", retry, timeout, queue, compensate, items, concurrency, on_error
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
        "parallel",
        retry,
        timeout,
        queue,
        compensate,
        None,
        concurrency,
        on_error,
        tuple(branches),
    )


def _literal_targets(fn: Callable[..., Any]) -> list[str]:
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


_registry: dict[str, type[Workflow]] = {}


class Workflow:
    """Base class of durable workflows. Subclass it and declare steps with `@step`."""

    name: ClassVar[str]
    queue: ClassVar[str] = DEFAULT_QUEUE
    timeout: ClassVar[Duration | None] = None
    max_step_runs: ClassVar[int] = DEFAULT_MAX_STEP_RUNS

    __steps__: ClassVar[tuple[StepSpec, ...]] = ()
    __step_index__: ClassVar[dict[str, int]] = {}
    __compensations__: ClassVar[dict[str, StepSpec]] = {}
    __timeout__: ClassVar[timedelta | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = f"{cls.__module__}.{cls.__qualname__}"
        name = cls.name
        if not isinstance(name, str) or not name.strip():
            raise WorkflowDefinitionError(
                f"workflow class {cls.__qualname__}: name must be a non-empty string, got {name!r}"
            )

        def fail(problem: str) -> WorkflowDefinitionError:
            return WorkflowDefinitionError(f"workflow {name!r}: {problem}")

        if not isinstance(cls.queue, str) or not cls.queue:
            raise fail(f"queue must be a non-empty string, got {cls.queue!r}")
        if cls.timeout is not None:
            try:
                cls.__timeout__ = to_timedelta(cls.timeout, "timeout")
            except Exception as exc:
                raise fail(str(exc)) from None
            if cls.__timeout__ <= timedelta(0):
                raise fail(f"timeout must be positive, got {cls.__timeout__}")
        else:
            cls.__timeout__ = None
        runs = cls.max_step_runs
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
            raise fail(f"max_step_runs must be an int >= 1, got {runs!r}")

        steps: dict[str, StepSpec] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                if isinstance(value, StepSpec):
                    steps[attribute] = value.validated(name, attribute)
        forward = {key: spec for key, spec in steps.items() if spec.kind != "compensation"}
        undo = {key: spec for key, spec in steps.items() if spec.kind == "compensation"}
        if not forward:
            raise fail("declares no steps; decorate at least one function with @step")
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
            if spec.kind == "decision":
                raise fail(f"decision {spec.name!r} cannot have a compensation")
        for spec in forward.values():
            if spec.kind != "decision":
                continue
            for target in _literal_targets(spec.fn):
                if target not in forward:
                    raise fail(
                        f"decision {spec.name!r} can return {target!r}, which is not a step "
                        f"(steps: {', '.join(forward)})"
                    )
        cls.__steps__ = tuple(forward.values())
        cls.__step_index__ = {spec.name: index for index, spec in enumerate(cls.__steps__)}
        cls.__compensations__ = undo
        _register(cls)

    @classmethod
    def step_spec(cls, name: str) -> StepSpec | None:
        index = cls.__step_index__.get(name)
        if index is not None:
            return cls.__steps__[index]
        return cls.__compensations__.get(name)

    @classmethod
    def start_durable(
        cls,
        input: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: Duration | None = None,
        run_at: Any = None,
        idempotency_key: str | None = None,
        session: Session | Connection | None = None,
    ) -> ExecutionHandle:
        """Persist a new execution of this workflow and wake a worker for it."""
        from durable_celery.starting import start_execution

        return start_execution(
            cls,
            input,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            idempotency_key=idempotency_key,
            session=session,
        )

    @classmethod
    def step_names(cls) -> list[str]:
        return [spec.name for spec in cls.__steps__]


def _register(cls: type[Workflow]) -> None:
    existing = _registry.get(cls.name)
    same_class = existing is not None and (
        existing.__module__ == cls.__module__ and existing.__qualname__ == cls.__qualname__
    )
    if existing is not None and not same_class:
        raise WorkflowDefinitionError(
            f"workflow name {cls.name!r} is already registered by "
            f"{existing.__module__}.{existing.__qualname__}; "
            f"cannot register {cls.__module__}.{cls.__qualname__} under the same name"
        )
    # Re-running the same class definition (module reload) replaces it.
    _registry[cls.name] = cls


def get_workflow(name: str) -> type[Workflow]:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownWorkflow(name, list(_registry)) from None


def registered_workflows() -> dict[str, type[Workflow]]:
    return dict(_registry)
