"""Interrupting a step that runs too long.

The executor runs each step under `time_limit(seconds, limit)`, for the sooner of the
step's timeout and the workflow deadline. At the limit, `Interrupted` is raised inside the
step's code; how depends on where the step runs:

- **a greenlet of a gevent-patched process** (`-P gevent`): a gevent timer throws it
  into the step's greenlet at its next switch to the hub, so any gevent-aware wait
  (sleep, socket reads, patched locks and queues) is interrupted; code that never yields
  (a CPU loop, a C library that blocks without gevent) is not.
- **the main thread** (prefork pool children, the solo pool): a SIGALRM timer; the
  exception comes at the next Python bytecode, and blocking calls such as `time.sleep` or
  socket reads are interrupted too (the signal wakes them).
- **any other thread** (`-P threads`): one timer thread per process raises it in the
  step's thread with `PyThreadState_SetAsyncExc`. It lands at that thread's next Python
  bytecode: Python code is interrupted (loops, `time.sleep` in short slices, I/O done in
  short timeouts), but one call that blocks in C is not (a single long `time.sleep`, a
  socket read without a timeout, a lock wait, a long computation in an extension): the
  exception comes when that call returns to Python.

Whichever way, an attempt that returns after its limit passed is recorded as interrupted
all the same, and no exception is ever raised once the step's block has been left: the
timer and the block's exit take one lock, the exit disarms the timer, and an exception
sent but not yet landed is taken back and raised by the exit itself. The engine's own
writes after the step (its checkpoint) never see it.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import os
import signal
import sys
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import FrameType, TracebackType
from typing import Any


class Limit(StrEnum):
    STEP_TIMEOUT = "step_timeout"
    DEADLINE = "deadline"  # the workflow's


class Interrupted(BaseException):
    """Raised inside the step by the timer. A BaseException, so that a step's own
    `except Exception` cannot swallow it."""

    def __init__(self, limit: Limit) -> None:
        super().__init__(limit)
        self.limit = limit


# PyThreadState_SetAsyncExc raises a class, instantiated without arguments: one per limit.
class StepTimedOut(Interrupted):
    def __init__(self) -> None:
        super().__init__(Limit.STEP_TIMEOUT)


class DeadlinePassed(Interrupted):
    def __init__(self) -> None:
        super().__init__(Limit.DEADLINE)


RAISED: dict[Limit, type[StepTimedOut] | type[DeadlinePassed]] = {
    Limit.STEP_TIMEOUT: StepTimedOut,
    Limit.DEADLINE: DeadlinePassed,
}


def limit_for(
    step_timeout: timedelta | None, deadline: datetime | None
) -> tuple[float | None, Limit]:
    """Seconds until the first of the step timeout and the workflow deadline, and which."""
    candidates: list[tuple[float, Limit]] = []
    if step_timeout is not None:
        candidates.append((step_timeout.total_seconds(), Limit.STEP_TIMEOUT))
    if deadline is not None:
        candidates.append(((deadline - datetime.now(UTC)).total_seconds(), Limit.DEADLINE))
    if not candidates:
        return None, Limit.STEP_TIMEOUT
    return min(candidates)


def time_limit(seconds: float | None, limit: Limit) -> AbstractContextManager[Any]:
    """Interrupt the block after `seconds` (see the module's docstring for how)."""
    if seconds is None:
        return nullcontext()
    if seconds <= 0:
        raise RAISED[limit]()
    if in_gevent():
        return GeventAlarm(seconds, limit)
    if threading.current_thread() is threading.main_thread():
        return SignalAlarm(seconds, limit)
    return ThreadAlarm(seconds, limit)


def in_gevent() -> bool:
    """Whether this process is gevent-patched (then every "thread" is a greenlet and
    neither signals nor thread exceptions reach the step). gevent is never imported here."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


class _Alarm:
    """The common part: the limit, the clock, and the check made when the block is left."""

    def __init__(self, seconds: float, limit: Limit) -> None:
        self.seconds = seconds
        self.limit = limit
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.monotonic()
        self.arm()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fired = self.disarm()
        # Returned late (a blocking call the timer could not interrupt, or an exception the
        # step swallowed): interrupted all the same. An exception already in flight (the
        # step's own, a wait's, this one) goes on as it is.
        if exc_type is None and (fired or time.monotonic() - self.started > self.seconds):
            raise RAISED[self.limit]()

    def arm(self) -> None:
        raise NotImplementedError

    def disarm(self) -> bool:
        """Stop the timer; whether it fired."""
        raise NotImplementedError


class SignalAlarm(_Alarm):
    def arm(self) -> None:
        self.fired = False
        self.previous = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        self.fired = True
        raise RAISED[self.limit]()

    def disarm(self) -> bool:
        signal.setitimer(signal.ITIMER_REAL, 0)
        # signal.signal runs a handler still pending first: it raises here, in the block.
        signal.signal(signal.SIGALRM, self.previous)
        return self.fired


class GeventAlarm(_Alarm):
    def arm(self) -> None:
        gevent: Any = sys.modules["gevent"]  # imported: in_gevent() said it is patched
        self.timeout = gevent.Timeout(self.seconds, RAISED[self.limit]())
        self.timeout.start()

    def disarm(self) -> bool:
        # The timer throws only when this greenlet yields to the hub, which it does not do
        # between the end of the step and here: closing it leaves nothing to land later.
        self.timeout.close()
        return False


# --- the threads pool --------------------------------------------------------------------


def _set_async_exc(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise `exception` in the thread at its next bytecode; None takes back one not yet
    raised. (No argtypes: None must reach C as NULL, not as Py_None.)"""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), None if exception is None else ctypes.py_object(exception)
    )


