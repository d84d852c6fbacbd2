"""Async steps without services: what a declaration accepts and refuses, and the event
loop helper (one loop per process, reused; errors propagate; a timeout cancels the
coroutine and the cancellation lands before the caller goes on)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from durable_celery import (
    AsyncStepContext,
    DurableError,
    StepContext,
    Workflow,
    WorkflowDefinitionError,
    branch,
    compensation,
    decision,
    each,
    parallel,
    step,
    task_step,
)
from durable_celery.dsl.async_context import is_async
from durable_celery.engine import aio, capture
from durable_celery.engine.interrupts import Suspend
from durable_celery.engine.timeouts import DeadlinePassed, Limit, StepTimedOut
from durable_celery.states import Suspension, WaitKind

# --- declarations -------------------------------------------------------------------------


def test_async_steps_decisions_items_and_compensations_are_accepted() -> None:
    async def branch_a(ctx: StepContext) -> int:
        return 1

    class Mixed(Workflow):
        name = "tests.async.declared"

        @step
        def plain(ctx: StepContext) -> int:
            return 1

        @step(timeout=5, compensate="undo")
        async def fetch(ctx: AsyncStepContext) -> int:
            return 2

        @decision
        async def route(ctx: AsyncStepContext) -> str | None:
            return None

        @each(items=lambda ctx: [1, 2])
        async def per_item(ctx: AsyncStepContext, item: int) -> int:
            return item

        both = parallel(branch_a)

        @compensation
        async def undo(ctx: AsyncStepContext) -> None:
            return None

    assert not is_async(Mixed.step_spec("plain").fn)  # type: ignore[union-attr]
    for name in ("fetch", "route", "per_item", "undo", "both"):
        assert is_async(Mixed.step_spec(name).fn), name  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("decorate", "message"),
    [
        (
            step,
            "workflow 'tests.async.refused', step 'gen': the function is an async generator "
            "function (async def with yield); use a plain function or an async def that "
            "returns its output",
        ),
        (
            compensation,
            "workflow 'tests.async.refused', step 'gen': the function is an async generator "
            "function (async def with yield); use a plain function or an async def that "
            "returns its output",
        ),
    ],
)
def test_an_async_generator_step_is_refused_with_an_exact_message(
    decorate: Any, message: str
) -> None:
    with pytest.raises(WorkflowDefinitionError) as raised:

        class Refused(Workflow):
            name = "tests.async.refused"

            @decorate
            async def gen(ctx: StepContext) -> Any:
                yield 1

    assert str(raised.value) == message


def test_a_generator_step_is_refused_too() -> None:
    with pytest.raises(WorkflowDefinitionError) as raised:

        class Refused(Workflow):
            name = "tests.async.refused_sync_gen"

            @step
            def gen(ctx: StepContext) -> Any:
                yield 1

    assert str(raised.value) == (
        "workflow 'tests.async.refused_sync_gen', step 'gen': the function is a generator "
        "function (def with yield); use a plain function or an async def that returns its "
        "output"
    )


def test_async_generator_items_and_branches_are_refused() -> None:
    async def items(ctx: StepContext) -> Any:
        yield 1

    with pytest.raises(WorkflowDefinitionError) as raised:

        class RefusedItems(Workflow):
            name = "tests.async.refused_items"

            @each(items=items)
            async def per_item(ctx: StepContext, item: int) -> int:
                return item

    assert str(raised.value).startswith(
        "workflow 'tests.async.refused_items', step 'per_item': items is an async generator "
        "function"
    )

    async def streamed(ctx: StepContext) -> Any:
        yield 1

    with pytest.raises(WorkflowDefinitionError) as raised:

        class RefusedBranch(Workflow):
            name = "tests.async.refused_branch"
            both = parallel(streamed)

    assert str(raised.value).startswith(
        "workflow 'tests.async.refused_branch', step 'both': branch 'streamed' is an async "
        "generator function"
    )


def test_an_async_branch_has_its_returned_cases_checked() -> None:
    with pytest.raises(WorkflowDefinitionError, match="can return 'nowhere'"):

        class Checked(Workflow):
            name = "tests.async.branch_targets"

            @branch
            async def pick(ctx: StepContext) -> str:
                return "nowhere"

            @pick.case("here")
            def here(ctx: StepContext) -> None: ...


def test_task_step_stays_sync() -> None:
    class Task:
        name = "tests.async.task"

        def __call__(self, **kwargs: Any) -> int:
            return 1

    assert not is_async(task_step(Task()).fn)


# --- the loop helper ----------------------------------------------------------------------


def test_one_loop_per_process_reused_by_every_coroutine() -> None:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first = aio.run(which)
    assert aio.run(which) is first
    assert aio.event_loop() is first
    # Run from other threads too (a threads pool): still the same loop.
    seen: list[asyncio.AbstractEventLoop] = []
    threads = [threading.Thread(target=lambda: seen.append(aio.run(which))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [first] * 4


def _child_loop(parent_loop_id: int, answers: Any) -> None:
    async def which() -> int:
        return id(asyncio.get_running_loop())

    answers.put((id(aio.event_loop()) != parent_loop_id, aio.run(which) == id(aio.event_loop())))


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
def test_a_forked_child_makes_a_loop_of_its_own() -> None:
    parent = aio.event_loop()
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_child_loop, args=(id(parent), answers))
    child.start()
    own_loop, runs_on_it = answers.get(timeout=30)
    child.join(30)
    assert own_loop and runs_on_it
    assert child.exitcode == 0


class Boom(Exception):
    pass


def test_a_coroutines_exception_propagates_to_the_caller() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise Boom("bad")

    with pytest.raises(Boom, match="bad"):
        aio.run(fails)


def test_a_suspend_and_a_system_exit_reach_the_caller_and_the_loop_survives() -> None:
    async def suspends() -> None:
        raise Suspend(Suspension.EVENT)

    async def exits() -> None:
        raise SystemExit(3)

    with pytest.raises(Suspend):
        aio.run(suspends)
    with pytest.raises(SystemExit):
        aio.run(exits)

    async def fine() -> str:
        return "ok"

    assert aio.run(fine) == "ok"


def test_a_timeout_cancels_the_coroutine_and_the_cancellation_lands_first() -> None:
    observed = threading.Event()
    cleaned = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            observed.set()
            await asyncio.sleep(0.1)  # cleanup that awaits: still done before the caller
            cleaned.set()
            raise

    with pytest.raises(StepTimedOut) as raised:
        aio.run(forever, 0.2, Limit.STEP_TIMEOUT)
    assert raised.value.limit is Limit.STEP_TIMEOUT
    assert observed.is_set() and cleaned.is_set()


def test_the_deadline_interrupts_as_the_deadline_and_a_past_one_runs_nothing() -> None:
    ran = threading.Event()

    async def forever() -> None:
        ran.set()
        await asyncio.sleep(60)

    with pytest.raises(DeadlinePassed):
        aio.run(forever, 0.1, Limit.DEADLINE)
    ran.clear()
    with pytest.raises(DeadlinePassed):
        aio.run(forever, 0, Limit.DEADLINE)
    assert not ran.is_set()


def test_coroutines_submitted_from_many_threads_await_concurrently() -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    all_in = threading.Event()

    async def nap() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == 20:
                all_in.set()
        # Returns once all twenty are in, or after 10 s: twenty at once on one loop.
        await asyncio.get_running_loop().run_in_executor(None, all_in.wait, 10)
        with lock:
            running -= 1

    threads = [threading.Thread(target=aio.run, args=(nap,)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 20


# --- aio.call: the step loop's call site --------------------------------------------------


class FakeWaits:
    """A WaitService: events answer "paid", or take `delay` s and raise Suspend."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.finished = threading.Event()

    def sleep(self, seconds: float | None, until: Any) -> None:
        raise Suspend(Suspension.SLEEP)

    def events(self, kind: WaitKind, names: list[str], *args: Any, **kwargs: Any) -> Any:
        if self.delay:
            time.sleep(self.delay)
            self.finished.set()
            raise Suspend(Suspension.EVENT)
        return {"event": names[0]}

    def input(self, *args: Any, **kwargs: Any) -> Any:
        return True


