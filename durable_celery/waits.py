"""Waits inside steps: sleep, events and human input, recorded by position.

A step that waits is suspended (its claim released, no worker held) and, once resumed,
runs again from its top. Each wait is a `step_waits` row keyed by the step, the step's
visit and the wait's position among the waits of that run, so the waits already passed
return their recorded values at once and only the next one suspends. Timers and
deadlines are fixed the first time a wait is reached. All writes are fenced by the
claim's lock token.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from durable_celery import sql
from durable_celery.errors import DurableError, NonDeterministicStep, WaitTimeout

if TYPE_CHECKING:
    from durable_celery.context import StepContext
    from durable_celery.executor import _Run

NO_VALUE: Any = object()


class ClaimLost(BaseException):
    """The claim was taken while the step waited for the database: stop, write nothing.
    A BaseException, so a step's own `except Exception` does not swallow it."""


class Suspend(BaseException):
    """Release the claim until something happens (a child ends, a timer, an event).
    A BaseException, so a step's own `except Exception` does not swallow it."""

    def __init__(self, reason: str, wake_at: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wake_at = wake_at


@dataclass(frozen=True)
class _Wait:
    id: str
    status: str
    value: dict[str, Any] | None
    wake_at: datetime | None
    deadline_at: datetime | None
    now: datetime

    @property
    def expired(self) -> bool:
        return self.deadline_at is not None and self.now >= self.deadline_at


class Waits:
    """The executor's side of `ctx.sleep` / `ctx.wait_for_*`, bound to one claim."""

    def __init__(self, run: _Run) -> None:
        self.run = run

    # --- the primitives -------------------------------------------------------------

    def sleep(self, ctx: StepContext, seconds: float | None, until: datetime | None) -> None:
        wait = self._open(ctx, "sleep", None, sleep_seconds=seconds, wake_at=until)
        if wait.status == "resolved":
            return
        assert wait.wake_at is not None
        if wait.now >= wait.wake_at:
            self._resolve(wait, "resolved")
            return
        raise Suspend("sleep", wait.wake_at)

    def events(
        self,
        ctx: StepContext,
        kind: str,
        names: list[str],
        timeout: float | None,
        timeout_value: Any,
    ) -> Any:
        """wait_for_event ('event'), wait_for_any ('any') and wait_for_all ('all')."""
        wait = self._open(ctx, kind, names, timeout_seconds=timeout)
        received = dict(wait.value or {})
        if wait.status == "timed_out":
            return self._timed_out(ctx, kind, names, timeout, timeout_value)
        while not self._complete(kind, names, received):
            # For event/any nothing was received yet, so every name is still missing.
            missing = [name for name in names if name not in received]
            value = self._consume(wait, missing)
            if value is None:
                break
            received = value
        if self._complete(kind, names, received):
            if wait.status == "waiting":
                self._resolve(wait, "resolved")
            if kind == "all":
                return {name: received[name] for name in names}
            name, payload = next(iter(received.items()))
            return payload if kind == "event" else (name, payload)
        if wait.expired:
            self._resolve(wait, "timed_out")
            return self._timed_out(ctx, kind, names, timeout, timeout_value)
        raise Suspend("event", wait.deadline_at)

    def input(
        self,
        ctx: StepContext,
        name: str,
        prompt: str | None,
        fields: Any,
        timeout: float | None,
        timeout_value: Any,
    ) -> Any:
        wait = self._open(ctx, "input", [name], timeout_seconds=timeout)
        if wait.status == "waiting" and not wait.expired:
            self._execute(
                sql.INPUT_REQUEST,
                {
                    "input_id": str(uuid.uuid4()),
                    "name": name,
                    "step_name": ctx.step,
                    "wait_id": wait.id,
                    "prompt": prompt,
                    "fields": None if fields is None else json.dumps(fields),
                    "deadline_at": wait.deadline_at,
                },
            )
        if wait.status == "waiting" and wait.expired:
            closed = self.run.conn.execute(sql.INPUT_EXPIRE, {"wait_id": wait.id}).first()
            if closed is not None:
                self._resolve(wait, "timed_out")
                return self._timed_out(ctx, "input", [name], timeout, timeout_value)
            wait = self._open(ctx, "input", [name], timeout_seconds=timeout, again=True)
        if wait.status == "resolved":
            return (wait.value or {}).get(name)
        if wait.status == "timed_out":
            return self._timed_out(ctx, "input", [name], timeout, timeout_value)
        raise Suspend("input", wait.deadline_at)

    # --- rows -----------------------------------------------------------------------

    def _open(
        self,
        ctx: StepContext,
        kind: str,
        names: list[str] | None,
        *,
        sleep_seconds: float | None = None,
        wake_at: datetime | None = None,
        timeout_seconds: float | None = None,
        again: bool = False,
    ) -> _Wait:
        if ctx._read_only:
            raise DurableError("waits are available in steps only, not in each/parallel items")
        position = ctx._wait_calls - 1 if again else ctx._wait_calls
        if not again:
            ctx._wait_calls += 1
        row = self.run.conn.execute(
            sql.WAIT_OPEN,
            {
                **self._fence(),
                "wait_id": str(uuid.uuid4()),
                "step_name": ctx.step,
                "visit": self.run.visits.get(ctx.step, 0),
                "position": position,
                "kind": kind,
                "names": None if names is None else json.dumps(names),
                "wake_at": wake_at,
                "sleep_seconds": sleep_seconds,
                "timeout_seconds": timeout_seconds,
            },
        ).first()
        if row is None or not row.fenced:
            raise ClaimLost()
        if row.kind != kind or (names is not None and row.names != names):
            raise NonDeterministicStep(
                f"step {ctx.step!r}: wait #{position + 1} was recorded as {row.kind}"
                f"({row.names or ''}) but the code now asks for {kind}({names or ''}); a step "
                f"must reach its waits in the same order every time it runs"
            )
        return _Wait(str(row.id), row.status, row.value, row.wake_at, row.deadline_at, row.now)

    def _consume(self, wait: _Wait, names: list[str]) -> dict[str, Any] | None:
        row = self.run.conn.execute(
            sql.WAIT_CONSUME_EVENT,
            {
                **self._fence(),
                "wait_id": wait.id,
                "names": names,
            },
        ).first()
        return None if row is None else dict(row.value)

    def _resolve(self, wait: _Wait, status: str) -> None:
        self._execute(sql.WAIT_RESOLVE, {**self._fence(), "wait_id": wait.id, "status": status})

    def _execute(self, statement: Any, params: dict[str, Any]) -> None:
        self.run.conn.execute(statement, {**self._fence(), **params})

    def _fence(self) -> dict[str, Any]:
        return {"execution_id": self.run.claim.execution_id, "token": self.run.claim.token}

    @staticmethod
    def _complete(kind: str, names: list[str], received: dict[str, Any]) -> bool:
        if kind == "all":
            return all(name in received for name in names)
        return bool(received)

    @staticmethod
    def _timed_out(
        ctx: StepContext, kind: str, names: list[str], timeout: float | None, value: Any
    ) -> Any:
        if value is not NO_VALUE:
            return value
        call = {
            "event": "wait_for_event",
            "any": "wait_for_any",
            "all": "wait_for_all",
            "input": "wait_for_input",
        }[kind]
        raise WaitTimeout(
            f"step {ctx.step!r}: {call}({', '.join(names)}) timed out after {timeout} seconds"
        )
