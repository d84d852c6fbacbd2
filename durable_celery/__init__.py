"""durable-celery: durable, resumable workflows for Celery, with PostgreSQL as the state.

Public API, grouped:

- defining: Workflow, step, decision, each, parallel, compensation, task_step, Retry,
  StepContext (durations in durable_celery.time)
- starting, reading and steering: start, get_execution, list_executions, cancel, retry,
  ExecutionHandle, Execution, StepRecord, ExecutionStatus, StepStatus
- signals: send_event, provide_input, list_pending_inputs, PendingInput
- Celery: install (the bundled app is `durable_celery.celery.app`); after it, every task
  of the app has `start_durable` / `apply_durable`; signals in durable_celery.signals
- errors: DurableError and its branches
"""

from durable_celery.client import (
    ExecutionHandle,
    cancel,
    get_execution,
    list_executions,
    list_pending_inputs,
    provide_input,
    retry,
    send_event,
    start,
)
from durable_celery.dsl import (
    Retry,
    StepContext,
    Workflow,
    compensation,
    decision,
    each,
    get_workflow,
    parallel,
    step,
    task_step,
)
from durable_celery.errors import (
    ChildWorkflowFailed,
    ConfigurationError,
    DecisionError,
    DurableError,
    EventBufferFull,
    ExecutionNotFound,
    ExecutionStateError,
    FanoutFailed,
    InputNotRequested,
    InvalidExecutionId,
    InvalidOption,
    InvalidPayload,
    LockLost,
    NonDeterministicStep,
    PayloadTooLarge,
    RecordingFailed,
    ResultTimeout,
    SchemaNotReady,
    StepLimitExceeded,
    StepTimeout,
    UnknownWorkflow,
    WaitTimeout,
    WorkflowCancelled,
    WorkflowDefinitionError,
    WorkflowFailed,
    WorkflowTimedOut,
)
from durable_celery.states import ExecutionStatus, StepStatus
from durable_celery.store.records import Execution, PendingInput, StepRecord
from durable_celery.tasks import install

__all__ = [
    "ChildWorkflowFailed",
    "ConfigurationError",
    "DecisionError",
    "DurableError",
    "EventBufferFull",
    "Execution",
    "ExecutionHandle",
    "ExecutionNotFound",
    "ExecutionStateError",
    "ExecutionStatus",
    "FanoutFailed",
    "InputNotRequested",
    "InvalidExecutionId",
    "InvalidOption",
    "InvalidPayload",
    "LockLost",
    "NonDeterministicStep",
    "PayloadTooLarge",
    "PendingInput",
    "RecordingFailed",
    "ResultTimeout",
    "Retry",
    "SchemaNotReady",
    "StepContext",
    "StepLimitExceeded",
    "StepRecord",
    "StepStatus",
    "StepTimeout",
    "UnknownWorkflow",
    "WaitTimeout",
    "Workflow",
    "WorkflowCancelled",
    "WorkflowDefinitionError",
    "WorkflowFailed",
    "WorkflowTimedOut",
    "cancel",
    "compensation",
    "decision",
    "each",
    "get_execution",
    "get_workflow",
    "install",
    "list_executions",
    "list_pending_inputs",
    "parallel",
    "provide_input",
    "retry",
    "send_event",
    "start",
    "step",
    "task_step",
]
