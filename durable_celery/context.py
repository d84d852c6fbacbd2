"""`ctx`: what a step function sees of its execution."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from durable_celery.errors import DurableError, InvalidPayload

if TYPE_CHECKING:
    from durable_celery.definition import Workflow


class ChildStarter(Protocol):
    """What the executor gives a context so that steps can start child workflows."""

    def start_child(
        self,
        ctx: StepContext,
        workflow: type[Workflow] | str,
        input: dict[str, Any] | None,
        queue: str | None,
        wait: bool,
    ) -> Any: ...


_MISSING = object()


class _StepLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Logs normally and also keeps the formatted line for the step's record."""

    def __init__(self, logger: logging.Logger, sink: list[str]) -> None:
        super().__init__(logger, {})
        self.sink = sink

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level) or level >= logging.INFO:
            try:
                text = str(msg) % args if args else str(msg)
            except (TypeError, ValueError):
                text = f"{msg} {args}"
            self.sink.append(f"{logging.getLevelName(level)} {text}")
        super().log(level, msg, *args, **kwargs)


class StepContext:
    """The execution's input, durable context and earlier results, and where the code runs."""

    def __init__(
        self,
        *,
        execution_id: str,
        workflow: str,
        input: Mapping[str, Any],
        context: MutableMapping[str, Any],
        results: MutableMapping[str, Any],
        failure: Mapping[str, Any] | None = None,
        children: ChildStarter | None = None,
        read_only: bool = False,
    ) -> None:
        self.execution_id = execution_id
        self.workflow = workflow
        self.input: Mapping[str, Any] = MappingProxyType(dict(input))
        self._context = context
        self._results = results
        self.results: Mapping[str, Any] = MappingProxyType(results)
        self.step = ""
        self.attempt = 0
        self.item_index: int | None = None
        # On a compensation step: the error that failed the execution.
        self.failure: Mapping[str, Any] | None = failure
        self._children = children
        self._child_calls = 0
        self._read_only = read_only
        self.log_lines: list[str] = []
        self.logger = _StepLogger(
            logging.getLogger(f"durable_celery.steps.{workflow}"), self.log_lines
        )

    def get(self, key: str, default: Any = None) -> Any:
        """A value of the durable context; a copy, so mutating it changes nothing stored."""
        value = self._context.get(key, _MISSING)
        return default if value is _MISSING else copy.deepcopy(value)

    def put(self, key: str, value: Any) -> None:
        """Store a JSON value in the durable context; it is saved with this step's checkpoint."""
        if self._read_only:
            raise DurableError(
                f"ctx.put({key!r}, ...) is not available in the items of {self.step!r}: items run "
                f"in parallel, so return values instead (they become the step's output)"
            )
        if not isinstance(key, str):
            raise InvalidPayload(f"context keys must be strings, got {key!r}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidPayload(
                f"ctx.put({key!r}, ...): value is not JSON-serialisable: {exc}"
            ) from None
        self._context[key] = copy.deepcopy(value)

    def start_child(
        self,
        workflow: type[Workflow] | str,
        input: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
    ) -> str:
        """Start a child workflow without waiting; returns its execution id.

        Calls are numbered within the step, so when the step runs again (a retry, a crash,
        a resume) the same call returns the same child instead of starting another."""
        return str(self._child(workflow, input, queue, wait=False))

    def run_child(
        self,
        workflow: type[Workflow] | str,
        input: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
    ) -> Any:
        """Start a child workflow (once) and return its result. Until the child finishes,
        the execution is suspended and holds no worker; the step then runs again from its
        top and this call returns the result. A child that does not complete raises
        ChildWorkflowFailed here."""
        return self._child(workflow, input, queue, wait=True)

    def _child(
        self,
        workflow: type[Workflow] | str,
        input: dict[str, Any] | None,
        queue: str | None,
        wait: bool,
    ) -> Any:
        if self._children is None or self._read_only:
            raise DurableError("child workflows can be started from steps only, not from items")
        return self._children.start_child(self, workflow, input, queue, wait)

    def _enter_step(self, step: str, attempt: int) -> None:
        self.step = step
        self.attempt = attempt
        self._child_calls = 0
        self.log_lines.clear()

    def __repr__(self) -> str:
        return f"<StepContext {self.workflow} {self.execution_id} step={self.step!r}>"
