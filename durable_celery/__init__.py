"""durable-celery: durable, resumable workflows for Celery, with PostgreSQL as the state.

Public API, grouped:

- defining: Workflow, step, decision, each, Retry (durations in durable_celery.time)
- starting and reading: start, get_execution, list_executions, ExecutionHandle,
  Execution, StepRecord
- Celery: install (the bundled app is `durable_celery.celery.app`)
- errors: DurableError and its branches
"""

from durable_celery.context import StepContext
from durable_celery.definition import Workflow, decision, each, get_workflow, step
from durable_celery.errors import (
    ConfigurationError,
    DurableError,
    ExecutionNotFound,
    InvalidExecutionId,
    InvalidOption,
    InvalidPayload,
    LockLost,
    PayloadTooLarge,
    ResultTimeout,
    UnknownWorkflow,
    WorkflowCancelled,
    WorkflowDefinitionError,
    WorkflowFailed,
    WorkflowTimedOut,
)
from durable_celery.handle import ExecutionHandle
from durable_celery.query import get_execution, list_executions
from durable_celery.records import Execution, StepRecord
from durable_celery.retry import Retry
from durable_celery.runtime import install
from durable_celery.starting import start

__all__ = [
    "ConfigurationError",
    "DurableError",
    "Execution",
    "ExecutionHandle",
    "ExecutionNotFound",
    "InvalidExecutionId",
    "InvalidOption",
    "InvalidPayload",
    "LockLost",
    "PayloadTooLarge",
    "ResultTimeout",
    "Retry",
    "StepContext",
    "StepRecord",
    "UnknownWorkflow",
    "Workflow",
    "WorkflowCancelled",
    "WorkflowDefinitionError",
    "WorkflowFailed",
    "WorkflowTimedOut",
    "decision",
    "each",
    "get_execution",
    "get_workflow",
    "install",
    "list_executions",
    "start",
    "step",
]
