"""Rate limits: one statement takes a start from a key's sliding window."""

from __future__ import annotations

from sqlalchemy import text

_IN_WINDOW = "s > now() - make_interval(secs => :period_seconds)"

TAKE_RATE_START = text(
    """
    WITH taken AS (
        INSERT INTO rate_limit_windows AS w (key, starts)
        VALUES (:key, ARRAY[now()])
        ON CONFLICT (key) DO UPDATE
        SET starts = ARRAY(SELECT s FROM unnest(w.starts) AS s WHERE """
    + _IN_WINDOW
    + """ ORDER BY s) || now()
        WHERE (SELECT count(*) FROM unnest(w.starts) AS s WHERE """
    + _IN_WINDOW
    + """) < :limit
        RETURNING true AS admitted
    )
    SELECT coalesce((SELECT admitted FROM taken), false) AS admitted,
           extract(epoch FROM now()) AS now,
           ARRAY(SELECT extract(epoch FROM s)
                 FROM rate_limit_windows AS w, unnest(w.starts) AS s
                 WHERE w.key = :key AND """
    + _IN_WINDOW
    + """) AS starts
    """
)
"""Take one start of a rate-limit key if its window has room: the key's row keeps the
start times of its last period, and the upsert prunes and appends to it only while fewer
than `limit` of them are within the period. PostgreSQL evaluates the condition and the
new array on the row's latest committed version, after waiting for its lock (READ
COMMITTED upsert), so concurrent checks of one key serialise on its row and never admit
more than `limit` starts in any period, under any number of workers. One statement per
check; keys never block each other.

Refused, it also returns the window as the statement's snapshot saw it, from which the
caller computes when the next start frees up (a concurrent start the snapshot missed
only makes that estimate early: the check runs again then)."""
