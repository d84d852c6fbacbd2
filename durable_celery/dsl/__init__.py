"""The workflow DSL: pure definitions, no storage and no Celery.

`Workflow` and its step decorators (`END` ends a workflow from a decision or a branch),
`Retry`, and `StepContext` (the `ctx` of a step; `AsyncStepContext` for an `async def` one).
"""

from durable_celery.dsl.async_context import AsyncStepContext
from durable_celery.dsl.context import NO_VALUE, ChildService, StepContext, WaitService
from durable_celery.dsl.flow import Concurrency, KeyContext, RateLimit
from durable_celery.dsl.retry import NO_RETRY, Retry
from durable_celery.dsl.routing import END, BranchLayout
from durable_celery.dsl.steps import (
    StepKind,
    StepSpec,
    branch,
    compensation,
    decision,
    each,
    parallel,
    step,
)
from durable_celery.dsl.tasks import resolve_task_workflow, retry_of, task_step, task_workflow
from durable_celery.dsl.workflow import (
    ExecutionRef,
    Starter,
    Workflow,
    add_resolver,
    get_workflow,
    registered_versions,
    registered_workflows,
    use_starter,
)

__all__ = [
    "END",
    "NO_RETRY",
    "NO_VALUE",
    "AsyncStepContext",
    "BranchLayout",
    "ChildService",
    "Concurrency",
    "ExecutionRef",
    "KeyContext",
    "RateLimit",
    "Retry",
    "Starter",
    "StepContext",
    "StepKind",
    "StepSpec",
    "WaitService",
    "Workflow",
    "add_resolver",
    "branch",
    "compensation",
    "decision",
    "each",
    "get_workflow",
    "parallel",
    "registered_versions",
    "registered_workflows",
    "resolve_task_workflow",
    "retry_of",
    "step",
    "task_step",
    "task_workflow",
    "use_starter",
]
