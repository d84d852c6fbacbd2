"""Bulk control: cancel_many and retry_many take their executions in batches.

Each batch is one transaction: it locks up to :batch_size matching rows FOR UPDATE SKIP
LOCKED (a row that a worker, a control call or another bulk call holds is skipped, never
waited for), transitions them with the statements of the single calls (store/sql/control.py)
and commits. Two bulk calls at once therefore split the rows between them: a row is
changed, and counted, by exactly one of them.

Every filter is a parameter (NULL: not filtered), so one named statement covers every
combination; the conditions are those of `list_executions` (workflow, queue, created_at,
reported status).
"""

from __future__ import annotations

from sqlalchemy import text

from durable_celery.store.sql.fragments import resume

# workflow / queue / created before: the filters both calls share. :created_before is
# always given (at the latest the moment the call began), so that a call ends even while
# producers keep starting executions that match.
_MATCHES = """
      (CAST(:workflow AS text) IS NULL OR e.workflow = CAST(:workflow AS text))
      AND (CAST(:queue AS text) IS NULL OR e.queue = CAST(:queue AS text))
      AND e.created_at < CAST(:created_before AS timestamptz)
"""

# Live executions that a cancel would change. A running one already asked to stop is left
# out: it changes nothing more, and a batch loop would otherwise find it again and again.
# :statuses are the stored live statuses wanted for executions that are not compensating;
# :compensating whether those running their saga (reported 'compensating') are wanted.
_CANCELLABLE = (
    _MATCHES
    + """
      AND e.status IN ('pending', 'running', 'waiting')
      AND (e.status <> 'running' OR e.cancel_requested_at IS NULL)
      AND CASE WHEN e.compensations IS NULL
               THEN e.status = ANY(CAST(:statuses AS text[]))
               ELSE CAST(:compensating AS boolean) END
"""
)

# Failed or timed-out executions that ended before the call began (:finished_before): one
# that a worker ran again and that failed again during the call is not retried twice.
_RETRYABLE = (
    _MATCHES
    + """
      AND e.status IN ('failed', 'timed_out')
      AND e.status = ANY(CAST(:statuses AS text[]))
      AND e.completed_at < CAST(:finished_before AS timestamptz)
      AND NOT (e.workflow = ANY(CAST(:skip_workflows AS text[])))
"""
)

NOW = text("SELECT now() AS now")
"""The database's clock (the one that writes created_at and completed_at): the moment a
bulk call begins, taken once."""

LOCK_CANCELLABLE = text(
    """
    SELECT e.id FROM workflow_executions AS e
    WHERE"""
    + _CANCELLABLE
    + """
    LIMIT :batch_size
    FOR UPDATE OF e SKIP LOCKED
    """
)
"""One batch of cancel_many: lock up to :batch_size live executions that match, skipping
rows others hold. The caller ends them (or asks running ones to stop) with the statements
of cancel() in the same transaction (control.stop_executions). Under READ COMMITTED a row
changed since the snapshot is re-checked once locked, so a row another call cancelled
meanwhile is not returned."""

COUNT_CANCELLABLE = text(
    """
    SELECT count(*) AS n FROM workflow_executions AS e
    WHERE"""
    + _CANCELLABLE
)
"""How many executions cancel_many would take now (a dry run). Reads committed rows; no
locks."""

LOCK_RETRYABLE = text(
    """
    SELECT e.id, e.workflow, e.workflow_version FROM workflow_executions AS e
    WHERE"""
    + _RETRYABLE
    + """
    LIMIT :batch_size
    FOR UPDATE OF e SKIP LOCKED
    """
)
"""One batch of retry_many: lock up to :batch_size failed or timed-out executions that
match, skipping rows others hold; RESUME_MANY resumes them in the same transaction.
:skip_workflows names workflows the caller cannot resume (unknown to its process), so
that the next batch does not take them again."""

COUNT_RETRYABLE = text(
    """
    SELECT count(*) AS n FROM workflow_executions AS e
    WHERE"""
    + _RETRYABLE
)
"""How many executions retry_many would take now (a dry run). Reads committed rows; no
locks."""

RESUME_MANY = text(
    """
    UPDATE workflow_executions AS e
    SET"""
    + resume("t.timeout_seconds")
    + """
    FROM unnest(CAST(:ids AS uuid[]), CAST(:timeouts AS float8[])) AS t(id, timeout_seconds)
    WHERE e.id = t.id AND e.status IN ('failed', 'timed_out')
    RETURNING e.id, e.queue, e.workflow
    """
)
"""retry_many(): resume each execution as RESUME_FAILED does, each with its workflow's
timeout (:timeouts, seconds or NULL, in the order of :ids). The caller locked the rows
(LOCK_RETRYABLE) in this transaction."""
