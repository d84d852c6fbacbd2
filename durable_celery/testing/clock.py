"""The virtual clock: `advance(days(3))` lets three days pass for every execution. Moving
every stored time of the durable tables back by a duration, in one transaction, is, for
everything the engine compares with the database's now() (sleeps, retry timers, wait
timeouts, workflow deadlines, event retention, rate-limit windows, schedule fire times),
the same as that duration passing. The clock moves from timer to timer, running what
each makes due before moving on, so a timer set on the way (the timeout of a wait
reached after a sleep) fires too when it falls within the three days, as it would have.

Nothing in the process's own clock is faked: a step that calls datetime.now() sees real
time, and times read back from the database are the real times they were recorded at,
moved back by what was advanced since. Durations a step asks for (ctx.sleep(days(3)),
timeouts, retry delays) are what the clock virtualises; `clock.now()` is the time the
executions live in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durable_celery.engine import poll_once
from durable_celery.errors import DurableError
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.store.clock import next_timer, shift_back, timestamp_columns
from durable_celery.store.connections import transaction
from durable_celery.testing.inline import InlineRuntime
from durable_celery.time import Duration, to_timedelta

# Timers one advance may step through.
MAX_STEPS = 10_000


class VirtualClock:
    """Time for durable executions in tests. Unbound, it acts on the current runtime's
    database; `run_inline(..., clock=clock)` binds it to the inline runtime."""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self._runtime = runtime
        self.advanced = timedelta(0)  # how far it was moved forward in total
        # The timestamp columns, per database and schema: read from the catalog once.
        self._columns: dict[tuple[str, str | None], dict[str, list[tuple[str, bool]]]] = {}

    def bind(self, runtime: Runtime) -> VirtualClock:
        self._runtime = runtime
        return self

    @property
    def runtime(self) -> Runtime:
        return self._runtime or current_runtime()

    def now(self) -> datetime:
        """Real now plus what was advanced: the time as the executions see it."""
        return datetime.now(UTC) + self.advanced

    def advance(self, delta: Duration) -> int:
        """Let `delta` (a timedelta or seconds) pass for every execution, timer by timer,
        running what each makes due: inline, before this returns, or, on a runtime with a
        broker (a real worker), by sending its wake-ups; then the rest of `delta`. Returns
        how many wake-ups ran or were sent."""
        left = to_timedelta(delta, "clock.advance(...)")
        runtime = self.runtime
        woken = 0
        for _ in range(MAX_STEPS):
            with transaction(runtime.database) as conn:
                step = next_timer(conn)
                step = left if step is None else min(max(step, timedelta(0)), left)
                if step:
                    key = (runtime.settings.database_url, runtime.settings.schema)
                    if key not in self._columns:
                        self._columns[key] = timestamp_columns(conn)
                    shift_back(conn, step, self._columns[key])
            self.advanced += step
            left -= step
            woken += self._run_due(runtime)
            if not left:
                return woken
        raise DurableError(
            f"clock.advance({delta}): more than {MAX_STEPS} timers fell due on the way; "
            f"{left} not advanced (a timer that sets itself again at once?)"
        )

    def _run_due(self, runtime: Runtime) -> int:
        if isinstance(runtime, InlineRuntime):
            return runtime.drive()
        return poll_once(runtime)

    def __repr__(self) -> str:
        return f"<VirtualClock advanced={self.advanced}>"
