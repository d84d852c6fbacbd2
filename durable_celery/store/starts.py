"""Starting executions: a checked new execution, and its insert (idempotent by key), on
the store's connection, a caller's SQLAlchemy session, or a caller's DB-API cursor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from durable_celery.checks import (
    MAX_QUEUE_NAME_LENGTH,
    check_debounce_key,
    check_idempotency_key,
    check_priority,
    check_queue,
)
from durable_celery.errors import InvalidOption, InvalidPayload
from durable_celery.ids import new_id
from durable_celery.store.codec import Codec
from durable_celery.store.connections import schema_not_ready
from durable_celery.store.records import Wakeup
from durable_celery.store.sql import executions as sql
from durable_celery.time import Duration, require_aware, to_timedelta

_PSYCOPG = PGDialect_psycopg()  # type: ignore[no-untyped-call]


class StartsAs(Protocol):
    """What the store needs to know of a workflow to start it: a dsl Workflow class."""

    @property
    def name(self) -> str: ...

    @property
    def queue(self) -> str | None: ...

    @property
    def version(self) -> int: ...

    def first_step(self) -> str: ...

    def route_name(self) -> str: ...

    def timeout_delta(self) -> timedelta | None: ...

    def concurrency_slot(self, input: Mapping[str, Any]) -> tuple[str, int] | None: ...


@dataclass(frozen=True)
class NewExecution:
    """A validated execution to insert; build it with `NewExecution.of`."""

    id: str
    workflow: str
    first_step: str
    # The class's version: the execution runs on that version's class to the end.
    workflow_version: int
    input: Mapping[str, Any]
    queue: str
    priority: int
    run_at: datetime | None
    delay_seconds: float
    timeout_seconds: float | None
    idempotency_key: str | None
    parent_id: str | None = None
    wake_parent: bool = False
    dispatch_now: bool = True  # due at once; else the poller wakes it at its time
    schedule_key: str | None = None  # started by this schedule, for this fire time:
    scheduled_at: datetime | None = None
    # Debounced (see Debounce.of): starts with this key collapse into one pending execution.
    debounce_key: str | None = None
    debounce_max_seconds: float | None = None
    # Workflow-level Concurrency: the key (computed here, at start) and its limit.
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    # The starting caller's trace context (signals.trace_context()): its runs join its trace.
    trace_context: str | None = None

    @classmethod
    def of(
        cls,
        workflow: StartsAs,
        input: Mapping[str, Any] | None,
        *,
        queue: str,
        priority: int = 0,
        delay: Duration | None = None,
        run_at: datetime | None = None,
        idempotency_key: str | None = None,
        parent_id: str | None = None,
        wake_parent: bool = False,
        schedule_key: str | None = None,
        scheduled_at: datetime | None = None,
        debounce: Duration | None = None,
        debounce_key: str | None = None,
        debounce_max: Duration | None = None,
        max_queue_name_length: int = MAX_QUEUE_NAME_LENGTH,
        trace_context: str | None = None,
    ) -> NewExecution:
        """Check every option (InvalidPayload / InvalidOption) before anything is written.
        `queue`: the one its wake-ups go to, as the runtime resolved it."""
        if input is None:
            input = {}
        if not isinstance(input, Mapping):
            raise InvalidPayload(
                f"the input of workflow {workflow.name!r} must be a dict, "
                f"got {type(input).__name__}"
            )
        if delay is not None and run_at is not None:
            raise InvalidOption("give either delay or run_at, not both")
        timeout = workflow.timeout_delta()
        if run_at is not None:
            run_at = require_aware(run_at, "run_at")
        delay_seconds = 0.0 if delay is None else to_timedelta(delay, "delay").total_seconds()
        debounced = Debounce.of(
            debounce,
            debounce_key,
            debounce_max,
            timed=delay is not None or run_at is not None,
            idempotency_key=idempotency_key,
        )
        if debounced is not None:
            # Due one window after the (last) start; the poller wakes it, never the start.
            delay_seconds = debounced.seconds
        slot = workflow.concurrency_slot(input)
        return cls(
            id=new_id(),
            workflow=workflow.name,
            first_step=workflow.first_step(),
            workflow_version=workflow.version,
            input=input,
            queue=check_queue(queue, max_length=max_queue_name_length),
            priority=check_priority(priority),
            run_at=run_at,
            delay_seconds=delay_seconds,
            timeout_seconds=None if timeout is None else timeout.total_seconds(),
            idempotency_key=check_idempotency_key(idempotency_key),
            parent_id=parent_id,
            wake_parent=wake_parent,
            schedule_key=schedule_key,
            scheduled_at=scheduled_at,
            concurrency_key=None if slot is None else slot[0],
            concurrency_limit=None if slot is None else slot[1],
            dispatch_now=run_at <= datetime.now(UTC) if run_at is not None else delay_seconds == 0,
            debounce_key=None if debounced is None else debounced.key,
            debounce_max_seconds=None if debounced is None else debounced.max_seconds,
            trace_context=trace_context,
        )


@dataclass(frozen=True)
class Debounce:
    """Checked debounce options of a start: the window, its key and its cap."""

    seconds: float
    key: str
    max_seconds: float | None

    @classmethod
    def of(
        cls,
        debounce: Duration | None,
        key: Any,
        debounce_max: Duration | None,
        *,
        timed: bool = False,
        idempotency_key: Any = None,
    ) -> Debounce | None:
        """None when the start is not debounced; InvalidOption for options that do not fit
        together, before anything is written."""
        if debounce is None:
            if key is not None:
                raise InvalidOption("debounce_key needs debounce (the window, e.g. seconds(30))")
            if debounce_max is not None:
                raise InvalidOption("debounce_max needs debounce (the window, e.g. seconds(30))")
            return None
        window = to_timedelta(debounce, "debounce")
        if window <= timedelta(0):
            raise InvalidOption(f"debounce must be positive, got {window}")
        if key is None:
            raise InvalidOption("debounce needs debounce_key: the starts that collapse share it")
        key = check_debounce_key(key)
        if idempotency_key is not None:
            raise InvalidOption(
                "give either debounce or idempotency_key, not both: a debounced start "
                "already returns the execution of its window"
            )
        if timed:
            raise InvalidOption(
                "give either debounce or delay/run_at, not both: a debounced execution "
                "runs debounce after the last start"
            )
        cap = None if debounce_max is None else to_timedelta(debounce_max, "debounce_max")
        if cap is not None and cap < window:
            raise InvalidOption(f"debounce_max must be at least debounce ({window}), got {cap}")
        return cls(window.total_seconds(), key, None if cap is None else cap.total_seconds())


@dataclass(frozen=True)
class Started:
    id: str
    # False: an execution with the same idempotency key existed already, or a debounced
    # start joined the pending execution of its window.
    created: bool

    def wakeup(self, new: NewExecution) -> list[Wakeup]:
        """The wake-up to publish once the row is committed."""
        if not (self.created and new.dispatch_now):
            return []
        return [Wakeup(self.id, new.queue, label=new.workflow)]


def start_on_cursor(cursor: Any, new: NewExecution, codec: Codec) -> Started:
    """`start` on a DB-API cursor that is not SQLAlchemy's (Django's, in the caller's own
    transaction): the same statements, compiled for psycopg."""
    params = _start_params(new, codec)
    cursor.execute(_psycopg_text(_insert(new)), params)
    row = cursor.fetchone()
    if row is not None:
        return Started(str(row[0]), str(row[0]) == new.id)
    cursor.execute(_psycopg_text(sql.FIND_BY_IDEMPOTENCY_KEY), params)
    return Started(str(cursor.fetchone()[0]), False)


def _psycopg_text(statement: Any) -> str:
    return str(statement.compile(dialect=_PSYCOPG))


def start(executor: Connection | Session, new: NewExecution, codec: Codec) -> Started:
    """Insert a pending execution, or find the one its idempotency key names. Concurrent
    starts with one key serialise on the partial unique index: ON CONFLICT waits for the
    other insert, and the lookup then finds it committed."""
    params = _start_params(new, codec)
    try:
        row = executor.execute(_insert(new), params).first()
        if row is None:
            row = executor.execute(sql.FIND_BY_IDEMPOTENCY_KEY, params).one()
            return Started(str(row.id), False)
    except ProgrammingError as exc:
        # A caller's own session is not opened by the store: say what is missing here too.
        if isinstance(exc.orig, psycopg.errors.UndefinedTable):
            raise schema_not_ready("the database of this session") from exc
        raise
    return Started(str(row.id), str(row.id) == new.id)


def _insert(new: NewExecution) -> Any:
    """A debounced start inserts its window's execution or joins the pending one (and
    always returns a row); any other start inserts, or names its idempotency key's."""
    return sql.START_DEBOUNCED if new.debounce_key is not None else sql.START


