"""Testing a workflow with durable_celery.testing, as a user would: README's "Testing
your workflows" shows this file as it is. Enable the plugin with
`-p durable_celery.testing` (or its entry point) for the `durable_db` fixture."""

from durable_celery import ExecutionStatus, list_pending_inputs, provide_input, send_event
from durable_celery.testing import VirtualClock, assert_step_ran, run_inline, timeline
from durable_celery.time import days, hours, minutes
from tests.integration.flows_toolkit import Trial


def test_the_bank_confirms_after_the_trial(durable_db):
    clock = VirtualClock()
    run = run_inline(Trial, {"user": "ada"}, clock=clock)
    assert run.status() is ExecutionStatus.WAITING  # asleep for 30 days

    clock.advance(days(30))
    assert run.status() is ExecutionStatus.WAITING  # charged, waiting for the bank

    send_event(run.id, "bank.confirmed", {"ref": "b-1"})
    assert run.result() == "confirmed"
    assert_step_ran(run, "charge", times=1)


def test_a_declined_card_is_retried_with_exponential_backoff(durable_db):
    clock = VirtualClock()
    run = run_inline(Trial, {"user": "bob", "declines": 2}, clock=clock)
    clock.advance(days(30))
    assert_step_ran(run, "charge", times=1)
    assert run.status() is ExecutionStatus.PENDING  # retried in 1 minute

    clock.advance(minutes(1))
    assert_step_ran(run, "charge", times=2)  # retried in 2 minutes now
    clock.advance(minutes(1))
    assert_step_ran(run, "charge", times=2)
    clock.advance(minutes(1))
    assert_step_ran(run, "charge", times=3)
    assert_step_ran(run, "charge", times=1, status="completed")

    send_event(run.id, "bank.confirmed", {"ref": "b-2"})
    assert run.result() == "confirmed"


def test_a_charge_the_bank_never_confirms_goes_to_a_human(durable_db):
    clock = VirtualClock()
    run = run_inline(Trial, {"user": "cy"}, clock=clock)
    clock.advance(days(30) + hours(24))  # the trial, then a day without the bank

    [question] = list_pending_inputs(execution_id=run.id)
    assert question.prompt == "The bank never confirmed the charge: keep it?"
    provide_input(run.id, "approval", False)

    assert run.result() == "refunded"
    assert [(attempt.step, attempt.status) for attempt in timeline(run)] == [
        ("welcome", "completed"),
        ("trial_period", "completed"),
        ("charge", "completed"),
        ("bank_confirmation", "completed"),
        ("review", "completed"),
    ]


def test_an_unanswered_review_ends_at_the_deadline(durable_db):
    clock = VirtualClock()
    run = run_inline(Trial, {"user": "dan"}, clock=clock)
    clock.advance(days(31))
    assert run.status() is ExecutionStatus.WAITING  # for the human

    clock.advance(days(29))
    assert run.status() is ExecutionStatus.TIMED_OUT
