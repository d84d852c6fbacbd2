"""Defaults of the bundled Celery app. The repository's `celeryconfig.py` star-imports
these; every value can be overridden by the environment variable named beside it."""

from __future__ import annotations

import os

broker_url = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
broker_connection_retry_on_startup = True
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
result_backend = os.environ.get("CELERY_RESULT_BACKEND") or None
task_default_queue = os.environ.get("CELERY_DEFAULT_QUEUE", "default")
worker_prefetch_multiplier = int(os.environ.get("CELERY_WORKER_PREFETCH_MULTIPLIER", "4"))
worker_hijack_root_logger = False
timezone = "UTC"
enable_utc = True
worker_send_task_events = False

durable_database_url = os.environ.get("DURABLE_DATABASE_URL")
durable_workflow_modules = os.environ.get("DURABLE_WORKFLOW_MODULES")
durable_schema = os.environ.get("DURABLE_SCHEMA")
durable_poll_interval = os.environ.get("DURABLE_POLL_INTERVAL")
durable_stale_lock_timeout = os.environ.get("DURABLE_STALE_LOCK_TIMEOUT")
durable_heartbeat_interval = os.environ.get("DURABLE_HEARTBEAT_INTERVAL")
durable_max_payload_bytes = os.environ.get("DURABLE_MAX_PAYLOAD_BYTES")
durable_dispatch_grace = os.environ.get("DURABLE_DISPATCH_GRACE")
durable_recovery_interval = os.environ.get("DURABLE_RECOVERY_INTERVAL")
durable_poll_batch_size = os.environ.get("DURABLE_POLL_BATCH_SIZE")
durable_maintenance_queue = os.environ.get("DURABLE_MAINTENANCE_QUEUE")
