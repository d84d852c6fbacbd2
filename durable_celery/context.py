"""`ctx`: what a step function sees of its execution."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import Any

from durable_celery.errors import InvalidPayload

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
    ) -> None:
        self.execution_id = execution_id
        self.workflow = workflow
        self.input: Mapping[str, Any] = MappingProxyType(dict(input))
        self._context = context
        self._results = results
        self.results: Mapping[str, Any] = MappingProxyType(results)
        self.step = ""
        self.attempt = 0
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
        if not isinstance(key, str):
            raise InvalidPayload(f"context keys must be strings, got {key!r}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidPayload(
                f"ctx.put({key!r}, ...): value is not JSON-serialisable: {exc}"
            ) from None
        self._context[key] = copy.deepcopy(value)

    def _enter_step(self, step: str, attempt: int) -> None:
        self.step = step
        self.attempt = attempt
        self.log_lines.clear()

    def __repr__(self) -> str:
        return f"<StepContext {self.workflow} {self.execution_id} step={self.step!r}>"
