"""An ordinary Celery app (its own queues, routes, tasks and Alembic migrations) that adds
durable workflows: see examples/shop/celery.py, the README's "Adding durable-celery to an
existing Celery app", and tests/integration/test_shop.py, which runs it.

    celery -A examples.shop worker -B
"""

from examples.shop.celery import app

__all__ = ["app"]