def context(waits: FakeWaits | None = None) -> StepContext:
    ctx = StepContext(execution_id="e1", workflow="w", input={"n": 1}, context={}, results={})
    ctx.enter("s", 1, waits=waits or FakeWaits())
    return ctx


def test_an_async_step_sees_the_same_context_and_awaits_its_waits() -> None:
    ctx = context()

    async def fetch(ctx: AsyncStepContext) -> Any:
        ctx.put("seen", ctx.input["n"])
        event = await ctx.wait_for_event("paid")
        approved = await ctx.wait_for_approval()
        return [event, approved, repr(ctx)]

    assert aio.call(fetch, ctx) == [{"event": "paid"}, True, "<AsyncStepContext w e1 step='s'>"]
    assert ctx.get("seen") == 1 and ctx.context_changes == 1


def test_a_wait_suspends_an_async_step_as_a_sync_one() -> None:
    async def sleeps(ctx: AsyncStepContext) -> None:
        await ctx.sleep(5)

    with pytest.raises(Suspend) as raised:
        aio.call(sleeps, context())
    assert raised.value.reason is Suspension.SLEEP


def test_a_wait_called_without_await_fails_the_attempt() -> None:
    async def forgets(ctx: AsyncStepContext) -> str:
        ctx.wait_for_event("paid")  # type: ignore[unused-coroutine]
        return "done"

    with pytest.raises(DurableError) as raised:
        aio.call(forgets, context())
    assert str(raised.value) == (
        "step 's' called ctx.wait_for_event(...) without await: in an async step the waits "
        "and child calls are coroutines; write `await ctx.wait_for_event(...)`"
    )


