"""The exception tree. Every error this library raises on purpose is a DurableError."""

from __future__ import annotations

from typing import Any


class DurableError(Exception):
    """Root of every error raised by durable_celery."""


class ConfigurationError(DurableError):
    """A setting is missing or has a value that cannot work."""


class WorkflowDefinitionError(DurableError):
    """A workflow class or one of its steps is declared wrongly."""


class UnknownWorkflow(DurableError, LookupError):
    """No workflow is registered under that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listing = ", ".join(sorted(known)) or "none"
        super().__init__(f"no workflow is registered as {name!r} (registered: {listing})")


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


class InvalidOption(DurableError, ValueError):
    """A call was given an option value that cannot work (negative delay, naive datetime...)."""


class WorkflowFailed(DurableError):
    """The execution ended as failed; `error` holds the recorded type, message and traceback."""

    def __init__(self, execution_id: str, error: dict[str, Any] | None) -> None:
        self.execution_id = execution_id
        self.error = error or {}
        kind = self.error.get("type", "error")
        message = self.error.get("message", "")
        step = self.error.get("step")
        where = f" in step {step!r}" if step else ""
        super().__init__(f"execution {execution_id} failed{where}: {kind}: {message}")


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


class LockLost(DurableError):
    """This worker no longer holds the claim: another worker or a control call took it."""
