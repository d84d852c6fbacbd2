"""An existing Celery app of a user, made durable with `install()`."""

from __future__ import annotations

import os

from celery import Celery

import durable_celery

app = Celery("userapp", broker=os.environ["CELERY_BROKER_URL"])
app.conf.update(task_serializer="json", accept_content=["json"], worker_hijack_root_logger=False)


@app.task(name="userapp.add")
def add(x: int, y: int) -> int:
    return x + y


durable_celery.install(
    app,
    database_url=os.environ["DURABLE_DATABASE_URL"],
    workflows=["tests.integration.flows"],
    poll_interval=0.5,
)
