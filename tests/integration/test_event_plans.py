"""publish_event, the keyed wait's lookup and the deletion of expired events stay index
scans over 1,000,000 finished executions, with 50,000 waits and delivered events and
50,000 published events."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from benchmarks.explain_poller import explain
from durable_celery.store.sql import signals, sweeps, waits

FILL_WAITS = text(
    """
    INSERT INTO step_waits (id, execution_id, step_name, visit, position, kind, names,
                            event_key, status)
    SELECT gen_random_uuid(), e.id, 'settle', 0, 0, 'event', '["payment.settled"]'::jsonb,
           'key-' || row_number() OVER (),
           CASE WHEN e.status = 'completed' THEN 'resolved' ELSE 'waiting' END
    FROM (SELECT id, status FROM workflow_executions WHERE status <> 'completed'
          UNION ALL
          (SELECT id, status FROM workflow_executions WHERE status = 'completed'
           LIMIT :finished_waits)) AS e
    """
)

FILL_PUBLISHED = text(
    """
    INSERT INTO published_events (id, name, event_key, payload, created_at, expires_at)
    SELECT gen_random_uuid(), 'payment.settled', 'key-' || g, '{}'::jsonb,
           now() - g * interval '1 second', now() + (g % 100 - 10) * interval '1 hour'
    FROM generate_series(1, :count) AS g
    """
)

FILL_DELIVERED = text(
    """
    INSERT INTO workflow_events (id, execution_id, name, payload, event_key, published_id,
                                 consumed_by, consumed_at)
    SELECT gen_random_uuid(), w.execution_id, 'payment.settled', '{}'::jsonb, w.event_key,
           gen_random_uuid(), w.id, now()
    FROM step_waits AS w WHERE w.status = 'resolved'
    """
)


@pytest.fixture(scope="module")
def history_database(finished_history):
    # The shared history of 1,000,000 finished executions (the other plan tests read
    # only executions and items): 50,000 of them, and every live one, with a wait, and
    # 50,000 published events, most delivered.
    with finished_history.connect() as conn:
        conn.execute(FILL_WAITS, {"finished_waits": 50_000})
        conn.execute(FILL_PUBLISHED, {"count": 50_000})
        conn.execute(FILL_DELIVERED)
        conn.commit()
        conn.execute(text("ANALYZE step_waits, published_events, workflow_events"))
        conn.commit()
        live = conn.execute(
            text("SELECT id FROM workflow_executions WHERE status = 'waiting' LIMIT 1")
        ).scalar_one()
    return finished_history, str(live)


def _plan(history_database, statement, params) -> str:
    engine, _ = history_database
    with engine.connect() as conn:
        return explain(conn, statement.text, params, analyze=False)


def test_publish_finds_the_waits_through_the_open_waits_topic_index(history_database):
    plan = _plan(
        history_database,
        signals.PUBLISH_EVENT,
        {
            "event_id": str(uuid.uuid4()),
            "name": "payment.settled",
            "event_key": "key-50100",
            "names": '["payment.settled"]',
            "payload": "{}",
            "retention_seconds": 86_400.0,
        },
    )
    assert "ix_step_waits_topic" in plan, plan
    assert "Seq Scan on step_waits" not in plan, plan
    assert "Seq Scan on workflow_executions" not in plan, plan


def test_a_keyed_wait_looks_up_published_events_by_name_and_key(history_database):
    _, live = history_database
    plan = _plan(
        history_database,
        waits.WAIT_CONSUME_EVENT,
        {
            "execution_id": live,
            "token": str(uuid.uuid4()),
            "wait_id": str(uuid.uuid4()),
            "names": ["payment.settled"],
            "event_key": "key-7",
            "event_id": str(uuid.uuid4()),
        },
    )
    assert "ix_published_events_topic" in plan, plan
    for table in ("published_events", "workflow_events", "workflow_executions"):
        assert f"Seq Scan on {table}" not in plan, plan


def test_expired_events_are_deleted_through_their_expiry_index(history_database):
    plan = _plan(history_database, sweeps.DELETE_EXPIRED_EVENTS, {"batch_size": 500})
    assert "ix_published_events_expires" in plan, plan
    assert "Seq Scan on published_events" not in plan, plan
