"""Hot queries use the partial indexes on live rows, over 1,000,000 finished executions."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from benchmarks.explain_poller import HOT_QUERIES, explain, fill
from durable_celery.config import Settings
from durable_celery.store.migrate import upgrade

EXPECTED_INDEX = {
    "poller: due executions (DISPATCH_DUE)": "ix_workflow_executions_due",
    "poller: expired deadlines (EXPIRED_DEADLINES)": "ix_workflow_executions_deadline",
    "poller: due items (DISPATCH_DUE_ITEMS)": "ix_step_items_due",
    "claim one execution (CLAIM)": "pk_workflow_executions",
    "claim one limited execution (CLAIM_LIMITED)": "pk_workflow_executions",
    "poller: queued for a concurrency slot (DISPATCH_SLOT_QUEUED)": (
        "ix_workflow_executions_slot_queue"
    ),
}


@pytest.fixture()
def history_database(finished_history):
    return finished_history


@pytest.fixture()
def small_history():
    # The stale-statistics test rewrites every row: a database of its own, kept small.
    from tests.integration.conftest import RUN, create_database, drop_database

    name = f"durable_small_history_{RUN}"
    url = create_database(name)
    upgrade(Settings(database_url=url))
    engine = create_engine(url)
    with engine.connect() as conn:
        fill(conn, finished=20_000, live=200)
    yield engine
    engine.dispose()
    drop_database(name)


@pytest.mark.parametrize("title", list(HOT_QUERIES))
def test_hot_query_scans_the_live_rows_index(history_database, title):
    statement, params = HOT_QUERIES[title]
    with history_database.connect() as conn:
        plan = explain(conn, statement, params, analyze=False)
    index = EXPECTED_INDEX[title]
    # An index scan, or a bitmap scan of the same (partial) index: either reads only the
    # live rows it covers.
    assert f"Index Scan using {index}" in plan or f"Bitmap Index Scan on {index}" in plan, plan
    assert "Seq Scan on workflow_executions" not in plan, plan
    assert "Seq Scan on step_items" not in plan, plan


def test_the_claim_stays_on_the_primary_key_when_statistics_count_no_pending_rows(
    small_history,
):
    # 100,000 timers came due a moment ago: the rows are pending, but the statistics
    # (last analysed when they all waited) say almost none is. A bare `status =
    # 'pending'` then looked cheaper through ix_workflow_executions_status_created, and
    # each claim scanned every pending row.
    with small_history.connect() as conn:
        conn.execute(text("ALTER TABLE workflow_executions SET (autovacuum_enabled = false)"))
        conn.execute(text("UPDATE workflow_executions SET status = 'waiting' WHERE true"))
        conn.execute(text("ANALYZE workflow_executions"))
        conn.execute(text("UPDATE workflow_executions SET status = 'pending' WHERE true"))
        conn.commit()
        try:
            statement, params = HOT_QUERIES["claim one execution (CLAIM)"]
            plan = explain(conn, statement, params, analyze=False)
        finally:
            conn.execute(text("ALTER TABLE workflow_executions RESET (autovacuum_enabled)"))
            conn.commit()
    assert "Index Scan using pk_workflow_executions" in plan, plan
