"""The shop's Celery settings, as it had them before durable-celery (plus durable_*)."""

import os

from kombu import Queue

broker_url = os.environ.get("SHOP_BROKER_URL", "redis://localhost:6379/3")
task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
worker_hijack_root_logger = False
broker_connection_retry_on_startup = True

task_default_queue = "shop"
task_queues = [Queue("shop"), Queue("orders"), Queue("payments"), Queue("mail")]
task_routes = {
    "examples.shop.tasks.charge_card": {"queue": "payments"},
    "examples.shop.tasks.send_receipt": {"queue": "mail"},
    # Durable workflows are routed by "durable:<workflow name>", like tasks by their name.
    "durable:shop.*": {"queue": "orders"},
}

# durable-celery's settings are Celery settings too (or DURABLE_* environment variables).
durable_database_url = os.environ.get(
    "SHOP_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/shop"
)
