"""Steering executions: cancel and retry. Each call is one transaction on the execution's
locked row; wake-ups are published after it commits."""

from __future__ import annotations

from durable_celery.checks import check_text
from durable_celery.dsl import get_workflow
from durable_celery.errors import ExecutionStateError, cancellation_record
from durable_celery.ids import parse_execution_id
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.states import ExecutionStatus
from durable_celery.store import control
from durable_celery.store.connections import transaction

RETRYABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT})


def cancel(
    execution_id: str, reason: str | None = None, *, runtime: Runtime | None = None
) -> ExecutionStatus:
    """Cancel an execution and its children. Pending and waiting executions stop at once;
    a running one finishes its current step and stops at that boundary. Returns the
    status it was left in ('cancelled', or 'running' until the boundary is reached)."""
    execution_id = parse_execution_id(execution_id)
    if reason is not None:
        check_text(reason, "reason")
    runtime = runtime or current_runtime()
    with transaction(runtime.database) as conn:
        row = control.lock_execution(conn, execution_id)
        if row.status.finished:
            raise ExecutionStateError(execution_id, row.status, "cancel")
        wakeups = control.stop_executions(
            conn,
            [execution_id],
            ExecutionStatus.CANCELLED,
            cancellation_record(reason),
            include_running=False,
        )
    runtime.publish(wakeups)
    if row.status is ExecutionStatus.RUNNING:
        return ExecutionStatus.RUNNING
    return ExecutionStatus.CANCELLED


def retry(execution_id: str, *, runtime: Runtime | None = None) -> None:
    """Resume a failed (or timed-out) execution from the step it failed in. Completed
    steps keep their recorded outputs and do not run again; the failed step gets a fresh
    attempt budget, and a timed-out execution a fresh deadline."""
    execution_id = parse_execution_id(execution_id)
    runtime = runtime or current_runtime()
    runtime.import_workflows()
    with transaction(runtime.database) as conn:
        row = control.lock_execution(conn, execution_id)
        if row.status not in RETRYABLE:
            raise ExecutionStateError(execution_id, row.status, "retry")
        # Its own version's timeout; a version gone from this process is refused here
        # (UnknownWorkflowVersion) rather than failed again by a worker.
        workflow = get_workflow(row.workflow, row.version)
        wakeup = control.resume_failed(conn, execution_id, workflow.timeout_delta())
    runtime.publish([wakeup])
