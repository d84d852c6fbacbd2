"""The virtual clock of durable_celery.testing: every stored time moved back at once, and
when the next timer is due."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import TextClause, text

TIMESTAMP_COLUMNS = text(
    """
    SELECT CAST(c.table_name AS text) AS table_name, CAST(c.column_name AS text) AS column_name,
           c.udt_name = :array_type AS is_array
    FROM information_schema.columns AS c
    JOIN information_schema.tables AS t
      ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = current_schema()
      AND c.table_name = ANY(CAST(:tables AS text[]))
      AND c.udt_name IN (:scalar_type, :array_type) AND t.table_type = :table_type
    ORDER BY c.table_name, c.ordinal_position
    """
)
"""The timestamptz columns (and timestamptz[] ones: the rate-limit windows) of
durable-celery's tables in the schema the connection uses, read from the catalog so that
a table or column added later is covered. Read-only."""

NEXT_TIMER = text(
    """
    SELECT EXTRACT(EPOCH FROM least(
        (SELECT min(run_at) FROM workflow_executions
         WHERE status IN ('pending', 'waiting') AND run_at > now() AND run_at < 'infinity'),
        (SELECT min(deadline_at) FROM workflow_executions
         WHERE status IN ('pending', 'running', 'waiting') AND deadline_at > now()),
        (SELECT min(run_at) FROM step_items WHERE status = 'pending' AND run_at > now()),
        (SELECT min(next_fire_at) FROM scheduled_workflows
         WHERE status = 'active' AND next_fire_at > now())
    ) - now()) AS seconds
    """
)
"""Seconds until the next timer of any execution, item or schedule is due (a sleep, a
wait's timeout, a retry, a delayed start, a deadline, a schedule's fire); NULL when
none is set. Read-only, unlocked: the clock steps to it, then finds what is due."""


ANYTHING_DUE = text(
    """
    SELECT EXISTS (SELECT FROM workflow_executions
                   WHERE status IN ('pending', 'waiting') AND run_at <= now())
        OR EXISTS (SELECT FROM workflow_executions
                   WHERE status IN ('pending', 'running', 'waiting') AND deadline_at <= now())
        OR EXISTS (SELECT FROM step_items
                   WHERE status IN ('pending', 'queued') AND run_at <= now())
        OR EXISTS (SELECT FROM scheduled_workflows
                   WHERE status = 'active' AND next_fire_at <= now())
    """
)
"""Whether the poller might find anything to do: a superset of what its sweeps take (due
timers, deadlines, items, schedules), in one cheap statement. Read-only, unlocked."""


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _moved(column: str, is_array: bool) -> str:
    name = _quoted(column)
    if not is_array:
        return f"{name} = {name} - make_interval(secs => :seconds)"
    return (
        f"{name} = CASE WHEN {name} IS NOT NULL THEN ARRAY("
        f"SELECT moment - make_interval(secs => :seconds) "
        f"FROM unnest({name}) WITH ORDINALITY AS m(moment, n) ORDER BY n) END"
    )


def shift_back(columns: Mapping[str, Sequence[tuple[str, bool]]]) -> TextClause:
    """Move every value of the columns ({table: [(column, is an array)]}) back by
    :seconds (NULL and 'infinity' stay as they are), in one statement: it locks every row
    of those tables until it commits, so a worker writing meanwhile waits for it, and
    nobody ever sees some times moved and others not. Returns the rows moved."""
    updates = [
        f"moved_{number} AS (UPDATE {_quoted(table)} SET "
        + ", ".join(_moved(column, is_array) for column, is_array in table_columns)
        + " RETURNING 1)"
        for number, (table, table_columns) in enumerate(sorted(columns.items()))
    ]
    counted = " + ".join(f"(SELECT count(*) FROM moved_{n})" for n in range(len(updates)))
    return text(f"WITH {', '.join(updates)} SELECT {counted or '0'} AS moved")
