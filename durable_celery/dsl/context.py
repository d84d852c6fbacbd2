"""`ctx`: what a step function sees of its execution.

The context talks to the engine only through two small protocols, `WaitService` and
`ChildService`, that the engine provides for each step attempt (`enter`); items of a
fan-out get neither, so waits and child workflows are refused there.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping, MutableMapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from durable_celery.checks import check_event_key, check_name
from durable_celery.dsl.inputs import check_question
from durable_celery.errors import DurableError, InvalidOption, InvalidPayload
from durable_celery.states import InputKind, WaitKind
from durable_celery.time import Duration, require_aware, to_timedelta

if TYPE_CHECKING:
    from durable_celery.dsl.workflow import Workflow

NO_VALUE: Any = object()
"""The `timeout_value` default: no value was given, so a timed-out wait raises."""


class WaitService(Protocol):
    """The engine's side of `ctx.sleep` and `ctx.wait_for_*`, for one step attempt."""

    def sleep(self, seconds: float | None, until: datetime | None) -> None: ...

    def events(
        self,
        kind: WaitKind,
        names: list[str],
        timeout: float | None,
        timeout_value: Any,
        key: str | None = None,
    ) -> Any: ...

    def input(
        self,
        name: str,
        prompt: str | None,
        fields: Any,
        timeout: float | None,
        timeout_value: Any,
        kind: InputKind = InputKind.VALUE,
        choices: list[Any] | None = None,
    ) -> Any: ...


class ChildService(Protocol):
    """The engine's side of `ctx.start_child` and `ctx.run_child`, for one step attempt."""

    def start_child(
        self,
        workflow: type[Workflow] | str,
        input: Mapping[str, Any] | None,
        queue: str | None,
        wait: bool,
        timeout: float | None = None,
        step_waits: WaitService | None = None,
    ) -> Any: ...


