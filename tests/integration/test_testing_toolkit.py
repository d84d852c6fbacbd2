"""durable_celery.testing used as a user would: children and fan-out run inline, the
in-process worker and the worker subprocess run a started workflow, and the clock moves
the rate-limit windows (arrays of times) too."""

from __future__ import annotations

import pytest

from durable_celery import ExecutionStatus, cancel
from durable_celery.testing import (
    InlineRuntime,
    VirtualClock,
    assert_step_ran,
    run_inline,
    timeline,
)
from durable_celery.time import days, hours, seconds
from tests.integration.flows_toolkit import Trial
from tests.integration.flows_toolkit_parts import Campaign, Greeting, Prices, Reminder


def test_children_run_inline_and_wake_their_parent(durable_db):
    clock = VirtualClock()
    run = run_inline(Campaign, {"people": ["ann", "ben"]}, clock=clock)
    assert run.status() is ExecutionStatus.WAITING  # on its child, asleep for a day

    clock.advance(hours(23))
    assert run.status() is ExecutionStatus.WAITING
    clock.advance(hours(1))
    assert run.result() == ["reminded boss", 2]
    assert_step_ran(run, "remind", times=1, status="completed")


def test_fan_out_items_and_their_retry_timers_run_inline(durable_db):
    clock = VirtualClock()
    run = run_inline(Prices, clock=clock)
    assert run.status() is ExecutionStatus.WAITING  # item 2 waits for its retry

    clock.advance(seconds(30))
    assert run.result() == {"total": 60, "_weather": "sunny", "_traffic": "light"}
    assert_step_ran(run, "price", times=1)
    assert_step_ran(run, "total", times=1, status="completed")


def test_the_test_drives_eagerly_and_the_clock_can_be_bound_later(durable_db):
    run = run_inline(Reminder, {"who": "cat"})
    clock = VirtualClock()  # unbound: acts on the current runtime, now inline
    assert isinstance(clock.runtime, InlineRuntime)
    before = clock.now()
    clock.advance(days(2))
    assert clock.advanced == days(2)
    assert clock.now() - before >= days(2)
    assert run.result() == "reminded cat"

    other = run_inline(Trial, {"user": "eve"})
    cancel(other.id)  # eager, like send_event: ends before cancel returns
    assert other.status() is ExecutionStatus.CANCELLED
    assert [attempt.step for attempt in timeline(other)] == ["welcome"]  # slept, never woke


def test_assert_step_ran_says_what_did_run(durable_db):
    run = run_inline(Trial, {"user": "fay"})
    with pytest.raises(AssertionError) as failed:
        assert_step_ran(run, "charge")
    assert str(failed.value) == (
        "step 'charge' ran 0 times, expected at least once; ran: welcome#1 completed"
    )


def test_the_in_process_worker_runs_a_started_workflow(durable_worker):
    handle = Greeting.start_durable({"name": "worker"})
    assert handle.result(timeout=30) == "hello, worker"
    [attempt] = timeline(handle)
    assert attempt.status == "completed"


@pytest.fixture()
def durable_worker_options():
    return {"queues": ["toolkit"]}


def test_a_worker_subprocess_runs_a_started_workflow(durable_worker_process):
    worker = durable_worker_process(queues=["toolkit"], concurrency=1, pool="solo")
    handle = Greeting.start_durable({"name": "subprocess"})
    try:
        assert handle.result(timeout=60) == "hello, subprocess"
    except Exception:
        print(worker.log_tail())
        raise
    assert worker.alive()


def test_a_used_database_comes_back_empty_for_the_next_test(durable_app):
    """durable_db hands a copy a test is done with to a later test, emptied: what the
    first test left must be gone, and the copy still works."""
    from durable_celery import count_executions
    from durable_celery.testing.databases import DatabasePool
    from tests.integration.conftest import servers

    pool = DatabasePool(servers().server_url + "/durable_recycled", ahead=1)
    try:
        with pool.database(durable_app) as first:
            run_inline(Greeting, {"name": "ann"})
            assert count_executions() == {ExecutionStatus.COMPLETED: 1}
        with pool.database(durable_app) as second:
            assert second.url == first.url  # the same copy, emptied
            assert count_executions() == {}
            assert run_inline(Greeting, {"name": "ben"}).status() is ExecutionStatus.COMPLETED
    finally:
        pool.close()
