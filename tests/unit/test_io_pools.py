"""I/O-bound pools without services: the connection pool's size, one heartbeat statement
for all of a process's claims, and step timeouts that interrupt a step in a thread or a
greenlet (and never land after the step's block)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from durable_celery import config
from durable_celery.config import Settings, database_pool
from durable_celery.engine import heartbeat as heartbeat_module
from durable_celery.engine.heartbeat import Heartbeat
from durable_celery.engine.timeouts import (
    DeadlinePassed,
    Interrupted,
    Limit,
    StepTimedOut,
    ThreadAlarm,
    alarms,
    time_limit,
)
from durable_celery.errors import ConfigurationError
from durable_celery.states import WakeTarget

# --- the pool size -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -3, 2.5, "many", "nan"])
def test_a_bad_pool_size_is_a_configuration_error(value: Any) -> None:
    expected = (
        f"durable_db_pool_size must be a whole number >= 1, got {value!r}"
        if value not in ("many", "nan")
        else None
    )
    with pytest.raises(ConfigurationError) as raised:
        Settings.resolve({}, {}, db_pool_size=value)
    if expected is not None:
        assert str(raised.value) == expected
    else:
        assert str(raised.value).startswith("durable_db_pool_size must be a")


def test_the_pool_size_comes_from_install_then_config_then_environment() -> None:
    environ = {"DURABLE_DB_POOL_SIZE": "40"}
    assert Settings.resolve({}, environ).db_pool_size == 40
    assert Settings.resolve({"durable_db_pool_size": 30}, environ).db_pool_size == 30
    assert (
        Settings.resolve({"durable_db_pool_size": 30}, environ, db_pool_size=20).db_pool_size == 20
    )
    assert Settings.resolve({}, {}).db_pool_size is None


class FakeWorker:
    def __init__(self, concurrency: Any, max_concurrency: Any = None) -> None:
        self.concurrency = concurrency
        self.max_concurrency = max_concurrency


@pytest.fixture()
def no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_worker", None)
    monkeypatch.setattr(config, "_one_task_at_a_time", False)


def test_outside_a_worker_the_pool_is_the_usual_five_plus_ten(no_worker: None) -> None:
    assert config.worker_tasks_at_once() is None
    assert database_pool(Settings()) == (5, 10)


def test_a_threads_worker_gets_its_concurrency_plus_a_margin(no_worker: None) -> None:
    from celery.signals import worker_init

    worker_init.send(sender=FakeWorker(100))
    assert config.worker_tasks_at_once() == 100
    assert database_pool(Settings()) == (102, 102)
    config._on_worker_init(sender=FakeWorker(10, max_concurrency=150))  # --autoscale=150,10
    assert database_pool(Settings()) == (152, 152)
    config._on_worker_init(sender=FakeWorker("auto"))  # not resolved yet: not a worker size
    assert database_pool(Settings()) == (5, 10)


def test_a_prefork_child_runs_one_task_at_a_time(no_worker: None) -> None:
    config._on_worker_init(sender=FakeWorker(2))
    assert database_pool(Settings()) == (4, 10)  # the prefork parent: runs no task itself
    config._on_worker_process_init()  # sent in each child after the fork
    assert config.worker_tasks_at_once() == 1
    # Never more than the 5 + 10 of before: 3 kept, up to 10 more for a moment.
    assert database_pool(Settings()) == (3, 10)


def test_the_setting_wins_over_the_worker(no_worker: None) -> None:
    config._on_worker_init(sender=FakeWorker(100))
    assert database_pool(Settings(db_pool_size=20)) == (20, 20)
    assert database_pool(Settings(db_pool_size=4)) == (4, 10)


def test_the_engine_is_made_with_that_pool(no_worker: None) -> None:
    from durable_celery.store.connections import _create_engine

    config._on_worker_init(sender=FakeWorker(100))
    engine = _create_engine(Settings(database_url="postgresql://u@127.0.0.1:1/x"))
    try:
        assert engine.pool.size() == 102  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 102  # type: ignore[attr-defined]
    finally:
        engine.dispose()


# --- one heartbeat statement per kind for all claims --------------------------------------


class Statements:
    """Stands in for the database: records each heartbeat statement, answers alive."""

    def __init__(self) -> None:
        self.calls: list[tuple[WakeTarget, list[tuple[str, str]]]] = []
        self.taken_back: set[str] = set()
        self.during: Any = None

    def heartbeat(self, conn: object, kind: WakeTarget, claims: list[tuple[str, str]]) -> set[str]:
        if not claims:
            return set()
        self.calls.append((kind, list(claims)))
        if self.during is not None:
            self.during()
        return {row_id for row_id, _ in claims if row_id not in self.taken_back}


@pytest.fixture()
def statements(monkeypatch: pytest.MonkeyPatch) -> Statements:
    fake = Statements()

    @contextmanager
    def transaction(database: object) -> Iterator[object]:
        yield object()

    monkeypatch.setattr(heartbeat_module, "engine_for", lambda settings: object())
    monkeypatch.setattr(heartbeat_module, "transaction", transaction)
    monkeypatch.setattr(heartbeat_module.sweeps, "heartbeat", fake.heartbeat)
    # The round is driven by the test, never by the thread.
    monkeypatch.setattr(Heartbeat, "_ensure_thread", lambda self: None)
    return fake


def test_one_statement_per_kind_refreshes_the_claims_of_100_threads(statements: Statements) -> None:
    beats = Heartbeat(Settings())
    all_held = threading.Barrier(101)
    release = threading.Event()

    def run(index: int) -> None:
        kind = WakeTarget.ITEM if index % 4 == 0 else WakeTarget.EXECUTION
        with beats.hold(kind, f"row-{index}", f"token-{index}"):
            all_held.wait(10)
            release.wait(10)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    all_held.wait(10)
    beats.beat()
    release.set()
    for thread in threads:
        thread.join(10)
    assert [kind for kind, _ in statements.calls] == [WakeTarget.EXECUTION, WakeTarget.ITEM]
    assert {len(claims) for _, claims in statements.calls} == {75, 25}
    assert not any(beats.lost(WakeTarget.EXECUTION, f"row-{i}") for i in range(100))
    beats.beat()  # nothing held any more: no statement at all
    assert len(statements.calls) == 2


def test_a_claim_taken_back_is_lost_but_a_claim_taken_again_meanwhile_is_not(
    statements: Statements,
) -> None:
    beats = Heartbeat(Settings())
    kind = WakeTarget.EXECUTION
    statements.taken_back = {"a", "b"}
    with beats.hold(kind, "a", "t1"):
        beats.beat()
        assert beats.lost(kind, "a")

    second = beats.hold(kind, "b", "t1")
    second.__enter__()

    def let_go_and_claim_again() -> None:
        # While the round's statement runs: the run ends, and a new claim takes the row.
        second.__exit__(None, None, None)
        third.__enter__()

    third = beats.hold(kind, "b", "t2")
    statements.during = let_go_and_claim_again
    beats.beat()
    assert not beats.lost(kind, "b")
    third.__exit__(None, None, None)


def test_holding_and_beating_from_many_threads_at_once_leaves_nothing_behind(
    statements: Statements,
) -> None:
    beats = Heartbeat(Settings())
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn(index: int) -> None:
        try:
            for round_number in range(200):
                with beats.hold(WakeTarget.EXECUTION, f"r{index}", f"t{index}-{round_number}"):
                    assert not beats.lost(WakeTarget.EXECUTION, f"r{index}")
        except BaseException as error:
            errors.append(error)

    def beat_all_the_time() -> None:
        while not stop.is_set():
            beats.beat()

    beater = threading.Thread(target=beat_all_the_time)
    beater.start()
    threads = [threading.Thread(target=churn, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stop.set()
    beater.join(10)
    assert errors == []
    assert beats._held == {}
    assert statements.calls  # the rounds did run while the claims churned


# --- step timeouts in threads -------------------------------------------------------------


def in_thread(work: Any) -> Any:
    """Run `work` in a fresh (non-main) thread, as the threads pool does; return what it
    returned or raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("returned", work()))
        except BaseException as error:
            outcome.append(("raised", error))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert outcome, "the thread did not finish"
    return outcome[0]


