"""The client: start, steer and read executions from any process (web apps, scripts, the
CLI). It works through `durable_celery.store` and the runtime's broker, never through
the engine."""

from durable_celery.client.bulk import cancel_many, retry_many
from durable_celery.client.cleanup import cleanup
from durable_celery.client.control import cancel, retry
from durable_celery.client.handle import ExecutionHandle
from durable_celery.client.query import (
    Overview,
    count_executions,
    get_execution,
    list_executions,
    overview,
    throughput,
)
from durable_celery.client.retention import RetentionRun, apply_retention
from durable_celery.client.signals import (
    list_pending_events,
    list_pending_inputs,
    provide_input,
    publish_event,
    send_event,
)
from durable_celery.client.start import start, start_execution, start_many, start_task
from durable_celery.client.workflows import (
    ScheduleInfo,
    VersionInfo,
    WorkflowInfo,
    list_workflows,
    workflow_versions,
)

__all__ = [
    "ExecutionHandle",
    "Overview",
    "RetentionRun",
    "ScheduleInfo",
    "VersionInfo",
    "WorkflowInfo",
    "apply_retention",
    "cancel",
    "cancel_many",
    "cleanup",
    "count_executions",
    "get_execution",
    "list_executions",
    "list_pending_events",
    "list_pending_inputs",
    "list_workflows",
    "overview",
    "provide_input",
    "publish_event",
    "retry",
    "retry_many",
    "send_event",
    "start",
    "start_execution",
    "start_many",
    "start_task",
    "throughput",
    "workflow_versions",
]
