"""The Celery app of the RabbitMQ tests' worker: the bundled app's settings, with the
run's own queue as the default queue (so nothing it sends lands on a queue other users of
the machine's RabbitMQ consume), of the type DURABLE_TEST_RABBIT_QUEUE_TYPE (classic or
quorum), and without remote control (no pidbox queues)."""

from __future__ import annotations

import os

from durable_celery import install
from durable_celery.runtime import bundled_app
from tests.rabbitmq_node import queues_of

app = bundled_app()
queue = os.environ["DURABLE_TEST_RABBIT_QUEUE"]
app.conf.task_default_queue = queue
app.conf.task_queues = queues_of(queue, os.environ["DURABLE_TEST_RABBIT_QUEUE_TYPE"]) or None
app.conf.worker_enable_remote_control = False
install(app)
