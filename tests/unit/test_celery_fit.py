"""Fitting an existing Celery app: routing, the command line's options, the retry policy a
task already declares, tasks as steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import Celery

import durable_celery as dc
from durable_celery import runtime as runtime_module
from durable_celery.cli import _parser
from durable_celery.dsl import retry_of, task_workflow


@pytest.fixture()
def shop(monkeypatch: pytest.MonkeyPatch) -> Celery:
    monkeypatch.setattr(runtime_module, "_current", None)  # install() makes it current
    app = Celery("shop", broker="memory://")
    app.conf.task_routes = {"durable:payments.*": {"queue": "payments"}, "shop.charge": "cards"}
    return app


class Pay(dc.Workflow):
    name = "payments.pay_one"

    @dc.step
    def pay(ctx: dc.StepContext) -> None: ...


class Ship(dc.Workflow):
    name = "shop.ship"

    @dc.step
    def ship(ctx: dc.StepContext) -> None: ...


class Pinned(dc.Workflow):
    name = "shop.pinned"
    queue = "pinned"

    @dc.step
    def only(ctx: dc.StepContext) -> None: ...


def test_wake_ups_follow_the_apps_default_queue_and_routes(shop):
    runtime = dc.install(shop, database_url="postgresql://u@h/shop")
    assert runtime.queue_for(Ship) == "celery"  # the app's task_default_queue
    assert runtime.queue_for(Pay) == "payments"  # task_routes for "durable:payments.*"
    assert runtime.queue_for(Pinned) == "pinned"  # the workflow's own queue
    assert runtime.queue_for(Pay, "urgent") == "urgent"  # the start's queue=
    shop.conf.task_default_queue = "shop"
    assert runtime.queue_for(Ship) == "shop"


def test_every_task_of_an_installed_app_can_run_durably(shop):
    @shop.task(name="shop.charge", autoretry_for=(TimeoutError,), retry_backoff=True)
    def charge(order: str) -> str:
        return order

    runtime = dc.install(shop, database_url="postgresql://u@h/shop")
    assert callable(charge.start_durable) and callable(charge.apply_durable)
    workflow = task_workflow(charge)
    assert workflow.name == "task:shop.charge"
    assert workflow is dc.get_workflow("task:shop.charge")
    assert runtime.queue_for(workflow) == "cards"  # where the app routes the task itself


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, dc.Retry()),
        (
            {"autoretry_for": (IOError,), "retry_backoff": True, "retry_jitter": False},
            dc.Retry(
                max_attempts=4,
                backoff="exponential",
                base=1,
                max_delay=600,
                jitter=False,
                retry_on=(IOError,),
            ),
        ),
        (
            {
                "autoretry_for": (IOError,),
                "retry_backoff": 5,
                "retry_backoff_max": 60,
                "max_retries": 9,
                "dont_autoretry_for": (FileNotFoundError,),
            },
            dc.Retry(
                max_attempts=10,
                backoff="exponential",
                base=5,
                max_delay=60,
                jitter=True,
                retry_on=(IOError,),
                give_up_on=(FileNotFoundError,),
            ),
        ),
        (
            {"autoretry_for": (IOError,), "retry_kwargs": {"max_retries": 2, "countdown": 7}},
            dc.Retry(
                max_attempts=3,
                backoff="constant",
                base=7,
                max_delay=7,
                jitter=False,
                retry_on=(IOError,),
            ),
        ),
    ],
)
def test_a_tasks_retry_policy_becomes_its_durable_retry(shop, options, expected):
    def work() -> None: ...

    task = shop.task(name=f"shop.t{abs(hash(str(options)))}", **options)(work)
    assert retry_of(task) == expected


def test_a_task_step_is_named_by_its_attribute_and_called_with_the_input(shop):
    seen: list[tuple[tuple[object, ...], dict[str, object]]] = []

    @shop.task(name="shop.receipt", autoretry_for=(IOError,), max_retries=1)
    def send_receipt(*args: object, **kwargs: object) -> str:
        seen.append((args, kwargs))
        return "sent"

    class Receipts(dc.Workflow):
        name = "shop.receipts"
        receipt = dc.task_step(send_receipt)
        reminder = dc.task_step(send_receipt, args=lambda ctx: (ctx.input["order"],))

    assert Receipts.step_names() == ["receipt", "reminder"]
    spec = Receipts.step_spec("receipt")
    assert spec is not None and spec.retry.max_attempts == 2
    ctx = dc.StepContext(
        execution_id="x", workflow="shop.receipts", input={"order": "A-1"}, context={}, results={}
    )
    assert spec.fn(ctx) == "sent"
    reminder = Receipts.step_spec("reminder")
    assert reminder is not None and reminder.fn(ctx) == "sent"
    assert seen == [((), {"order": "A-1"}), (("A-1",), {})]


def test_options_go_before_or_after_the_command():
    parser = _parser(takes_app=True)
    before = parser.parse_args(["-A", "shop", "--database-url", "postgresql://h/db", "migrate"])
    after = parser.parse_args(["migrate", "-A", "shop", "--database-url", "postgresql://h/db"])
    for args in (before, after):
        assert (args.app, args.database_url, args.revision) == ("shop", "postgresql://h/db", "head")
    assert not hasattr(parser.parse_args(["list"]), "app")


def test_a_retry_jitters_by_default_and_counts_the_first_attempt():
    policy = dc.Retry(max_attempts=3, base=10, backoff="constant")
    assert policy.jitter
    delays = {policy.delay_after(1) for _ in range(50)}
    assert all(timedelta(seconds=5) <= delay <= timedelta(seconds=10) for delay in delays)
    assert len(delays) > 1
    assert policy.should_retry(OSError(), 2) and not policy.should_retry(OSError(), 3)
