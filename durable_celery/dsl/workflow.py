"""`Workflow`: the base class of durable workflows, and the registry of workflows by name
and version.

Options are validated when a subclass is defined, so a mistake fails at import time
with the workflow and step named. Starting an execution is the client's job: the client
registers itself as the `Starter` that `Workflow.start_durable` hands over to, so this
module stays free of storage and Celery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from durable_celery.checks import check_queue
from durable_celery.dsl.declaration import check_compensations, check_decision_targets
from durable_celery.dsl.flow import Concurrency
from durable_celery.dsl.routing import BranchLayout, layout_branches
from durable_celery.dsl.schedules import ScheduleSpec, declared_schedules
from durable_celery.dsl.steps import StepKind, StepSpec
from durable_celery.dsl.validation import validate
from durable_celery.errors import (
    InvalidOption,
    UnknownWorkflow,
    UnknownWorkflowVersion,
    WorkflowDefinitionError,
)
from durable_celery.states import ExecutionStatus
from durable_celery.time import Duration, to_timedelta

DEFAULT_MAX_STEP_RUNS = 10_000
# Class attributes that configure a workflow: no step may take their names.
_OPTIONS = ("name", "queue", "timeout", "max_step_runs", "version", "schedule", "concurrency")


class ExecutionRef(Protocol):
    """What starting returns (a `durable_celery.ExecutionHandle`)."""

    @property
    def id(self) -> str: ...

    def status(self) -> ExecutionStatus: ...

    def result(self, timeout: float | None = 30, poll_interval: float = 0.05) -> Any: ...

    def execution(self, include_steps: bool = True) -> Any: ...


class Starter(Protocol):
    """Persists a new execution and wakes a worker for it (the client provides it)."""

    def __call__(
        self,
        workflow: type[Workflow],
        input: Mapping[str, Any] | None,
        *,
        queue: str | None,
        priority: int,
        delay: Duration | None,
        run_at: datetime | None,
        idempotency_key: str | None,
        debounce: Duration | None,
        debounce_key: str | None,
        debounce_max: Duration | None,
        session: Any,
    ) -> ExecutionRef: ...


class BulkStarter(Protocol):
    """Persists many executions of one workflow at once (the client provides it)."""

    def __call__(
        self,
        workflow: type[Workflow],
        inputs: Iterable[Mapping[str, Any] | None],
        *,
        queue: str | None,
        priority: int,
        delay: Duration | None,
        run_at: datetime | None,
        idempotency_keys: Sequence[str | None] | None,
        debounce: Duration | None,
        debounce_key: str | None,
        session: Any,
    ) -> list[ExecutionRef]: ...


_starter: Starter | None = None
_bulk_starter: BulkStarter | None = None


def use_starter(starter: Starter, bulk: BulkStarter | None = None) -> None:
    global _starter, _bulk_starter
    _starter = starter
    _bulk_starter = bulk


class Workflow:
    """Base class of durable workflows. Subclass it and declare steps with `@step`."""

    name: ClassVar[str]
    # None: the app's routing decides (task_routes for "durable:<name>", else the app's
    # task_default_queue), like for any Celery task.
    queue: ClassVar[str | None] = None
    timeout: ClassVar[Duration | None] = None
    max_step_runs: ClassVar[int] = DEFAULT_MAX_STEP_RUNS
    # An execution runs on the version it started with: bump it for a change that running
    # executions must not see, and keep the old class registered until they drain.
    version: ClassVar[int] = 1
    # Cron(...), Every(...) or a list of them: started by the poller at each fire time.
    schedule: ClassVar[Any] = None
    # Concurrency(limit, key=...): at most `limit` executions with one key run at once.
    concurrency: ClassVar[Concurrency | None] = None

    __steps__: ClassVar[tuple[StepSpec, ...]] = ()
    __step_index__: ClassVar[dict[str, int]] = {}
    __compensations__: ClassVar[dict[str, StepSpec]] = {}
    __branches__: ClassVar[dict[str, BranchLayout]] = {}
    __timeout__: ClassVar[timedelta | None] = None
    __schedules__: ClassVar[tuple[ScheduleSpec, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for option in _OPTIONS:
            if isinstance(cls.__dict__.get(option), StepSpec):
                raise WorkflowDefinitionError(
                    f"workflow class {cls.__qualname__}: a step cannot be named {option!r}, "
                    f"the name of a workflow option ({', '.join(_OPTIONS)}); rename the step"
                )
        if "name" not in cls.__dict__:
            cls.name = f"{cls.__module__}.{cls.__qualname__}"
        name = cls.name
        if not isinstance(name, str) or not name.strip():
            raise WorkflowDefinitionError(
                f"workflow class {cls.__qualname__}: name must be a non-empty string, got {name!r}"
            )

        def fail(problem: str) -> WorkflowDefinitionError:
            return WorkflowDefinitionError(f"workflow {name!r}: {problem}")

        if cls.queue is not None:
            try:
                check_queue(cls.queue)
            except InvalidOption as exc:
                raise fail(str(exc)) from None
        cls.__timeout__ = None
        if cls.timeout is not None:
            try:
                cls.__timeout__ = to_timedelta(cls.timeout, "timeout")
            except InvalidOption as exc:
                raise fail(str(exc)) from None
            if cls.__timeout__ <= timedelta(0):
                raise fail(f"timeout must be positive, got {cls.__timeout__}")
        version = cls.version
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise fail(
                f"version must be an int >= 1 (executions are pinned to it), got {version!r}"
            )
        if cls.concurrency is not None and not isinstance(cls.concurrency, Concurrency):
            raise fail(
                f"concurrency must be a Concurrency(limit=..., key=...), "
                f"got {type(cls.concurrency).__name__}"
            )
        runs = cls.max_step_runs
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
            raise fail(f"max_step_runs must be an int >= 1, got {runs!r}")

        steps: dict[str, StepSpec] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                if isinstance(value, StepSpec):
                    steps[attribute] = validate(value, name, attribute)
        forward = {k: spec for k, spec in steps.items() if spec.kind is not StepKind.COMPENSATION}
        undo = {k: spec for k, spec in steps.items() if spec.kind is StepKind.COMPENSATION}
        if not forward:
            raise fail("declares no steps; decorate at least one function with @step")
        check_compensations(forward, undo, fail)
        check_decision_targets(forward, fail)
        cls.__branches__ = layout_branches(forward, fail)
        cls.__steps__ = tuple(forward.values())
        cls.__step_index__ = {spec.name: index for index, spec in enumerate(cls.__steps__)}
        cls.__compensations__ = undo
        # Declared on this class only: a subclass does not inherit its parent's fire times.
        cls.__schedules__ = declared_schedules(name, cls.__dict__.get("schedule"))
        _register(cls)

    # --- what the engine and the client read ---------------------------------------

    @classmethod
    def step_spec(cls, name: str) -> StepSpec | None:
        """A forward step or a compensation, by name; None when there is none (any more)."""
        index = cls.__step_index__.get(name)
        if index is not None:
            return cls.__steps__[index]
        return cls.__compensations__.get(name)

    @classmethod
    def has_step(cls, name: str) -> bool:
        """Whether `name` is a forward step (what a decision may return)."""
        return name in cls.__step_index__

    @classmethod
    def step_names(cls) -> list[str]:
        return [spec.name for spec in cls.__steps__]

    @classmethod
    def first_step(cls) -> str:
        return cls.__steps__[0].name

    @classmethod
    def step_after(cls, name: str) -> str | None:
        """The forward step that follows `name`, or None after the last: the next in
        class-body order, except that a case step goes on with the next step of its case,
        then to its branch's join, and a branch that chose no case goes to its join."""
        spec = cls.__steps__[cls.__step_index__[name]]
        if spec.case_of is not None:
            layout = cls.__branches__[spec.case_of[0]]
            steps = layout.cases[spec.case_of[1]]
            position = steps.index(name) + 1
            return steps[position] if position < len(steps) else layout.join
        if spec.kind is StepKind.BRANCH:
            return cls.__branches__[name].join
        index = cls.__step_index__[name] + 1
        return cls.__steps__[index].name if index < len(cls.__steps__) else None

    @classmethod
    def branch_layout(cls, name: str) -> BranchLayout:
        """The cases and the join of branch `name`."""
        return cls.__branches__[name]

    @classmethod
    def route_name(cls) -> str:
        """The name the app's task_routes see for this workflow's wake-ups."""
        return f"durable:{cls.name}"

    @classmethod
    def concurrency_slot(cls, input: Mapping[str, Any]) -> tuple[str, int] | None:
        """The concurrency key of an execution started with `input`, and its limit; None
        for a workflow without a limit."""
        if cls.concurrency is None:
            return None
        return cls.concurrency.slot_key(cls.name, input), cls.concurrency.limit

    @classmethod
    def timeout_delta(cls) -> timedelta | None:
        """The workflow `timeout`, normalised."""
        return cls.__timeout__

    @classmethod
    def start_durable(
        cls,
        input: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: Duration | None = None,
        run_at: datetime | None = None,
        idempotency_key: str | None = None,
        debounce: Duration | None = None,
        debounce_key: str | None = None,
        debounce_max: Duration | None = None,
        session: Any = None,
    ) -> ExecutionRef:
        """Persist a new execution of this workflow and wake a worker for it. `session`: a
        SQLAlchemy Session or Connection whose transaction the start joins. `debounce`
        (with `debounce_key`, optionally capped by `debounce_max`): starts with one key
        collapse into one pending execution, run `debounce` after the last one, with
        its input."""
        # The client registers itself when durable_celery is imported, which importing
        # any of its modules does.
        assert _starter is not None
        return _starter(
            cls,
            input,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            idempotency_key=idempotency_key,
            debounce=debounce,
            debounce_key=debounce_key,
            debounce_max=debounce_max,
            session=session,
        )

    @classmethod
    def start_many(
        cls,
        inputs: Iterable[Mapping[str, Any] | None],
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: Duration | None = None,
        run_at: datetime | None = None,
        idempotency_keys: Sequence[str | None] | None = None,
        debounce: Duration | None = None,
        debounce_key: str | None = None,
        session: Any = None,
    ) -> list[ExecutionRef]:
        """Start one execution per input, with one INSERT per thousand and one batch of
        wake-ups: a producer of thousands of executions does not pay a round trip each.
        `idempotency_keys`, if given, has one key (or None) per input. Debounce is
        refused (InvalidOption): a window keeps one input, so start each with `start`."""
        assert _bulk_starter is not None
        return _bulk_starter(
            cls,
            inputs,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            idempotency_keys=idempotency_keys,
            debounce=debounce,
            debounce_key=debounce_key,
            session=session,
        )