def test_a_python_loop_in_a_thread_is_interrupted_at_its_timeout() -> None:
    def step() -> float:
        began = time.monotonic()
        try:
            with time_limit(0.3, Limit.STEP_TIMEOUT):
                while time.monotonic() - began < 10:
                    time.sleep(0.02)
        finally:
            elapsed = time.monotonic() - began
        return elapsed

    began = time.monotonic()
    kind, value = in_thread(step)
    assert kind == "raised" and isinstance(value, StepTimedOut)
    assert value.limit is Limit.STEP_TIMEOUT and isinstance(value, Interrupted)
    assert time.monotonic() - began < 3


def test_the_deadline_interrupts_with_its_own_limit() -> None:
    def step() -> None:
        with time_limit(0.2, Limit.DEADLINE):
            while True:
                time.sleep(0.01)

    kind, value = in_thread(step)
    assert kind == "raised" and isinstance(value, DeadlinePassed)
    assert value.limit is Limit.DEADLINE


def test_a_step_that_swallows_it_or_blocks_in_one_c_call_is_interrupted_at_its_end() -> None:
    def swallows() -> None:
        with time_limit(0.1, Limit.STEP_TIMEOUT):
            try:
                while True:
                    time.sleep(0.01)
            except BaseException:
                pass

    def one_long_call() -> float:
        began = time.monotonic()
        try:
            with time_limit(0.1, Limit.STEP_TIMEOUT):
                time.sleep(0.6)  # one C call: the exception can only come when it returns
        finally:
            took = time.monotonic() - began
        return took

    kind, value = in_thread(swallows)
    assert kind == "raised" and isinstance(value, StepTimedOut)
    began = time.monotonic()
    kind, value = in_thread(one_long_call)
    assert kind == "raised" and isinstance(value, StepTimedOut)
    assert time.monotonic() - began >= 0.55


