"""The workflows this process knows: names, versions, queues, steps and schedules; and
how many live executions each registered (or vanished) version still has."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from durable_celery.checks import check_text
from durable_celery.dsl import Workflow, registered_versions
from durable_celery.runtime import Runtime, current_runtime
from durable_celery.store import queries
from durable_celery.store.connections import reading


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule declared on a workflow class (`schedule = Cron(...)`)."""

    key: str
    kind: str  # "cron" or "every"
    expression: str  # the cron expression, or the interval in seconds
    timezone: str


@dataclass(frozen=True)
class WorkflowInfo:
    """One registered workflow, as its newest version declares it: `version` is that one
    (what a start by name uses), `versions` every registered version, ascending. `queue`
    is the workflow's own (None: the app's routing decides at start)."""

    name: str
    version: int
    queue: str | None
    steps: tuple[str, ...]
    schedules: tuple[ScheduleInfo, ...]
    versions: tuple[int, ...] = (1,)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, used by the CLI's --json."""
        data = asdict(self)
        data["steps"] = list(self.steps)
        data["versions"] = list(self.versions)
        data["schedules"] = [asdict(schedule) for schedule in self.schedules]
        return data


def list_workflows(*, runtime: Runtime | None = None) -> list[WorkflowInfo]:
    """The workflows registered in this process, by name, after importing the runtime's
    workflow modules (`durable_workflow_modules`)."""
    (runtime or current_runtime()).import_workflows()
    return [_info(versions) for _, versions in sorted(registered_versions().items())]


def _info(versions: dict[int, type[Workflow]]) -> WorkflowInfo:
    workflow = versions[max(versions)]
    return WorkflowInfo(
        name=workflow.name,
        version=workflow.version,
        versions=tuple(versions),
        queue=workflow.queue,
        steps=tuple(workflow.step_names()),
        schedules=tuple(
            ScheduleInfo(
                key=spec.key,
                kind=str(spec.trigger.kind),
                expression=spec.trigger.expression,
                timezone=spec.trigger.timezone,
            )
            for spec in workflow.__schedules__
        ),
    )


@dataclass(frozen=True)
class VersionInfo:
    """One version of one workflow: whether this process registers it (and whether it is
    the newest, which starts by name use) and its live executions by status."""

    workflow: str
    version: int
    registered: bool
    newest: bool
    pending: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def live(self) -> int:
        return self.pending + self.running + self.waiting

    @property
    def deletable(self) -> bool:
        """An old registered version no execution runs on any more: its class can go."""
        return self.registered and not self.newest and self.live == 0

    @property
    def stranded(self) -> bool:
        """Live executions of a version no class is registered for: a worker fails them."""
        return not self.registered and self.live > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, used by the CLI's --json."""
        return {**asdict(self), "live": self.live, "deletable": self.deletable}


def workflow_versions(
    workflow: str | None = None, *, runtime: Runtime | None = None
) -> list[VersionInfo]:
    """Every registered version of every workflow (or of `workflow`), and every version
    that still has live executions (pending, running or waiting), by name and version:
    what tells when an old version's class can be deleted."""
    if workflow is not None:
        check_text(workflow, "workflow")
    runtime = runtime or current_runtime()
    runtime.import_workflows()
    registered = {
        name: sorted(versions)
        for name, versions in registered_versions().items()
        if workflow is None or name == workflow
    }
    with reading(runtime.database) as conn:
        loads = {
            (load.workflow, load.version): load for load in queries.version_load(conn, workflow)
        }
    keys = {(name, v) for name, versions in registered.items() for v in versions} | set(loads)
    found: list[VersionInfo] = []
    for name, version in sorted(keys):
        load = loads.get((name, version))
        known = registered.get(name, [])
        found.append(
            VersionInfo(
                workflow=name,
                version=version,
                registered=version in known,
                newest=bool(known) and version == known[-1],
                pending=0 if load is None else load.pending,
                running=0 if load is None else load.running,
                waiting=0 if load is None else load.waiting,
            )
        )
    return found