_delivery = threading.Lock()  # taken by the timer to fire and by the block's exit to disarm


class ThreadAlarm(_Alarm):
    def arm(self) -> None:
        self.thread_id = threading.get_ident()
        self.armed = True
        self.fired = False
        alarms().add(self.started + self.seconds, self)

    def fire(self) -> None:
        """In the timer thread: raise the limit's exception in the step's thread, once,
        unless the block has been left."""
        with _delivery:
            if not self.armed:
                return
            self.armed = False
            self.fired = True
            _set_async_exc(self.thread_id, RAISED[self.limit])

    def disarm(self) -> bool:
        with _delivery:
            was_armed, self.armed = self.armed, False
            if self.fired:
                # Sent, and not landed yet (or this exit would not be running): take it
                # back; __exit__ raises it here instead.
                _set_async_exc(self.thread_id, None)
        if was_armed:
            alarms().cancelled()
        return self.fired


class Alarms:
    """One timer thread per process for every step running in a thread: a heap of due
    times. An alarm left early stays in the heap, disarmed, until it comes up or the heap
    is compacted (when more than half of it is cancelled)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, ThreadAlarm]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def add(self, due: float, alarm: ThreadAlarm) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="durable-celery-step-timeouts", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, (due, next(self._order), alarm))
            if self._heap[0][2] is alarm:
                self._cond.notify()

    def cancelled(self) -> None:
        with self._cond:
            self._cancelled += 1
            if self._cancelled * 2 > len(self._heap) > 64:
                self._heap = [entry for entry in self._heap if entry[2].armed]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and not self._heap[0][2].armed:
                        heapq.heappop(self._heap)
                        self._cancelled = max(0, self._cancelled - 1)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - time.monotonic()
                    if delay <= 0:
                        alarm = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(delay)
            alarm.fire()


_alarms: Alarms | None = None
_alarms_lock = threading.Lock()


def alarms() -> Alarms:
    global _alarms
    if _alarms is None:
        with _alarms_lock:
            if _alarms is None:
                _alarms = Alarms()
    return _alarms


def _forget_after_fork() -> None:
    # A forked child has no timer thread, and the parent's locks may have been held.
    global _alarms, _alarms_lock, _delivery
    _alarms = None
    _alarms_lock = threading.Lock()
    _delivery = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
