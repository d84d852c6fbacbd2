"""Flow control before a step attempt starts: a slot of the step's concurrency key, then
a start of its rate limit. Either may stop the run: the execution is left queued for
the slot, or on a timer for the start, holding no worker; a key function that fails
fails the execution."""

from __future__ import annotations

import logging

from durable_celery.dsl import StepSpec
from durable_celery.dsl.flow import Concurrency, RateLimit, next_free_in
from durable_celery.engine import outcomes
from durable_celery.engine.recording import Recorder
from durable_celery.errors import InvalidOption
from durable_celery.states import ExecutionStatus
from durable_celery.store import rate_limits

logger = logging.getLogger("durable_celery.executor")


def admit(record: Recorder, workflow: str, spec: StepSpec) -> ExecutionStatus | None:
    """None: the attempt may start (holding its slot, if the step has a limit); else the
    status the execution was left in."""
    try:
        if spec.step_limit is not None and not _took_slot(record, workflow, spec, spec.step_limit):
            return ExecutionStatus.PENDING
        if spec.rate_limit is None:
            return None
        wait = _over_rate_limit(record, workflow, spec, spec.rate_limit)
    except InvalidOption as bad_key:
        return record.fail_without_step(outcomes.describe_error(bad_key))
    if wait is None:
        return None
    logger.info(
        "%s[%s]: step %s over its rate limit %s; waiting %.3f s",
        workflow,
        record.claim.id,
        spec.name,
        spec.rate_limit.rate,
        wait,
    )
    return record.defer(wait)


def _took_slot(record: Recorder, workflow: str, spec: StepSpec, limit: Concurrency) -> bool:
    """Take a slot of the step's concurrency key; False: none was free, and the
    execution is queued for the key (the holder that gives one back wakes it)."""
    key = limit.step_slot_key(workflow, spec.name, record.claim.input)
    if record.take_step_slot(key, limit.limit):
        return True
    logger.info("%s[%s]: step %s waits for a slot of %s", workflow, record.claim.id, spec.name, key)
    return False


def _over_rate_limit(
    record: Recorder, workflow: str, spec: StepSpec, limit: RateLimit
) -> float | None:
    """Take a start from the step's rate-limit window: None when taken, else the
    seconds until the window has room again."""
    key = limit.window_key(workflow, spec.name, record.claim.input)
    admitted, now, starts = rate_limits.take_start(
        record.conn, key, limit.limit, limit.period_seconds
    )
    if admitted:
        return None
    # The window as this check saw it may already have room (a start it missed
    # expired): wait one start's share of the period rather than not at all.
    wait = next_free_in(starts, now, limit.limit, limit.period_seconds)
    return wait or limit.period_seconds / limit.limit
