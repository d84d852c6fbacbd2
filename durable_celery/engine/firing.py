"""Which fire times of a due schedule start an execution: pure, no I/O.

A fire time the sweep reaches within the schedule's `misfire_grace` is on time and
always fires. One reached later was missed (no beat ran, or the database was away), and
the misfire policy decides: "coalesce" starts one run for all of them (the latest fire
time) unless an on-time fire covers them, "skip" starts none, "catch_up" starts each,
the latest `catch_up_limit` ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from durable_celery.dsl.schedules import Trigger
from durable_celery.states import MisfirePolicy

# Fire times counted one by one before the count jumps ahead: an outage of months on a
# per-second schedule must not make one sweep iterate millions of times.
MAX_SCAN = 100_000


@dataclass(frozen=True)
class FirePlan:
    fires: tuple[datetime, ...]  # to start, oldest first
    missed: int  # due fire times that start nothing (at least this many)
    next_fire_at: datetime  # the first fire time after now


def plan_fires(
    trigger: Trigger,
    next_fire_at: datetime,
    now: datetime,
    misfire: MisfirePolicy,
    grace: timedelta,
    catch_up_limit: int,
) -> FirePlan:
    on_time: list[datetime] = []
    late: deque[datetime] = deque(maxlen=catch_up_limit)
    late_count = 0
    moment = next_fire_at
    scanned = 0
    while moment <= now:
        if now - moment <= grace:
            on_time.append(moment)
        else:
            late.append(moment)
            late_count += 1
        scanned += 1
        moment = trigger.next_after(moment)
        if scanned == MAX_SCAN and moment < now - grace - timedelta(days=1):
            # Skip to the last day before the grace window: what lies between is missed.
            moment = trigger.next_after(now - grace - timedelta(days=1))
    if misfire is MisfirePolicy.CATCH_UP:
        fires = [*late, *on_time]
    elif misfire is MisfirePolicy.COALESCE and not on_time and late:
        fires = [late[-1]]
    else:
        fires = on_time
    due = late_count + len(on_time)
    return FirePlan(tuple(fires), due - len(fires), moment)
