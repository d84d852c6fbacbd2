"""The core tables (SQLAlchemy Core) and their metadata; store/tables.py gathers every
table (the flow-control and schedule tables live beside these). The Alembic revisions
must produce exactly that schema.

Tables carry no schema: `durable_schema` is applied through the connection's
search_path, so the same definitions and the same SQL serve every schema.
Hot-path indexes are partial, on live rows only, so finished history never slows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    TextClause,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from durable_celery.states import (
    STORED_EXECUTION_STATUSES,
    InputKind,
    InputStatus,
    ItemStatus,
    StepStatus,
    WaitKind,
    WaitStatus,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def one_of(column: str, values: Iterable[StrEnum]) -> str:
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


# Kept in the migration that creates the index, word for word.
DEBOUNCE_WINDOW_OPEN = "debounce_key IS NOT NULL AND status = 'pending' AND started_at IS NULL"


def now_default() -> TextClause:
    return text("now()")


workflow_executions = Table(
    "workflow_executions",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("workflow", Text, nullable=False),
    # The workflow class's `version` it started with: it runs on that class to the end.
    Column("workflow_version", Integer, nullable=False, server_default=text("1")),
    # The starting caller's W3C trace context (JSON text); NULL without tracing (0011).
    Column("trace_context", Text),
    Column("status", Text, nullable=False),
    Column("queue", Text, nullable=False),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("input", JSONB, nullable=False),
    Column("context", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("result", JSONB),
    Column("error", JSONB),
    # Position: the step to run next (or running now) and its attempt number.
    Column("current_step", Text),
    Column("step_attempt", Integer, nullable=False, server_default=text("0")),
    Column("step_runs", Integer, nullable=False, server_default=text("0")),
    Column("step_started_at", DateTime(timezone=True)),
    # Timer: a pending or waiting execution is due at run_at.
    Column("run_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    Column("dispatched_at", DateTime(timezone=True)),
    # Wake-ups the poller re-sent since the last claim: it waits longer before each one.
    Column("resends", Integer, nullable=False, server_default=text("0")),
    Column("deadline_at", DateTime(timezone=True)),
    # Claim: who runs it, fenced by lock_token; liveness by heartbeat_at.
    Column("lock_token", UUID(as_uuid=False)),
    Column("locked_by", Text),
    Column("locked_at", DateTime(timezone=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("idempotency_key", Text),
    Column(
        "parent_id",
        UUID(as_uuid=False),
        ForeignKey("workflow_executions.id", ondelete="SET NULL"),
    ),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    # Suspension: what a waiting execution waits for (states.Suspension).
    Column("suspended_on", Text),
    Column("fanout_seq", Integer),
    Column("fanout_remaining", Integer),
    Column("fanout_failed", Boolean, nullable=False, server_default=text("false")),
    # Saga: compensation steps still to run, in order; NULL outside compensation.
    Column("compensations", JSONB),
    Column("cancel_requested_at", DateTime(timezone=True)),
    # Something it waits for happened while it ran: do not suspend, run the step again.
    Column("wake_requested", Boolean, nullable=False, server_default=text("false")),
    # A child started with run_child: its ending wakes the parent.
    Column("wake_parent", Boolean, nullable=False, server_default=text("false")),
    # Started by a schedule: its key, and the fire time (not the start time).
    Column("schedule_key", Text),
    Column("scheduled_at", DateTime(timezone=True)),
    # Started with debounce: later starts with this key join it until a worker claims it.
    Column("debounce_key", Text),
    # Workflow-level Concurrency: the key (computed at start) and its limit; queued: it
    # found no free slot and waits for a holder's hand-over (not re-sent by the poller).
    Column("concurrency_key", Text),
    Column("concurrency_limit", Integer),
    Column("slot_queued", Boolean, nullable=False, server_default=text("false")),
    # A step's Concurrency: the key whose slot the current attempt holds (running only),
    # and the key a pending execution is queued for (woken by a holder's hand-over).
    Column("step_slot_key", Text),
    Column("step_queue_key", Text),
    CheckConstraint(one_of("status", STORED_EXECUTION_STATUSES), name="status"),
    Index(
        "ix_workflow_executions_due",
        "run_at",
        postgresql_where=text("status IN ('pending', 'waiting')"),
    ),
    Index(
        "ix_workflow_executions_claimed",
        "heartbeat_at",
        postgresql_where=text("status = 'running'"),
    ),
    Index(
        "ix_workflow_executions_deadline",
        "deadline_at",
        postgresql_where=text(
            "deadline_at IS NOT NULL AND status IN ('pending', 'running', 'waiting')"
        ),
    ),
    Index(
        "uq_workflow_executions_idempotency",
        "workflow",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    # The open debounce windows: pending executions no worker has claimed yet.
    Index(
        "uq_workflow_executions_debounce",
        "workflow",
        "debounce_key",
        unique=True,
        postgresql_where=text(DEBOUNCE_WINDOW_OPEN),
    ),
    Index(
        "ix_workflow_executions_parent",
        "parent_id",
        postgresql_where=text("parent_id IS NOT NULL"),
    ),
    Index(
        "ix_workflow_executions_schedule_live",
        "schedule_key",
        postgresql_where=text(
            "schedule_key IS NOT NULL AND status IN ('pending', 'running', 'waiting')"
        ),
    ),
    Index(
        "ix_workflow_executions_completed",
        "completed_at",
        postgresql_where=text("completed_at IS NOT NULL"),
    ),
    Index(
        "ix_workflow_executions_slot_queue",
        "concurrency_key",
        text("priority DESC"),
        "run_at",
        "created_at",
        postgresql_where=text("status = 'pending' AND slot_queued"),
    ),
    Index(
        "ix_workflow_executions_step_queue",
        "step_queue_key",
        text("priority DESC"),
        "run_at",
        "created_at",
        postgresql_where=text("status = 'pending' AND step_queue_key IS NOT NULL"),
    ),
    Index("ix_workflow_executions_workflow_created", "workflow", "created_at"),
    Index("ix_workflow_executions_status_created", "status", "created_at"),
    # Free space in each page lets the per-step checkpoint be a HOT update.
    postgresql_with={"fillfactor": 70},
)

step_executions = Table(
    "step_executions",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column(
        "execution_id",
        UUID(as_uuid=False),
        ForeignKey("workflow_executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("step_name", Text, nullable=False),
    # Order of step runs within the execution; loops give one step several sequences.
    Column("sequence", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("output", JSONB),
    Column("error", JSONB),
    Column("logs", JSONB),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Column("duration_ms", Float),
    Column("worker", Text),
    CheckConstraint(one_of("status", StepStatus), name="status"),
    Index("ix_step_executions_execution_id_sequence", "execution_id", "sequence", "attempt"),
)

step_items = Table(
    "step_items",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column(
        "execution_id",
        UUID(as_uuid=False),
        ForeignKey("workflow_executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("step_name", Text, nullable=False),
    # Which visit of the step fanned out (the execution's step_runs at that moment).
    Column("fanout_seq", Integer, nullable=False),
    Column("item_index", Integer, nullable=False),
    Column("item", JSONB),
    Column("status", Text, nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("0")),
    Column("queue", Text, nullable=False),
    Column("run_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    Column("dispatched_at", DateTime(timezone=True)),
    # Wake-ups the poller re-sent since the last claim: it waits longer before each one.
    Column("resends", Integer, nullable=False, server_default=text("0")),
    Column("lock_token", UUID(as_uuid=False)),
    Column("locked_by", Text),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("output", JSONB),
    Column("error", JSONB),
    Column("started_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("duration_ms", Float),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    CheckConstraint(one_of("status", ItemStatus), name="status"),
    Index("uq_step_items_position", "execution_id", "fanout_seq", "item_index", unique=True),
    Index("ix_step_items_due", "run_at", postgresql_where=text("status = 'pending'")),
    Index(
        "ix_step_items_queued",
        "execution_id",
        "fanout_seq",
        "item_index",
        postgresql_where=text("status = 'queued'"),
    ),
    Index("ix_step_items_claimed", "heartbeat_at", postgresql_where=text("status = 'running'")),
)

step_waits = Table(
    "step_waits",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column(
        "execution_id",
        UUID(as_uuid=False),
        ForeignKey("workflow_executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # A wait is identified by where it stands: the step, the step's visit (loops) and
    # its position among the waits of one run of the step.
    Column("step_name", Text, nullable=False),
    Column("visit", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("names", JSONB),
    Column("wake_at", DateTime(timezone=True)),
    Column("deadline_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False, server_default=text("'waiting'")),
    # Events received so far, {name: payload}; the answer of an input, {name: value}.
    Column("value", JSONB),
    # A wait_for_event's correlation key ('' when it has none: it also takes publish_event
    # without a key); NULL for every other kind of wait.
    Column("event_key", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    Column("resolved_at", DateTime(timezone=True)),
    CheckConstraint(one_of("kind", WaitKind), name="kind"),
    CheckConstraint(one_of("status", WaitStatus), name="status"),
    Index(
        "uq_step_waits_position",
        "execution_id",
        "step_name",
        "visit",
        "position",
        unique=True,
    ),
    Index("ix_step_waits_open", "execution_id", postgresql_where=text("status = 'waiting'")),
    # publish_event finds the open waits on its (name, key) here.
    Index(
        "ix_step_waits_topic",
        "event_key",
        "names",
        postgresql_where=text("status = 'waiting' AND event_key IS NOT NULL"),
    ),
)

workflow_events = Table(
    "workflow_events",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    # Arrival order: two events of one name go to two waits in the order they were sent.
    Column("seq", BigInteger, Identity(always=True), nullable=False),
    Column(
        "execution_id",
        UUID(as_uuid=False),
        ForeignKey("workflow_executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", Text, nullable=False),
    Column("payload", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    Column("consumed_by", UUID(as_uuid=False)),
    Column("consumed_at", DateTime(timezone=True)),
    # A published event this execution received (publish_event): its key ('' for none)
    # and the published_events row, so that the execution never takes it twice.
    Column("event_key", Text),
    Column("published_id", UUID(as_uuid=False)),
    Index(
        "ix_workflow_events_buffered",
        "execution_id",
        "name",
        "seq",
        postgresql_where=text("consumed_by IS NULL"),
    ),
    Index(
        "uq_workflow_events_published",
        "execution_id",
        "published_id",
        unique=True,
        postgresql_where=text("published_id IS NOT NULL"),
    ),
)

published_events = Table(
    "published_events",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    # Publication order: several events of one name and key are taken in this order.
    Column("seq", BigInteger, Identity(always=True), nullable=False),
    Column("name", Text, nullable=False),
    # The correlation key; '' for an event published without one.
    Column("event_key", Text, nullable=False),
    Column("payload", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    # created_at + durable_event_retention: later waits take it until then, and the
    # poller deletes it after.
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_published_events_topic", "name", "event_key", "seq"),
    Index("ix_published_events_expires", "expires_at"),
)

pending_inputs = Table(
    "pending_inputs",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column(
        "execution_id",
        UUID(as_uuid=False),
        ForeignKey("workflow_executions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", Text, nullable=False),
    Column("step_name", Text, nullable=False),
    # The wait that asked: answering the input resolves it.
    Column("wait_id", UUID(as_uuid=False), ForeignKey("step_waits.id", ondelete="CASCADE")),
    Column("prompt", Text),
    Column("kind", Text, nullable=False, server_default=text("'value'")),
    Column("choices", JSONB),
    Column("fields", JSONB),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("value", JSONB),
    Column("deadline_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=now_default()),
    Column("answered_at", DateTime(timezone=True)),
    CheckConstraint(one_of("status", InputStatus), name="status"),
    CheckConstraint(one_of("kind", InputKind), name="kind"),
    Index(
        "ix_pending_inputs_open",
        "execution_id",
        "name",
        postgresql_where=text("status = 'pending'"),
    ),
    Index("uq_pending_inputs_wait_id", "wait_id", unique=True),
)