_MISSING = object()
# Stands for a shorthand's own timeout_value while the engine answers, so that a timed-out
# wait is told apart from an answer.
_TIMED_OUT: Any = object()


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
    """The execution's input, durable context and earlier results, and where the code runs.

    `context` and `results` are the engine's own mappings: `ctx.put` writes into
    `context`, which the engine saves with the step's checkpoint."""

    def __init__(
        self,
        *,
        execution_id: str,
        workflow: str,
        input: Mapping[str, Any],
        context: MutableMapping[str, Any],
        results: Mapping[str, Any],
        failure: Mapping[str, Any] | None = None,
        in_item: bool = False,
        schedule_key: str | None = None,
        scheduled_at: datetime | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.workflow = workflow
        self.input: Mapping[str, Any] = MappingProxyType(dict(input))
        self._context = context
        # Counts ctx.put / ctx.delete calls: a step that made none leaves the context as
        # its checkpoint found it, and the engine neither encodes nor sends it again.
        self.context_changes = 0
        self.results: Mapping[str, Any] = MappingProxyType(results)
        self.step = ""
        self.attempt = 0
        self.item_index: int | None = None
        # On a compensation step: the error that failed the execution.
        self.failure: Mapping[str, Any] | None = failure
        # Started by a schedule: its key, and the fire time (not the start time).
        self.schedule_key = schedule_key
        self.scheduled_at = scheduled_at
        self._in_item = in_item
        self._waits: WaitService | None = None
        self._children: ChildService | None = None
        self.log_lines: list[str] = []
        self.logger = _StepLogger(
            logging.getLogger(f"durable_celery.steps.{workflow}"), self.log_lines
        )

    def enter(
        self,
        step: str,
        attempt: int,
        *,
        waits: WaitService | None = None,
        children: ChildService | None = None,
        item_index: int | None = None,
    ) -> None:
        """Called by the engine before each attempt, with that attempt's services."""
        self.step = step
        self.attempt = attempt
        self.item_index = item_index
        self._waits = waits
        self._children = children
        self.log_lines.clear()

    def get(self, key: str, default: Any = None) -> Any:
        """A value of the durable context; a copy, so mutating it changes nothing stored."""
        value = self._context.get(key, _MISSING)
        return default if value is _MISSING else copy.deepcopy(value)

    def put(self, key: str, value: Any) -> None:
        """Store a JSON value in the durable context; it is saved with this step's checkpoint."""
        if self._in_item:
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
        self.context_changes += 1

    def delete(self, key: str) -> None:
        """Remove a key from the durable context; saved with this step's checkpoint like
        `put` (a failed attempt's deletions are discarded with its puts). A missing key
        is no error."""
        if self._in_item:
            raise DurableError(
                f"ctx.delete({key!r}) is not available in the items of {self.step!r}: items "
                f"run in parallel, so return values instead (they become the step's output)"
            )
        if not isinstance(key, str):
            raise InvalidPayload(f"context keys must be strings, got {key!r}")
        self._context.pop(key, None)
        self.context_changes += 1

    def start_child(
        self,
        workflow: type[Workflow] | str,
        input: Mapping[str, Any] | None = None,
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
        input: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        timeout: Duration | None = None,
    ) -> Any:
        """Start a child workflow (once) and return its result. Until the child finishes,
        the execution is suspended and holds no worker; the step then runs again from its
        top and this call returns the result. A child that does not complete raises
        ChildWorkflowFailed here. With `timeout`, a child still live when it passes is
        cancelled (with its own children) and this call raises WaitTimeout."""
        seconds = None if timeout is None else _seconds(timeout, "run_child timeout")
        return self._child(workflow, input, queue, wait=True, timeout=seconds)

    def _child(
        self,
        workflow: type[Workflow] | str,
        input: Mapping[str, Any] | None,
        queue: str | None,
        wait: bool,
        timeout: float | None = None,
    ) -> Any:
        if self._children is None:
            raise DurableError("child workflows can be started from steps only, not from items")
        if timeout is None:
            return self._children.start_child(workflow, input, queue, wait)
        # The child's timer is a wait of this step: the wait service records it.
        return self._children.start_child(workflow, input, queue, wait, timeout, self._waits)

    # --- waits: each suspends the execution until it is satisfied; see the README -------

    def sleep(self, duration: Duration) -> None:
        """Durable sleep: the execution waits without holding a worker, then the step runs
        again from its top and this call returns at once."""
        seconds = to_timedelta(duration, "sleep duration").total_seconds()
        self._wait_service().sleep(seconds, None)

    def sleep_until(self, when: datetime) -> None:
        """Durable sleep until an aware datetime."""
        self._wait_service().sleep(None, require_aware(when, "sleep_until"))

    def wait_for_event(
        self,
        name: str,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
        *,
        key: str | None = None,
    ) -> Any:
        """The payload of the next event `name` sent with send_event (buffered: an event
        sent earlier is delivered now). With `key`, also the events published with
        publish_event(name, payload, key=key) since this execution was created, each taken
        once. On timeout: `timeout_value`, or WaitTimeout."""
        names = _event_names([name], "wait_for_event")
        if key is not None:
            check_event_key(key, "wait_for_event key")
        return self._wait_service().events(
            WaitKind.EVENT, names, _seconds(timeout), timeout_value, key
        )

    def wait_for_any(
        self, names: list[str], timeout: Duration | None = None, timeout_value: Any = NO_VALUE
    ) -> Any:
        """(name, payload) of the first of several events."""
        checked = _event_names(names, "wait_for_any")
        return self._wait_service().events(WaitKind.ANY, checked, _seconds(timeout), timeout_value)

    def wait_for_all(
        self, names: list[str], timeout: Duration | None = None, timeout_value: Any = NO_VALUE
    ) -> Any:
        """{name: payload} once every named event arrived."""
        checked = _event_names(names, "wait_for_all")
        return self._wait_service().events(WaitKind.ALL, checked, _seconds(timeout), timeout_value)

    def wait_for_input(
        self,
        name: str,
        prompt: str | None = None,
        fields: Any = None,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
        *,
        kind: InputKind | str | None = None,
        choices: list[Any] | None = None,
    ) -> Any:
        """Ask a human: records a pending input (see list_pending_inputs) and returns the
        answer given to provide_input, checked against `kind` (approval, single_choice,
        multi_choice, free_text, form; None: a form when `fields` are given, else any JSON
        value). On timeout: `timeout_value`, or WaitTimeout."""
        return self._ask(
            "wait_for_input", name, prompt, kind, fields, choices, timeout, timeout_value
        )

    def wait_for_approval(
        self,
        name: str = "approval",
        prompt: str | None = None,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
    ) -> Any:
        """Ask a human to approve: True or False (answered with true/false, or with
        {"approved": bool, "comment": str}; the comment is kept with the input)."""
        answer = self._ask(
            "wait_for_approval",
            name,
            prompt,
            InputKind.APPROVAL,
            None,
            None,
            timeout,
            NO_VALUE if timeout_value is NO_VALUE else _TIMED_OUT,
        )
        if answer is _TIMED_OUT:
            return timeout_value
        return bool(answer["approved"]) if isinstance(answer, dict) else bool(answer)

    def wait_for_choice(
        self,
        name: str,
        choices: list[Any],
        prompt: str | None = None,
        multiple: bool = False,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
    ) -> Any:
        """Ask a human to pick one of `choices` (or, with multiple=True, a list of distinct
        ones) and return it."""
        if not isinstance(multiple, bool):
            raise InvalidOption(f"wait_for_choice multiple must be True or False, got {multiple!r}")
        kind = InputKind.MULTI_CHOICE if multiple else InputKind.SINGLE_CHOICE
        return self._ask(
            "wait_for_choice", name, prompt, kind, None, choices, timeout, timeout_value
        )

    def wait_for_text(
        self,
        name: str,
        prompt: str | None = None,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
    ) -> Any:
        """Ask a human for a line of text and return it (a str)."""
        return self._ask(
            "wait_for_text", name, prompt, InputKind.FREE_TEXT, None, None, timeout, timeout_value
        )

    def wait_for_form(
        self,
        name: str,
        fields: Mapping[str, str],
        prompt: str | None = None,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
    ) -> Any:
        """Ask a human to fill in a form: returns a dict with exactly `fields`, each of its
        type ({"amount": "number", "note": "str"})."""
        return self._ask(
            "wait_for_form", name, prompt, InputKind.FORM, fields, None, timeout, timeout_value
        )

    def _ask(
        self,
        call: str,
        name: str,
        prompt: str | None,
        kind: Any,
        fields: Any,
        choices: Any,
        timeout: Duration | None,
        timeout_value: Any,
    ) -> Any:
        checked = check_name(name, f"{call} name")
        if prompt is not None and not isinstance(prompt, str):
            raise InvalidPayload(f"{call} prompt must be a string, got {prompt!r}")
        question = check_question(call, kind, fields, choices)
        return self._wait_service().input(
            checked,
            prompt,
            question.fields,
            _seconds(timeout),
            timeout_value,
            question.kind,
            question.choices,
        )

    def _wait_service(self) -> WaitService:
        if self._waits is None:
            raise DurableError("waits are available in steps only, not in each/parallel items")
        return self._waits

    def __repr__(self) -> str:
        return f"<StepContext {self.workflow} {self.execution_id} step={self.step!r}>"


def _seconds(timeout: Duration | None, what: str = "timeout") -> float | None:
    if timeout is None:
        return None
    return to_timedelta(timeout, what).total_seconds()


def _event_names(names: Any, call: str) -> list[str]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise InvalidOption(f"{call} needs a non-empty list of names, got {names!r}")
    for name in names:
        check_name(name, f"{call}: each name")
    if len(set(names)) != len(names):
        raise InvalidOption(f"{call}: names must be distinct, got {list(names)}")
    return list(names)
