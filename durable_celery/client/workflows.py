"""The workflows this process knows: names, versions, queues, steps and schedules."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from durable_celery.dsl import Workflow, registered_workflows
from durable_celery.runtime import Runtime, current_runtime


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule declared on a workflow class (`schedule = Cron(...)`)."""

    key: str
    kind: str  # "cron" or "every"
    expression: str  # the cron expression, or the interval in seconds
    timezone: str


@dataclass(frozen=True)
class WorkflowInfo:
    """One registered workflow. `queue` is the workflow's own (None: the app's routing
    decides at start)."""

    name: str
    version: str | int | None
    queue: str | None
    steps: tuple[str, ...]
    schedules: tuple[ScheduleInfo, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, used by the CLI's --json."""
        data = asdict(self)
        data["steps"] = list(self.steps)
        data["schedules"] = [asdict(schedule) for schedule in self.schedules]
        return data


def list_workflows(*, runtime: Runtime | None = None) -> list[WorkflowInfo]:
    """The workflows registered in this process, by name, after importing the runtime's
    workflow modules (`durable_workflow_modules`)."""
    (runtime or current_runtime()).import_workflows()
    return [_info(workflow) for _, workflow in sorted(registered_workflows().items())]


def _info(workflow: type[Workflow]) -> WorkflowInfo:
    return WorkflowInfo(
        name=workflow.name,
        version=workflow.version,
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