def test_a_timeout_lands_only_after_a_running_wait_is_done_with_the_connection() -> None:
    waits = FakeWaits(delay=0.5)

    async def waits_for_event(ctx: AsyncStepContext) -> None:
        await ctx.wait_for_event("paid")

    with pytest.raises(StepTimedOut):
        aio.call(waits_for_event, context(waits), seconds=0.1)
    assert waits.finished.is_set()


def test_sync_functions_run_in_the_calling_thread_and_a_hidden_coroutine_is_refused() -> None:
    assert aio.call(lambda ctx, item: (threading.get_ident(), item), context(), 7) == (
        threading.get_ident(),
        7,
    )

    async def later(ctx: StepContext) -> int:
        return 1

    with pytest.raises(DurableError, match="returned a coroutine but is not an async def"):
        aio.call(lambda ctx: later(ctx), context())


@pytest.fixture()
def captured_logging() -> Iterator[None]:
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    yield
    logging.getLogger().setLevel(level)


def test_an_async_steps_prints_and_logs_land_on_its_own_attempt(captured_logging: None) -> None:
    lines: dict[str, list[str]] = {"a": [], "b": []}
    both_in = threading.Barrier(2, timeout=10)

    def run(name: str) -> None:
        async def talks(ctx: AsyncStepContext) -> None:
            print(f"print of {name}")
            await asyncio.get_running_loop().run_in_executor(None, both_in.wait)
            logging.getLogger("user.code").info("log of %s", name)

        with capture.step_output(lines[name], 10_000):
            aio.call(talks, context())

    threads = [threading.Thread(target=run, args=(name,)) for name in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, other in (("a", "b"), ("b", "a")):
        assert f"STDOUT print of {name}" in lines[name]
        assert f"INFO user.code: log of {name}" in lines[name]
        assert not any(other in line for line in lines[name]), lines


def test_the_waits_of_one_step_never_run_at_the_same_time() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    class SlowWaits(FakeWaits):
        def events(self, kind: WaitKind, names: list[str], *args: Any, **kwargs: Any) -> Any:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            with lock:
                running -= 1
            return names[0]

    async def gathers(ctx: AsyncStepContext) -> Any:
        return await asyncio.gather(*(ctx.wait_for_event(name) for name in "abcd"))

    assert aio.call(gathers, context(SlowWaits())) == ["a", "b", "c", "d"]
    assert most == 1


def test_an_async_context_made_directly_works_for_testing_a_step() -> None:
    ctx = AsyncStepContext(execution_id="e1", workflow="w", input={}, context={}, results={})
    ctx.enter("s", 1, waits=FakeWaits())

    async def fetch(ctx: AsyncStepContext) -> Any:
        return await ctx.wait_for_event("paid")

    assert asyncio.run(fetch(ctx)) == {"event": "paid"}
