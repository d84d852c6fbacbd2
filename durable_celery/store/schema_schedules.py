"""The scheduled_workflows table, on the metadata of store/schema.py."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from durable_celery.states import (
    MisfirePolicy,
    OverlapPolicy,
    ScheduleOrigin,
    ScheduleStatus,
    TriggerKind,
)
from durable_celery.store.schema import metadata, now_default, one_of

scheduled_workflows = Table(
    "scheduled_workflows",
    metadata,
    Column("key", Text, primary_key=True),
    Column("workflow", Text, nullable=False),
    # When it fires: a cron expression in `timezone`, or an interval in seconds.
    Column("trigger_kind", Text, nullable=False),
    Column("expression", Text, nullable=False),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    Column("input", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("queue", Text),
    Column("overlap", Text, nullable=False, server_default=text("'allow'")),
    Column("misfire", Text, nullable=False, server_default=text("'coalesce'")),
    Column("misfire_grace", Float, nullable=False, server_default=text("15")),
    Column("catch_up_limit", Integer, nullable=False, server_default=text("10")),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    Column("origin", Text, nullable=False, server_default=text("'api'")),
    Column("next_fire_at", DateTime(timezone=True), nullable=False),
    Column("last_fire_at", DateTime(timezone=True)),
    Column("last_execution_id", UUID(as_uuid=False)),
    # Why the last fire started nothing (an unknown workflow, say); NULL once one starts.
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    CheckConstraint(one_of("trigger_kind", TriggerKind), name="trigger_kind"),
    CheckConstraint(one_of("overlap", OverlapPolicy), name="overlap"),
    CheckConstraint(one_of("misfire", MisfirePolicy), name="misfire"),
    CheckConstraint(one_of("status", ScheduleStatus), name="status"),
    CheckConstraint(one_of("origin", ScheduleOrigin), name="origin"),
    Index(
        "ix_scheduled_workflows_due",
        "next_fire_at",
        postgresql_where=text("status = 'active'"),
    ),
)
