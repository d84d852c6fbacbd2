"""Every table of durable-celery on one metadata: the core tables (store/schema.py), the
flow-control tables and triggers (store/schema_limits.py) and the schedules
(store/schema_schedules.py). The Alembic revisions must produce exactly this schema;
import `metadata` from here wherever the whole schema is meant."""

from __future__ import annotations

from durable_celery.store import schema_limits, schema_schedules
from durable_celery.store.schema import metadata

__all__ = ["metadata", "schema_limits", "schema_schedules"]
