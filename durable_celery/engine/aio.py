"""Running step functions, sync or `async def`: the one call site of the step loop, the
fan-out item runner and the `items=` callable of an `@each`.

A sync function runs in the calling thread under `time_limit` (engine/timeouts.py). An
async one runs on this process's event loop: one loop per worker process, created on
first use (keyed by the process id, so a forked pool child makes its own) and served by
a daemon thread, reused by every async step of the process. The thread that holds the
claim submits the coroutine to the loop and blocks until it ends, so under
`-P threads -c 100` a hundred claims' steps await concurrently on one loop, and the
claim's database connection is never used by two threads at once.

The step's timeout (or the workflow deadline, whichever comes first) cancels the
coroutine's task: the claim's thread stops waiting at the limit, cancels the task, waits
for the cancellation to land (the coroutine sees CancelledError at its current await and
may clean up), then raises the same `Interrupted` a sync step gets, so the attempt is
recorded as a StepTimeout (or the deadline) and retried by its step's Retry. A coroutine
that ignores its cancellation is left behind on the loop after CANCEL_GRACE seconds and
the attempt is recorded as interrupted all the same.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from durable_celery.dsl import StepContext
from durable_celery.dsl.async_context import AsyncStepContext, is_async, step_failure
from durable_celery.engine import capture
from durable_celery.engine.timeouts import RAISED, Limit, in_gevent, time_limit
from durable_celery.errors import DurableError

logger = logging.getLogger("durable_celery.executor")

# How long a cancelled coroutine has to finish (its `except CancelledError` / `finally`
# blocks, an unfinished wait's database call) before the attempt ends without it.
CANCEL_GRACE = 10.0


def call(
    function: Callable[..., Any],
    ctx: StepContext,
    *args: Any,
    seconds: float | None = None,
    limit: Limit = Limit.STEP_TIMEOUT,
) -> Any:
    """`function(ctx, *args)` under a limit of `seconds` (None: none). An async function
    gets the async view of `ctx` (dsl/async_context.py) and runs on the event loop."""
    if not is_async(function):
        with time_limit(seconds, limit):
            result = function(ctx, *args)
        if inspect.iscoroutine(result):
            result.close()
            raise DurableError(
                f"step {ctx.step!r}: {getattr(function, '__name__', function)!r} returned a "
                f"coroutine but is not an async def; declare it with `async def` so that it "
                f"runs on the event loop with an async ctx"
            )
        return result
    view = AsyncStepContext.view_of(ctx)
    adopt = capture.for_task()

    async def main() -> Any:
        adopt()
        output = await function(view, *args)
        failure = step_failure(view)
        if failure is not None:
            raise failure
        return output

    try:
        return run(main, seconds, limit)
    finally:
        view.unawaited()  # closes a wait left unawaited by a step that raised


def run(
    make: Callable[[], Coroutine[Any, Any, Any]],
    seconds: float | None = None,
    limit: Limit = Limit.STEP_TIMEOUT,
) -> Any:
    """Run the coroutine `make()` on this process's event loop and return its result (or
    raise its exception) in the calling thread, which waits for it. At `seconds`, the
    coroutine is cancelled and `Interrupted` of `limit` is raised."""
    if seconds is not None and seconds <= 0:
        raise RAISED[limit]()
    if in_gevent():
        raise DurableError(
            "async steps need the prefork, threads or solo pool; this worker process is "
            "gevent-patched, where the event loop's thread would be a greenlet"
        )
    loop = event_loop()
    running = _Running(make)
    loop.call_soon_threadsafe(running.start, loop)
    try:
        finished = running.done.wait(seconds)
    except BaseException:
        # This thread is being stopped (a worker's hard shutdown): the coroutine too.
        running.cancel(loop)
        raise
    if not finished:
        running.cancel(loop)
        if not running.done.wait(CANCEL_GRACE):
            logger.warning(
                "an async step did not end within %.0f s of its cancellation; left running",
                CANCEL_GRACE,
            )
        raise RAISED[limit]()
    return running.outcome()


class _Raised:
    """SystemExit or KeyboardInterrupt out of a step's coroutine, carried to the claim's
    thread: raised in a task, they would stop the loop that every async step shares."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Running:
    """One coroutine on the loop, and how it ended."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.make = make
        self.done = threading.Event()
        self.task: asyncio.Task[Any] | None = None
        self.result: Any = None
        self.error: BaseException | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop."""
        self.task = loop.create_task(self._main())
        self.task.add_done_callback(self._finished)

    async def _main(self) -> Any:
        try:
            return await self.make()
        except (SystemExit, KeyboardInterrupt) as error:
            return _Raised(error)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self.error = asyncio.CancelledError()
        else:
            self.error = task.exception()
            if self.error is None:
                self.result = task.result()
        self.done.set()

    def cancel(self, loop: asyncio.AbstractEventLoop) -> None:
        # Queued after start(): by the time it runs, the task exists.
        loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def outcome(self) -> Any:
        if isinstance(self.error, asyncio.CancelledError):
            # Cancelled from inside (the step cancelled itself, or let an awaited task's
            # cancellation through): a failed attempt like any other error.
            raise DurableError("the step's coroutine was cancelled") from self.error
        if self.error is not None:
            raise self.error
        if isinstance(self.result, _Raised):
            raise self.result.error
        return self.result


# --- the loop of this process --------------------------------------------------------------

_loop: tuple[int, asyncio.AbstractEventLoop] | None = None
_loop_lock = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop, started on first use."""
    global _loop
    current = _loop
    pid = os.getpid()
    if current is not None and current[0] == pid:
        return current[1]
    with _loop_lock:
        if _loop is None or _loop[0] != pid:
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=_serve, args=(loop,), name="durable-celery-event-loop", daemon=True
            ).start()
            _loop = (pid, loop)
        return _loop[1]


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def _forget_after_fork() -> None:
    # A forked child has no loop thread (its loop is the parent's, not running), and the
    # parent's lock may have been held.
    global _loop, _loop_lock
    _loop = None
    _loop_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
