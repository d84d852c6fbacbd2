"""`ctx` of an `async def` step: the same context, with its waits and child calls as
coroutines (`await ctx.wait_for_event("paid")`).

An async step's ctx is a view of the run's StepContext: it shares that object's
attributes (input, durable context, results, log lines, the attempt's wait and child
services), so `ctx.put` in an async step is saved by the step's checkpoint exactly as in
a sync one. Only the calls that reach the database or the broker differ: sleep,
sleep_until, the wait_for_* family, start_child and run_child return coroutines that run
the sync call in a worker thread of the event loop, so the loop goes on running other
executions' steps meanwhile. What the sync call raises (the Suspend that releases the
claim, WaitTimeout, a bad argument) is raised at the await.

The sync forms of those calls are not available in an async step: a wait called without
`await` would do nothing, so the engine fails the attempt (DurableError naming the call)
when a step returns after creating one it never awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from durable_celery.dsl.context import NO_VALUE, StepContext
from durable_celery.errors import DurableError
from durable_celery.states import InputKind
from durable_celery.time import Duration

if TYPE_CHECKING:
    from durable_celery.dsl.workflow import Workflow

T = TypeVar("T")


def is_async(function: Any) -> bool:
    """Whether calling `function` makes a coroutine: an `async def` (also behind
    functools.partial), or an object whose `__call__` is one."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - the method, not callable()
    )


class AsyncStepContext(StepContext):
    """What an `async def` step (or item, decision, compensation) receives as ctx."""

    # Kept in a slot, apart from the shared attributes: the calls of this attempt.
    __slots__ = ("_made", "_one_at_a_time")
    _made: list[tuple[str, Coroutine[Any, Any, Any]]]
    _one_at_a_time: asyncio.Lock

    def __init__(self, **options: Any) -> None:
        """A context of its own (a test's); the engine makes views instead (`view_of`)."""
        super().__init__(**options)
        self._made = []
        self._one_at_a_time = asyncio.Lock()

    @classmethod
    def view_of(cls, ctx: StepContext) -> AsyncStepContext:
        view = cls.__new__(cls)
        # The same attribute dictionary: one state, seen through either class.
        object.__setattr__(view, "__dict__", ctx.__dict__)
        view._made = []
        view._one_at_a_time = asyncio.Lock()
        return view

    def unawaited(self) -> list[str]:
        """The calls made but never awaited in this attempt (closed, so that Python does
        not warn about them again)."""
        names = []
        for name, coroutine in self._made:
            if inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                coroutine.close()
                names.append(name)
        self._made.clear()
        return names

    def _later(self, name: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> Any:
        coroutine = _in_worker_thread(
            functools.partial(call, self, *args, **kwargs), self._one_at_a_time
        )
        self._made.append((name, coroutine))
        return coroutine

    # The sync methods of StepContext, run off the loop. Their signatures are those of
    # the sync forms; only the result is awaited.

    def sleep(self, duration: Duration) -> Coroutine[Any, Any, None]:  # type: ignore[override]
        return self._later("sleep", StepContext.sleep, duration)  # type: ignore[no-any-return]

    def sleep_until(self, when: datetime) -> Coroutine[Any, Any, None]:  # type: ignore[override]
        return self._later("sleep_until", StepContext.sleep_until, when)  # type: ignore[no-any-return]

    def wait_for_event(  # type: ignore[override]
        self,
        name: str,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
        *,
        key: str | None = None,
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "wait_for_event", StepContext.wait_for_event, name, timeout, timeout_value, key=key
        )

    def wait_for_any(  # type: ignore[override]
        self, names: list[str], timeout: Duration | None = None, timeout_value: Any = NO_VALUE
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "wait_for_any", StepContext.wait_for_any, names, timeout, timeout_value
        )

    def wait_for_all(  # type: ignore[override]
        self, names: list[str], timeout: Duration | None = None, timeout_value: Any = NO_VALUE
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "wait_for_all", StepContext.wait_for_all, names, timeout, timeout_value
        )

    def wait_for_input(  # type: ignore[override]
        self,
        name: str,
        prompt: str | None = None,
        fields: Any = None,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
        *,
        kind: InputKind | str | None = None,
        choices: list[Any] | None = None,
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "wait_for_input",
            StepContext.wait_for_input,
            name,
            prompt,
            fields,
            timeout,
            timeout_value,
            kind=kind,
            choices=choices,
        )

    def wait_for_approval(  # type: ignore[override]
        self,
        name: str = "approval",
        prompt: str | None = None,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "wait_for_approval", StepContext.wait_for_approval, name, prompt, timeout, timeout_value
        )

    def wait_for_choice(  # type: ignore[override]
        self,
        name: str,
        choices: list[Any],
        prompt: str | None = None,
        multiple: bool = False,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "wait_for_choice",
            StepContext.wait_for_choice,
            name,
            choices,
            prompt,
            multiple,
            timeout,
            timeout_value,
        )

    def wait_for_text(  # type: ignore[override]
        self,
        name: str,
        prompt: str | None = None,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "wait_for_text", StepContext.wait_for_text, name, prompt, timeout, timeout_value
        )

    def wait_for_form(  # type: ignore[override]
        self,
        name: str,
        fields: Mapping[str, str],
        prompt: str | None = None,
        timeout: Duration | None = None,
        timeout_value: Any = NO_VALUE,
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "wait_for_form", StepContext.wait_for_form, name, fields, prompt, timeout, timeout_value
        )

    def start_child(  # type: ignore[override]
        self,
        workflow: type[Workflow] | str,
        input: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
    ) -> Coroutine[Any, Any, str]:
        return self._later(  # type: ignore[no-any-return]
            "start_child", StepContext.start_child, workflow, input, queue=queue
        )

    def run_child(  # type: ignore[override]
        self,
        workflow: type[Workflow] | str,
        input: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        timeout: Duration | None = None,
    ) -> Coroutine[Any, Any, Any]:
        return self._later(  # type: ignore[no-any-return]
            "run_child", StepContext.run_child, workflow, input, queue=queue, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"<AsyncStepContext {self.workflow} {self.execution_id} step={self.step!r}>"


async def _in_worker_thread(call: Callable[[], T], one_at_a_time: asyncio.Lock) -> T:
    """Run `call` in the loop's default executor, with this task's context variables (the
    step's output capture among them). The calls of one attempt share the execution's
    connection and number its waits by position: they run one at a time, in the order
    they are awaited (`asyncio.gather` of two waits runs them one after the other)."""
    async with one_at_a_time:
        return await _off_the_loop(call)


async def _off_the_loop(call: Callable[[], T]) -> T:
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, contextvars.copy_context().run, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # The call uses the execution's database connection: the step's cancellation (its
        # timeout) lands only once the call is over, or the engine, going on with the
        # attempt's ending, would use the connection at the same time.
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: its outcome no longer matters
        raise


def step_failure(view: AsyncStepContext) -> DurableError | None:
    """The error of an attempt that created waits or child calls without awaiting them."""
    names = view.unawaited()
    if not names:
        return None
    shown = ", ".join(f"ctx.{name}(...)" for name in names)
    return DurableError(
        f"step {view.step!r} called {shown} without await: in an async step the waits and "
        f"child calls are coroutines; write `await ctx.{names[0]}(...)`"
    )
