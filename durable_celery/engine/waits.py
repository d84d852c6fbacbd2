"""Waits inside steps: sleep, events and human input, recorded by position; and the timers
of `run_child(timeout=)` (engine/children.py), recorded the same way.

A step that waits is suspended (its claim released, no worker held) and, once resumed,
runs again from its top. Each wait is a `step_waits` row keyed by the step, the step's
visit and the wait's position among the waits of that run, so the waits already passed
return their recorded values at once and only the next one suspends. Timers and
deadlines are fixed the first time a wait is reached. All writes are fenced by the
claim's lock token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from durable_celery.dsl import NO_VALUE
from durable_celery.engine.interrupts import ClaimLost, Suspend
from durable_celery.errors import NonDeterministicStep, WaitTimeout
from durable_celery.states import InputKind, Suspension, WaitKind, WaitStatus
from durable_celery.store import waits
from durable_celery.store.executions import Fence
from durable_celery.store.waits import WaitPlace, WaitRow

_CALLS = {
    WaitKind.EVENT: "wait_for_event",
    WaitKind.ANY: "wait_for_any",
    WaitKind.ALL: "wait_for_all",
    WaitKind.INPUT: "wait_for_input",
}


class StepWaits:
    """The engine's side of `ctx.sleep` / `ctx.wait_for_*` for one attempt of one step
    (a dsl WaitService)."""

    def __init__(self, conn: Connection, fence: Fence, step: str, visit: int) -> None:
        self.conn = conn
        self.fence = fence
        self.step = step
        self.visit = visit
        self.position = 0  # waits reached so far in this run of the step

    def sleep(self, seconds: float | None, until: datetime | None) -> None:
        wait = self._open(WaitKind.SLEEP, None, sleep_seconds=seconds, wake_at=until)
        if wait.status is WaitStatus.RESOLVED:
            return
        assert wait.wake_at is not None
        if wait.now >= wait.wake_at:
            waits.resolve_wait(self.conn, self.fence, wait.id, WaitStatus.RESOLVED)
            return
        raise Suspend(Suspension.SLEEP, wait.wake_at)

    def events(
        self,
        kind: WaitKind,
        names: list[str],
        timeout: float | None,
        timeout_value: Any,
        key: str | None = None,
    ) -> Any:
        """wait_for_event, wait_for_any and wait_for_all. A wait_for_event also takes
        published events (publish_event) of its key, '' standing for none."""
        event_key = (key or "") if kind is WaitKind.EVENT else None
        wait = self._open(kind, names, timeout_seconds=timeout, event_key=event_key)
        received = dict(wait.value or {})
        if wait.status is WaitStatus.TIMED_OUT:
            return self._timed_out(kind, names, timeout, timeout_value)
        while not _complete(kind, names, received):
            # For event/any nothing was received yet, so every name is still missing.
            missing = [name for name in names if name not in received]
            value = waits.consume_event(self.conn, self.fence, wait.id, missing, event_key)
            if value is None:
                break
            received = value
        if _complete(kind, names, received):
            if wait.status is WaitStatus.WAITING:
                waits.resolve_wait(self.conn, self.fence, wait.id, WaitStatus.RESOLVED)
            if kind is WaitKind.ALL:
                return {name: received[name] for name in names}
            name, payload = next(iter(received.items()))
            return payload if kind is WaitKind.EVENT else (name, payload)
        if wait.expired:
            waits.resolve_wait(self.conn, self.fence, wait.id, WaitStatus.TIMED_OUT)
            return self._timed_out(kind, names, timeout, timeout_value)
        raise Suspend(Suspension.EVENT, wait.deadline_at)

    def input(
        self,
        name: str,
        prompt: str | None,
        fields: Any,
        timeout: float | None,
        timeout_value: Any,
        kind: InputKind = InputKind.VALUE,
        choices: list[Any] | None = None,
    ) -> Any:
        wait = self._open(WaitKind.INPUT, [name], timeout_seconds=timeout)
        if wait.status is WaitStatus.WAITING and not wait.expired:
            waits.request_input(
                self.conn,
                self.fence,
                wait,
                name=name,
                step_name=self.step,
                prompt=prompt,
                fields=fields,
                kind=kind,
                choices=choices,
            )
        if wait.status is WaitStatus.WAITING and wait.expired:
            if waits.expire_input(self.conn, wait.id):
                waits.resolve_wait(self.conn, self.fence, wait.id, WaitStatus.TIMED_OUT)
                return self._timed_out(WaitKind.INPUT, [name], timeout, timeout_value)
            # Answered a moment ago: read the answer.
            wait = self._open(WaitKind.INPUT, [name], timeout_seconds=timeout, again=True)
        if wait.status is WaitStatus.RESOLVED:
            return (wait.value or {}).get(name)
        if wait.status is WaitStatus.TIMED_OUT:
            return self._timed_out(WaitKind.INPUT, [name], timeout, timeout_value)
        raise Suspend(Suspension.INPUT, wait.deadline_at)

    def child_timer(self, call: int, seconds: float) -> WaitRow:
        """The timer of child call number `call` of this run of the step
        (`run_child(timeout=)`), recorded the first time so that its deadline never moves.
        It is a sleep row at position -1 - call: apart from the waits' own positions, so
        adding a timeout to a child call does not renumber the waits after it."""
        wait = waits.open_wait(
            self.conn,
            self.fence,
            WaitPlace(self.step, self.visit, -1 - call),
            WaitKind.SLEEP,
            None,
            timeout_seconds=seconds,
        )
        if wait is None:
            raise ClaimLost()
        return wait

    def close_child_timer(self, wait: WaitRow) -> None:
        """The child ended in time: its timer is no longer open."""
        if wait.status is WaitStatus.WAITING:
            waits.resolve_wait(self.conn, self.fence, wait.id, WaitStatus.RESOLVED)

    def _open(
        self,
        kind: WaitKind,
        names: list[str] | None,
        *,
        sleep_seconds: float | None = None,
        wake_at: datetime | None = None,
        timeout_seconds: float | None = None,
        again: bool = False,
        event_key: str | None = None,
    ) -> WaitRow:
        if not again:
            self.position += 1
        position = self.position - 1
        wait = waits.open_wait(
            self.conn,
            self.fence,
            WaitPlace(self.step, self.visit, position),
            kind,
            names,
            wake_at=wake_at,
            sleep_seconds=sleep_seconds,
            timeout_seconds=timeout_seconds,
            event_key=event_key,
        )
        if wait is None:
            raise ClaimLost()
        # A wait recorded before keys existed has none (NULL): the same as ''.
        recorded_key = (wait.event_key or "") if kind is WaitKind.EVENT else None
        if (
            wait.kind is not kind
            or (names is not None and wait.names != names)
            or recorded_key != event_key
        ):
            raise NonDeterministicStep(
                f"step {self.step!r}: wait #{position + 1} was recorded as {wait.kind}"
                f"({_shown(wait.names, recorded_key)}) but the code now asks for "
                f"{kind}({_shown(names, event_key)}); a step must reach its waits in the "
                f"same order every time it runs"
            )
        return wait

    def _timed_out(
        self, kind: WaitKind, names: list[str], timeout: float | None, value: Any
    ) -> Any:
        if value is not NO_VALUE:
            return value
        raise WaitTimeout(
            f"step {self.step!r}: {_CALLS[kind]}({', '.join(names)}) timed out after "
            f"{timeout} seconds"
        )


def _shown(names: list[str] | None, event_key: str | None) -> str:
    shown = str(names or "")
    return f"{shown}, key={event_key!r}" if event_key else shown


def _complete(kind: WaitKind, names: list[str], received: dict[str, Any]) -> bool:
    if kind is WaitKind.ALL:
        return all(name in received for name in names)
    return bool(received)
