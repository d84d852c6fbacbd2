"""Schedules: when a workflow starts by itself.

`Cron(...)` and `Every(...)` declare one, on a workflow class (`schedule = Cron("0 3 * * *",
timezone="Europe/Paris")`, or a list of them) or at run time through `dc.schedule`. Both
check every option when they are built, so a mistake fails where it is written;
`ScheduleSpec` is the checked form the engine and the store work with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from durable_celery.checks import check_name, check_queue
from durable_celery.dsl.cron import CronExpression
from durable_celery.errors import InvalidOption, WorkflowDefinitionError
from durable_celery.states import MisfirePolicy, OverlapPolicy, TriggerKind
from durable_celery.time import Duration, require_aware, to_timedelta, zone_named

DEFAULT_MISFIRE_GRACE = timedelta(seconds=15)
DEFAULT_CATCH_UP_LIMIT = 10
MIN_INTERVAL = timedelta(seconds=1)  # the poller's own granularity
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Trigger(Protocol):
    """When a schedule fires: `next_after` is its only behaviour."""

    @property
    def kind(self) -> TriggerKind: ...

    @property
    def expression(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    def next_after(self, moment: datetime) -> datetime: ...


@dataclass(frozen=True)
class CronTrigger:
    cron: CronExpression
    zone: ZoneInfo
    kind: TriggerKind = TriggerKind.CRON

    @property
    def expression(self) -> str:
        return self.cron.text

    @property
    def timezone(self) -> str:
        return self.zone.key

    def next_after(self, moment: datetime) -> datetime:
        return self.cron.next_after(moment, self.zone)


@dataclass(frozen=True)
class IntervalTrigger:
    """Fires every `interval`, on multiples of it counted from the Unix epoch (UTC): every
    15 minutes fires at :00, :15, :30 and :45, the same instants in every process, so the
    fire times (and their idempotency keys) never depend on when a beat started."""

    interval: timedelta
    kind: TriggerKind = TriggerKind.EVERY
    timezone: str = "UTC"

    @property
    def expression(self) -> str:
        seconds = self.interval.total_seconds()
        return str(int(seconds)) if seconds.is_integer() else str(seconds)

    def next_after(self, moment: datetime) -> datetime:
        elapsed = require_aware(moment, "moment") - _EPOCH
        step = self.interval // _MICROSECOND
        count = elapsed // _MICROSECOND // step + 1
        return _EPOCH + timedelta(microseconds=count * step)


def trigger_of(kind: TriggerKind | str, expression: str, timezone: str = "UTC") -> Trigger:
    """The trigger a stored schedule row describes."""
    if TriggerKind(kind) is TriggerKind.CRON:
        return CronTrigger(CronExpression.parse(expression), zone_named(timezone))
    return IntervalTrigger(timedelta(seconds=float(expression)))


def cron_trigger(expression: Any, timezone: Any = "UTC") -> CronTrigger:
    """A cron string or a `celery.schedules.crontab`, in an IANA time zone."""
    if isinstance(expression, str):
        cron = CronExpression.parse(expression)
    else:
        cron = CronExpression.from_celery(expression)
    return CronTrigger(cron, zone_named(timezone))


def interval_trigger(interval: Any) -> IntervalTrigger:
    delta = to_timedelta(interval, "schedule interval")
    if delta < MIN_INTERVAL:
        raise InvalidOption(f"schedule interval must be at least 1 second, got {delta}")
    return IntervalTrigger(delta)


@dataclass(frozen=True)
class ScheduleOptions:
    """What a fire starts, and what it does when fires were missed or overlap."""

    input: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    queue: str | None = None
    overlap: OverlapPolicy = OverlapPolicy.ALLOW
    misfire: MisfirePolicy = MisfirePolicy.COALESCE
    misfire_grace: timedelta = DEFAULT_MISFIRE_GRACE
    catch_up_limit: int = DEFAULT_CATCH_UP_LIMIT

    @classmethod
    def checked(
        cls,
        *,
        input: Mapping[str, Any] | None = None,
        key: str | None = None,
        queue: str | None = None,
        overlap: OverlapPolicy | str = OverlapPolicy.ALLOW,
        misfire: MisfirePolicy | str = MisfirePolicy.COALESCE,
        misfire_grace: Duration = DEFAULT_MISFIRE_GRACE,
        catch_up_limit: int = DEFAULT_CATCH_UP_LIMIT,
    ) -> ScheduleOptions:
        limit = catch_up_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidOption(f"catch_up_limit must be an int from 1 to 1000, got {limit!r}")
        return cls(
            input=_checked_input(input),
            key=None if key is None else check_name(key, "schedule key"),
            queue=None if queue is None else check_queue(queue),
            overlap=_policy(OverlapPolicy, overlap, "overlap"),
            misfire=_policy(MisfirePolicy, misfire, "misfire"),
            misfire_grace=_grace(misfire_grace),
            catch_up_limit=limit,
        )


class Cron:
    """Fire on a cron expression (or a Celery `crontab(...)`) in an IANA time zone:

    schedule = Cron("0 3 * * *", timezone="Europe/Paris", input={"kind": "daily"})
    """

    def __init__(self, expression: Any, *, timezone: str = "UTC", **options: Any) -> None:
        self.trigger: Trigger = cron_trigger(expression, timezone)
        self.options = ScheduleOptions.checked(**options)

    def __repr__(self) -> str:
        return f"Cron({self.trigger.expression!r}, timezone={self.trigger.timezone!r})"


class Every:
    """Fire every `interval` (a timedelta or seconds, at least 1 s), on multiples of it
    counted from the Unix epoch: `Every(minutes(15))` fires at :00, :15, :30, :45."""

    def __init__(self, interval: Duration, **options: Any) -> None:
        self.trigger: Trigger = interval_trigger(interval)
        self.options = ScheduleOptions.checked(**options)

    def __repr__(self) -> str:
        return f"Every(seconds({self.trigger.expression}))"


@dataclass(frozen=True)
class ScheduleSpec:
    """A checked schedule of one workflow, by key."""

    key: str
    workflow: str
    trigger: Trigger
    options: ScheduleOptions

    def next_after(self, moment: datetime) -> datetime:
        return self.trigger.next_after(moment)

    def fields(self, next_fire_at: datetime) -> dict[str, Any]:
        """The schedule as flat values, named like the store's columns."""
        options = self.options
        return {
            "key": self.key,
            "workflow": self.workflow,
            "trigger_kind": self.trigger.kind,
            "expression": self.trigger.expression,
            "timezone": self.trigger.timezone,
            "input": options.input,
            "queue": options.queue,
            "overlap": options.overlap,
            "misfire": options.misfire,
            "misfire_grace": options.misfire_grace.total_seconds(),
            "catch_up_limit": options.catch_up_limit,
            "next_fire_at": next_fire_at,
        }


