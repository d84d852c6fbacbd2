"""Cleanup: deleting finished executions, in batches, beside busy workers.

Deleting an execution row deletes its step attempts, waits, events, inputs and items by
the foreign keys' ON DELETE CASCADE; its children's `parent_id` becomes NULL.
"""

from __future__ import annotations

from sqlalchemy import text

# What may go: a finished execution that ended before the cutoff, of the chosen statuses,
# with no live child (the child's link to it stays), and whose parent, if it still has
# one, may go too by the same rule: a live parent may still read its child (a step that
# runs again finds its child by key), and a retried parent would start a deleted child
# again. One level of parents is checked.
_DELETABLE = """
      e.completed_at < :cutoff
      AND e.status = ANY(CAST(:statuses AS text[]))
      AND e.status NOT IN ('pending', 'running', 'waiting')
      AND NOT EXISTS (
          SELECT 1 FROM workflow_executions AS child
          WHERE child.parent_id = e.id AND child.status IN ('pending', 'running', 'waiting'))
      AND NOT EXISTS (
          SELECT 1 FROM workflow_executions AS parent
          WHERE parent.id = e.parent_id
            AND NOT (parent.completed_at IS NOT NULL
                     AND parent.completed_at < :cutoff
                     AND parent.status = ANY(CAST(:statuses AS text[]))
                     AND NOT EXISTS (
                         SELECT 1 FROM workflow_executions AS sibling
                         WHERE sibling.parent_id = parent.id
                           AND sibling.status IN ('pending', 'running', 'waiting'))))
"""

CUTOFF = text("SELECT now() - make_interval(secs => :older_than_seconds) AS cutoff")
"""The cutoff, on the database's clock (the one that wrote completed_at). Taken once per
cleanup, so that rows finishing while it runs do not keep it going."""

DELETE_FINISHED = text(
    """
    WITH doomed AS MATERIALIZED (
        SELECT e.id FROM workflow_executions AS e
        WHERE"""
    + _DELETABLE
    + """
        ORDER BY e.completed_at
        LIMIT :batch_size
        FOR UPDATE OF e SKIP LOCKED
    )
    DELETE FROM workflow_executions AS e
    USING doomed
    WHERE e.id = doomed.id
    RETURNING e.id
    """
)
"""Delete one batch of finished executions that ended before :cutoff (their rows cascade).
Scans ix_workflow_executions_completed, oldest first. Rows are taken FOR UPDATE SKIP
LOCKED: a row a control call or a worker holds is skipped, never waited for, so the
batch holds its locks only for its own short transaction and two cleanups at once split
the work. Under READ COMMITTED a row changed since the snapshot (a retry made it live) is
re-checked against the conditions once locked. A child made live again after the check
(retried beside it) keeps running; its parent link becomes NULL."""

COUNT_FINISHED = text(
    """
    SELECT count(*) AS n FROM workflow_executions AS e
    WHERE"""
    + _DELETABLE
)
"""How many executions DELETE_FINISHED would delete now (a dry run). Reads committed rows;
no locks."""
