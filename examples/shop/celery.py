"""The shop's Celery app. The last two lines are all it takes to add durable workflows."""

from celery import Celery

import durable_celery

app = Celery("shop", include=["examples.shop.tasks"])
app.config_from_object("examples.shop.celeryconfig")

durable_celery.install(app, workflows=["examples.shop.workflows"])
