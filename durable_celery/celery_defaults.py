"""Celery settings of the bundled app, when no `celeryconfig` module is on the path. The
repository's `celeryconfig.py` star-imports them. Celery itself lets CELERY_BROKER_URL
and CELERY_RESULT_BACKEND in the environment override the broker and result backend;
durable_* settings are read by durable_celery.config.
"""

from __future__ import annotations

broker_url = "redis://localhost:6379/0"
broker_connection_retry_on_startup = True
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
task_default_queue = "default"
worker_prefetch_multiplier = 4
worker_hijack_root_logger = False
timezone = "UTC"
enable_utc = True
worker_send_task_events = False
