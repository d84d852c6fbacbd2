"""The Celery app of the RabbitMQ tests' worker: the bundled app's settings, with the
run's own queue as the default queue (so nothing it sends lands on a queue other users of
the machine's RabbitMQ consume) and without remote control (no pidbox queues)."""

from __future__ import annotations

import os

from durable_celery import install
from durable_celery.runtime import bundled_app

app = bundled_app()
app.conf.task_default_queue = os.environ["DURABLE_TEST_RABBIT_QUEUE"]
app.conf.worker_enable_remote_control = False
install(app)