def _start_params(new: NewExecution, codec: Codec) -> dict[str, Any]:
    return {
        "id": new.id,
        "workflow": new.workflow,
        "workflow_version": new.workflow_version,
        "queue": new.queue,
        "priority": new.priority,
        "input": codec.encode_incoming(new.input, f"the input of workflow {new.workflow!r}"),
        "first_step": new.first_step,
        "run_at": new.run_at,
        "delay_seconds": new.delay_seconds,
        "dispatch_now": new.dispatch_now,
        "timeout_seconds": new.timeout_seconds,
        "idempotency_key": new.idempotency_key,
        "parent_id": new.parent_id,
        "wake_parent": new.wake_parent,
        "schedule_key": new.schedule_key,
        "scheduled_at": new.scheduled_at,
        "debounce_key": new.debounce_key,
        "debounce_max_seconds": new.debounce_max_seconds,
        "concurrency_key": new.concurrency_key,
        "concurrency_limit": new.concurrency_limit,
        "trace_context": new.trace_context,
    }


# Rows per INSERT of start_many: big enough to pay one round trip for many rows, small
# enough that one statement's arrays stay a few megabytes.
MANY_CHUNK = 1000


def start_many(
    executor: Connection | Session, news: list[NewExecution], codec: Codec
) -> list[Started]:
    """Insert executions of one workflow started together (same options; see START_MANY),
    a statement per MANY_CHUNK rows; returns one Started per execution, in order."""
    started: list[Started] = []
    for offset in range(0, len(news), MANY_CHUNK):
        started += _start_chunk(executor, news[offset : offset + MANY_CHUNK], codec)
    return started


def _start_chunk(
    executor: Connection | Session, news: list[NewExecution], codec: Codec
) -> list[Started]:
    first = news[0]
    params = _start_params(first, codec)
    params.update(
        ids=[new.id for new in news],
        inputs=[
            codec.encode_incoming(new.input, f"input {index} of workflow {new.workflow!r}")
            for index, new in enumerate(news)
        ],
        keys=[new.idempotency_key for new in news],
        concurrency_keys=[new.concurrency_key for new in news],
    )
    inserted = {str(row.id) for row in executor.execute(sql.START_MANY, params)}
    existing: dict[str, str] = {}
    known = [new.idempotency_key for new in news if new.id not in inserted]
    if known:
        rows = executor.execute(
            sql.FIND_BY_IDEMPOTENCY_KEYS, {"workflow": first.workflow, "keys": known}
        )
        existing = {row.idempotency_key: str(row.id) for row in rows}
    return [
        Started(new.id, True)
        if new.id in inserted
        else Started(existing[str(new.idempotency_key)], False)
        for new in news
    ]