def test_a_step_that_ends_in_time_is_not_touched_and_leaves_no_alarm_behind() -> None:
    def many() -> int:
        for _ in range(2000):
            with time_limit(60, Limit.STEP_TIMEOUT):
                pass
        return alarms().pending()

    kind, value = in_thread(many)
    assert kind == "returned"
    assert value < 200  # cancelled alarms are compacted away, not kept for 60 s each


def test_the_exception_never_lands_after_the_block_was_left() -> None:
    """Steps that end right around their limit: the exception comes out of the `with`
    statement or not at all, never in the code after it (the engine's checkpoint)."""

    def busy(seconds: float) -> None:
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            pass

    def many() -> tuple[int, int]:
        interrupted = 0
        for round_number in range(300):
            limit = 0.001 + (round_number % 5) * 0.0005
            try:
                with time_limit(limit, Limit.STEP_TIMEOUT):
                    busy(limit * (0.6 + (round_number % 7) * 0.15))
            except Interrupted:
                interrupted += 1
            try:
                busy(0.003)  # "the checkpoint": many bytecodes, where a late one would land
            except Interrupted:
                return interrupted, 1
        return interrupted, 0

    kind, value = in_thread(many)
    assert kind == "returned", value
    interrupted, late = value
    assert late == 0
    assert 0 < interrupted < 300  # both sides of the race were exercised


def test_a_timer_that_fires_after_the_block_was_left_raises_nothing() -> None:
    def step() -> str:
        alarm = time_limit(60, Limit.STEP_TIMEOUT)
        assert isinstance(alarm, ThreadAlarm)
        with alarm:
            pass
        alarm.fire()  # the timer thread, a moment too late
        until = time.perf_counter() + 0.05
        while time.perf_counter() < until:  # where a late exception would land
            pass
        return "clean"

    assert in_thread(step) == ("returned", "clean")


def test_other_threads_are_never_interrupted() -> None:
    hits: list[BaseException] = []
    stop = threading.Event()

    def bystander() -> None:
        try:
            while not stop.is_set():
                time.sleep(0.001)
        except BaseException as error:
            hits.append(error)

    others = [threading.Thread(target=bystander) for _ in range(5)]
    for thread in others:
        thread.start()

    def step() -> None:
        with time_limit(0.1, Limit.STEP_TIMEOUT):
            while True:
                time.sleep(0.001)

    kind, value = in_thread(step)
    stop.set()
    for thread in others:
        thread.join(10)
    assert kind == "raised" and isinstance(value, StepTimedOut)
    assert hits == []


def test_in_a_thread_the_thread_alarm_is_used() -> None:
    assert in_thread(lambda: type(time_limit(1, Limit.STEP_TIMEOUT))) == ("returned", ThreadAlarm)


# --- the main thread (SIGALRM) and gevent, each in a fresh interpreter ---------------------


def run_python(source: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_in_the_main_thread_a_blocking_sleep_is_interrupted_by_the_signal() -> None:
    out = run_python(
        """
        import time
        from durable_celery.engine.timeouts import Interrupted, Limit, SignalAlarm, time_limit
        began = time.monotonic()
        assert isinstance(time_limit(1, Limit.STEP_TIMEOUT), SignalAlarm)
        try:
            with time_limit(0.2, Limit.STEP_TIMEOUT):
                time.sleep(10)
        except Interrupted as interrupted:
            print(interrupted.limit, round(time.monotonic() - began))
        """
    )
    assert out == "step_timeout 0"


def test_under_gevent_a_greenlet_is_interrupted_and_the_others_go_on() -> None:
    pytest.importorskip("gevent")
    out = run_python(
        """
        from gevent import monkey
        monkey.patch_all()
        import gevent, time
        from durable_celery.engine.timeouts import GeventAlarm, Interrupted, Limit, time_limit

        def step():
            assert isinstance(time_limit(1, Limit.STEP_TIMEOUT), GeventAlarm)
            began = time.monotonic()
            try:
                with time_limit(0.3, Limit.STEP_TIMEOUT):
                    while True:
                        time.sleep(0.05)
            except Interrupted as interrupted:
                return interrupted.limit, time.monotonic() - began

        def bystander():
            for _ in range(20):
                time.sleep(0.05)
            return "done"

        def in_time():
            with time_limit(0.3, Limit.STEP_TIMEOUT):
                time.sleep(0.1)
            time.sleep(0.5)  # after the block: the cancelled timer must not fire here
            return "clean"

        jobs = [gevent.spawn(step), gevent.spawn(bystander), gevent.spawn(in_time)]
        gevent.joinall(jobs, raise_error=True)
        (limit, took), other, clean = [job.value for job in jobs]
        print(limit, took < 1.5, other, clean)
        """
    )
    assert out == "step_timeout True done clean"