def declared_schedules(workflow: str, declared: Any) -> tuple[ScheduleSpec, ...]:
    """The `schedule` attribute of a workflow class: a Cron, an Every, or a list of them.
    One schedule's key defaults to the workflow's name; several need distinct keys."""
    if declared is None:
        return ()
    items = list(declared) if isinstance(declared, (list, tuple)) else [declared]

    def fail(problem: str) -> WorkflowDefinitionError:
        return WorkflowDefinitionError(f"workflow {workflow!r}: {problem}")

    specs: dict[str, ScheduleSpec] = {}
    for item in items:
        if not isinstance(item, (Cron, Every)):
            raise fail(
                f"schedule must be a Cron(...), an Every(...) or a list of them, got {item!r}"
            )
        key = item.options.key
        if key is None:
            if len(items) > 1:
                raise fail(f"with several schedules, give each a key=...: {item!r} has none")
            key = workflow
        if key in specs:
            raise fail(f"two schedules have the key {key!r}")
        specs[key] = ScheduleSpec(key, workflow, item.trigger, item.options)
    return tuple(specs.values())


def schedule_spec(key: Any, workflow: str, when: Any, **options: Any) -> ScheduleSpec:
    """The checked form of `dc.schedule(key, workflow, when, ...)`: `when` is a cron string,
    a Celery crontab, a timedelta (an interval), or a Cron or Every (whose options the
    keyword options replace)."""
    timezone = options.pop("timezone", None)
    if isinstance(when, (Cron, Every)):
        if timezone is not None:
            raise InvalidOption("give the time zone to Cron(...), not beside it")
        trigger = when.trigger
        checked = ScheduleOptions.checked(**{**vars(when.options), **options})
    else:
        if isinstance(when, timedelta):
            if timezone is not None:
                raise InvalidOption("an interval schedule takes no time zone")
            trigger = interval_trigger(when)
        else:
            trigger = cron_trigger(when, "UTC" if timezone is None else timezone)
        checked = ScheduleOptions.checked(**options)
    return ScheduleSpec(check_name(key, "schedule key"), workflow, trigger, checked)


def _grace(value: Duration) -> timedelta:
    grace = to_timedelta(value, "misfire_grace")
    if grace < MIN_INTERVAL:
        # Shorter than the poller's own period, every fire would count as missed.
        raise InvalidOption(f"misfire_grace must be at least 1 second, got {grace}")
    return grace


def _checked_input(input: Mapping[str, Any] | None) -> dict[str, Any]:
    if input is None:
        return {}
    if not isinstance(input, Mapping):
        raise InvalidOption(f"schedule input must be a dict, got {type(input).__name__}")
    try:
        return dict(json.loads(json.dumps(dict(input), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InvalidOption(f"schedule input is not JSON: {exc}") from None


def _policy(kind: type[Any], value: Any, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(str(member)) for member in kind)
        raise InvalidOption(f"{what} must be one of {allowed}, got {value!r}") from None
