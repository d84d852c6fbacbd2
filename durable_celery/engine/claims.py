"""One path to hold a claim, for executions and fan-out items alike: claim the row by id,
replacing a connection that died with the database once; keep the claim's heartbeat
while the work runs; and stop quietly when the claim is lost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from durable_celery import signals
from durable_celery.engine.heartbeat import heartbeat_for
from durable_celery.errors import LockLost
from durable_celery.runtime import Runtime
from durable_celery.states import WakeTarget
from durable_celery.store.connections import autocommit, is_disconnect

logger = logging.getLogger("durable_celery.executor")


class Claim(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def token(self) -> str: ...


C = TypeVar("C", bound=Claim)
R = TypeVar("R")


def run_claimed(
    runtime: Runtime,
    target: WakeTarget,
    row_id: str,
    take: Callable[[Connection, str, str], C | None],
    work: Callable[[Connection, C], R],
) -> R | None:
    """Claim the row with `take` and run `work` on it, on one autocommit connection.
    Returns None when there was nothing to claim (a duplicate, early or forged wake-up)
    or the claim was lost while the work ran."""
    for tries_left in (1, 0):
        with autocommit(runtime.database) as conn:
            try:
                claim = take(conn, row_id, runtime.worker_id)
            except Exception as exc:
                # A connection that died with the database (restart) is replaced once;
                # nothing was claimed, so trying again is safe.
                if tries_left and is_disconnect(exc):
                    continue
                raise
            if claim is None:
                return None
            try:
                with heartbeat_for(runtime).hold(target, claim.id, claim.token):
                    return work(conn, claim)
            except LockLost:
                signals.claim_lost.send(sender=target, target=target, row_id=row_id)
                logger.warning(
                    "%s %s: claim lost to another worker or a control call; stopping "
                    "without writing",
                    target,
                    row_id,
                )
                return None
    return None