# name -> version -> class.
_registry: dict[str, dict[int, type[Workflow]]] = {}
# Builders of workflows that are not declared as classes (the one-step workflow of a
# Celery task, built when a worker first meets it): name -> workflow, or None.
_resolvers: list[Callable[[str], type[Workflow] | None]] = []


def add_resolver(resolver: Callable[[str], type[Workflow] | None]) -> None:
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def _register(cls: type[Workflow]) -> None:
    versions = _registry.get(cls.name, {})
    for spec in cls.__schedules__:
        owner = _schedule_owner(spec.key, cls.name)
        if owner is not None:
            raise WorkflowDefinitionError(
                f"workflow {cls.name!r}: schedule key {spec.key!r} is already declared by "
                f"workflow {owner!r}; schedule keys are unique across workflows"
            )
    existing = versions.get(cls.version)
    same_class = existing is not None and (
        existing.__module__ == cls.__module__ and existing.__qualname__ == cls.__qualname__
    )
    if existing is not None and not same_class:
        raise WorkflowDefinitionError(
            f"workflow name {cls.name!r} version {cls.version} is already registered by "
            f"{existing.__module__}.{existing.__qualname__}; cannot register "
            f"{cls.__module__}.{cls.__qualname__} under the same name and version (a "
            f"changed workflow whose old executions still run takes version = "
            f"{max(versions) + 1})"
        )
    # Re-running the same class definition (module reload) replaces it.
    _registry[cls.name] = {**versions, cls.version: cls}


def _schedule_owner(key: str, other_than: str) -> str | None:
    for name, workflow in registered_workflows().items():
        if name != other_than and any(spec.key == key for spec in workflow.__schedules__):
            return name
    return None


def get_workflow(name: str, version: int | None = None) -> type[Workflow]:
    """The workflow registered as `name`: its newest version, or exactly `version`
    (UnknownWorkflowVersion, naming the versions there are, when it is not registered)."""
    versions = _registry.get(name)
    if versions is None:
        for resolver in _resolvers:
            found = resolver(name)
            if found is not None:
                versions = {found.version: found}
                break
    if versions is None:
        raise UnknownWorkflow(name, list(_registry))
    if version is None:
        return versions[max(versions)]
    found = versions.get(version)
    if found is None:
        raise UnknownWorkflowVersion(name, version, sorted(versions))
    return found


def registered_workflows() -> dict[str, type[Workflow]]:
    """Each registered name's newest version."""
    return {name: versions[max(versions)] for name, versions in _registry.items()}


def registered_versions() -> dict[str, dict[int, type[Workflow]]]:
    """Every registered version of every name: name -> version -> class."""
    return {name: dict(sorted(versions.items())) for name, versions in _registry.items()}
