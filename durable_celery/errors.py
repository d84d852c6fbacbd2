"""The exception tree. Every error this library raises on purpose is a DurableError."""

from __future__ import annotations

from typing import Any

from durable_celery.states import ExecutionStatus


class DurableError(Exception):
    """Root of every error raised by durable_celery."""


class ConfigurationError(DurableError):
    """A setting is missing or has a value that cannot work."""


class WorkflowDefinitionError(DurableError):
    """A workflow class or one of its steps is declared wrongly."""


class InvalidPayload(DurableError, ValueError):
    """An input, output, event or context value cannot be stored as JSON."""


class PayloadTooLarge(InvalidPayload):
    """A payload is larger than `durable_max_payload_bytes`."""


class InvalidExecutionId(DurableError, ValueError):
    """The execution id is not a UUID."""


class ExecutionNotFound(DurableError, LookupError):
    """No execution has that id."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(f"no execution with id {execution_id}")


class ScheduleNotFound(DurableError, LookupError):
    """No schedule has that key."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no schedule with key {key!r}")


class InvalidOption(DurableError, ValueError):
    """A call was given an option value that cannot work (negative delay, naive datetime...)."""


class UnknownWorkflow(InvalidOption, LookupError):
    """No workflow is registered under that name (bad input, like any unknown option)."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listing = ", ".join(sorted(known)) or "none"
        super().__init__(f"no workflow is registered as {name!r} (registered: {listing})")


class UnknownWorkflowVersion(UnknownWorkflow):
    """The workflow is registered, but not the version an execution is pinned to."""

    def __init__(self, name: str, version: int, versions: list[int]) -> None:
        self.name = name
        self.known = [name]
        self.version = version
        self.versions = versions
        listing = ", ".join(str(v) for v in versions)
        # Skip UnknownWorkflow's message, which would say the name is unknown.
        InvalidOption.__init__(
            self,
            f"workflow {name!r} has no version {version} registered in this worker "
            f"(registered: {listing}); deploy the code of version {version} again until "
            f"its executions drain, or cancel them",
        )


class WorkflowFailed(DurableError):
    """The execution ended as failed; `error` holds the recorded type, message and traceback."""

    def __init__(
        self,
        execution_id: str,
        error: dict[str, Any] | None,
        status: ExecutionStatus = ExecutionStatus.FAILED,
    ) -> None:
        self.execution_id = execution_id
        self.error = error or {}
        self.status = status
        kind = self.error.get("type", "error")
        message = self.error.get("message", "")
        step = self.error.get("step")
        where = f" in step {step!r}" if step else ""
        saga = f" ({status})" if status != ExecutionStatus.FAILED else ""
        super().__init__(f"execution {execution_id} failed{where}{saga}: {kind}: {message}")


class WorkflowCancelled(DurableError):
    """The execution was cancelled before it finished."""

    def __init__(self, execution_id: str, reason: str | None = None) -> None:
        self.execution_id = execution_id
        self.reason = reason
        super().__init__(
            f"execution {execution_id} was cancelled" + (f": {reason}" if reason else "")
        )


class WorkflowTimedOut(DurableError):
    """The execution passed its workflow deadline."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(f"execution {execution_id} timed out")


class ResultTimeout(DurableError, TimeoutError):
    """`handle.result(timeout=...)` gave up waiting; the execution goes on."""


class SchemaNotReady(DurableError):
    """The database has no durable-celery tables, or older ones: run the migrations."""


class DatabaseUnavailable(DurableError):
    """The connection to PostgreSQL died under a statement (a restart, the network)."""


class LockLost(DurableError):
    """This worker no longer holds the claim: another worker or a control call took it."""


class ExecutionStateError(DurableError):
    """The call does not apply to the execution in its current status (cancel a finished
    execution, retry one that did not fail, ...)."""

    def __init__(self, execution_id: str, status: ExecutionStatus, action: str) -> None:
        self.execution_id = execution_id
        self.status = status
        super().__init__(f"cannot {action} execution {execution_id}: it is {status}")


class StepTimeout(DurableError):
    """A step attempt ran longer than its `timeout`; it counts as a failed attempt."""


class DecisionError(DurableError):
    """A decision returned something that is not a step of its workflow."""


class StepLimitExceeded(DurableError):
    """The execution ran more steps than the workflow's max_step_runs."""


class FanoutFailed(DurableError):
    """An item of an each/parallel step failed (after its retries) with on_error="fail_fast"."""

    def __init__(self, step: str, index: int, error: dict[str, Any]) -> None:
        self.step = step
        self.index = index
        self.error = error
        super().__init__(
            f"item {index} of step {step!r} failed: {error.get('type')}: {error.get('message')}"
        )


class ChildWorkflowFailed(DurableError):
    """A child workflow awaited with `ctx.run_child` ended without completing."""

    def __init__(
        self, execution_id: str, status: ExecutionStatus, error: dict[str, Any] | None
    ) -> None:
        self.execution_id = execution_id
        self.status = status
        self.error = error or {}
        detail = f": {self.error.get('type')}: {self.error.get('message')}" if error else ""
        super().__init__(f"child execution {execution_id} ended {status}{detail}")


class WaitTimeout(DurableError):
    """A wait reached its timeout and no `timeout_value` was given. Raised inside the step;
    it is not retried (the recorded wait would time out again)."""


class NonDeterministicStep(DurableError):
    """A step reached its waits in a different order than when they were recorded."""


class EventBufferFull(DurableError):
    """`send_event` found `durable_max_buffered_events` events already waiting, unconsumed,
    for that execution: it is not reaching its waits."""


class RecordingFailed(DurableError):
    """What a step produced could not be recorded, even sanitised; the execution failed
    with this error instead of staying claimed by a worker that cannot write."""


class InputNotRequested(DurableError):
    """`provide_input` named an input the execution is not asking for."""

    def __init__(self, execution_id: str, name: str, open_names: list[str]) -> None:
        self.execution_id = execution_id
        self.name = name
        self.open_names = open_names
        asking = ", ".join(repr(n) for n in open_names) or "nothing"
        super().__init__(
            f"execution {execution_id} is not waiting for input {name!r} (it asks for {asking})"
        )


def qualified_name(kind: type[BaseException]) -> str:
    """The `type` recorded for an error: `ValueError`, `myapp.errors.Declined`."""
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def cancellation_record(reason: str | None) -> dict[str, Any]:
    """The error stored on a cancelled execution; `handle.result()` raises WorkflowCancelled
    with its message as the reason."""
    return {"type": qualified_name(WorkflowCancelled), "message": reason or "cancelled"}


def deadline_record() -> dict[str, Any]:
    """The error stored on an execution that passed its workflow deadline."""
    return {"type": qualified_name(WorkflowTimedOut), "message": "the workflow deadline passed"}
