"""Workflow versions across a deploy: executions started on version 1 wait while version 2
is deployed beside it, and each completes on its own version's code; an execution of a
version its worker does not have fails with a clear error; the query filter and the
`versions` command count what still runs on each version."""

from __future__ import annotations

import json
import os

import pytest

import durable_celery as dc
from durable_celery.cli import main
from durable_celery.states import ExecutionStatus
from durable_celery.testing import WorkerProcess, wait_until
from tests.integration.conftest import ROOT, RUN
from tests.integration.flows_versions_v1 import NAME, OrderV1
from tests.integration.flows_versions_v2 import RETIRED, OrderV2

QUEUE = f"versions-{RUN}"
V1_ONLY = "tests.integration.flows_versions_v1"
V1_AND_V2 = "tests.integration.flows_versions_v1,tests.integration.flows_versions_v2"
WAITING = ExecutionStatus.WAITING
V1_STEPS = ["reserve", "wait_payment", "ship"]
V2_STEPS = ["check_stock", "wait_payment", "invoice", "ship"]


def deployed(modules: str, name: str) -> WorkerProcess:
    """A worker on this module's queue whose code registers only `modules`."""
    return WorkerProcess(
        queues=[QUEUE],
        concurrency=2,
        # A version newer than the worker's code comes back after a second, not 30.
        env={**os.environ, "DURABLE_WORKFLOW_MODULES": modules, "DURABLE_NEWER_VERSION_DELAY": "1"},
        cwd=ROOT,
        name=f"{name}-{RUN}",
    ).start()


def all_in(ids: list[str], status: ExecutionStatus) -> bool:
    return all(dc.get_execution(i, include_steps=False).status is status for i in ids)


def versions_cli(capsys: pytest.CaptureFixture[str]) -> dict[int, dict[str, object]]:
    assert main(["versions", "--workflow", NAME, "--json"]) == 0
    return {row["version"]: row for row in json.loads(capsys.readouterr().out)}


def test_v1_executions_finish_on_v1_code_after_v2_is_deployed(runtime, worker, capsys):
    # `worker`: the session worker's beat is the poller that offers the deferred one again.
    old = deployed(V1_ONLY, "v1")
    try:
        v1 = [OrderV1.start_durable({"n": n}, queue=QUEUE).id for n in range(3)]
        # A client that already has version 2 starts it before any worker has it (a
        # rolling deploy): the old worker leaves it pending for a worker that has it.
        ahead = OrderV2.start_durable({"n": 9}, queue=QUEUE).id
        assert wait_until(lambda: all_in(v1, WAITING), 20), old.log_tail()
        assert wait_until(lambda: "is newer than this worker's" in old.log_tail(200), 20)
    finally:
        old.stop()

    deferred = dc.get_execution(ahead)
    assert (deferred.version, deferred.status, deferred.steps) == (2, ExecutionStatus.PENDING, ())

    # The deploy: version 2 beside version 1. Starts by name now get the newest.
    new = deployed(V1_AND_V2, "v2")
    try:
        v2 = [dc.start(NAME, {"n": n}, queue=QUEUE).id for n in range(2)] + [ahead]
        assert wait_until(lambda: all_in(v2, WAITING), 20), new.log_tail()

        assert {e.id for e in dc.list_executions(NAME, version=1, queue=QUEUE)} == set(v1)
        assert {e.id for e in dc.list_executions(NAME, version=2, queue=QUEUE)} == set(v2)
        assert dc.count_executions(NAME, version=1, queue=QUEUE) == {WAITING: 3}
        counts = versions_cli(capsys)
        assert (counts[1]["waiting"], counts[1]["deletable"]) == (3, False)
        assert (counts[2]["waiting"], counts[2]["newest"]) == (3, True)

        for execution_id in v1 + v2:
            dc.send_event(execution_id, "paid", "42 EUR")
        results = {i: dc.ExecutionHandle(i).result(timeout=20) for i in v1 + v2}
    finally:
        new.stop()

    for execution_id in v1:
        assert results[execution_id] == {"version": 1, "paid": "42 EUR"}
        execution = dc.get_execution(execution_id)
        assert (execution.version, [s.step for s in execution.steps or ()]) == (1, V1_STEPS)
    for execution_id in v2:
        assert results[execution_id] == {
            "version": 2,
            "paid": "42 EUR",
            "invoice": "invoice for 42 EUR",
        }
        execution = dc.get_execution(execution_id)
        assert (execution.version, [s.step for s in execution.steps or ()]) == (2, V2_STEPS)

    # Nothing runs on version 1 any more: the command says its class can go.
    counts = versions_cli(capsys)
    assert (counts[1]["live"], counts[1]["deletable"]) == (0, True)
    assert main(["versions", "--workflow", NAME]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["WORKFLOW", "VERSION", "PENDING", "RUNNING", "WAITING", "STATE"]
    assert lines[1].split() == [NAME, "1", "0", "0", "0", "safe", "to", "delete"]
    assert lines[2].split()[:6] == [NAME, "2", "0", "0", "0", "newest"]


def test_the_version_filter_refuses_what_is_not_a_version(runtime):
    for bad in (0, "1", True):
        with pytest.raises(dc.InvalidOption, match="version must be an int >= 1"):
            dc.list_executions(NAME, version=bad)


class RetiredV1(dc.Workflow):
    """Version 1 as a client still has it: no worker registers it any more."""

    name = RETIRED
    version = 1

    @dc.step
    def only(ctx: dc.StepContext) -> int:
        return 1


def test_an_execution_of_a_version_no_longer_deployed_fails_naming_the_versions(worker):
    execution_id = RetiredV1.start_durable().id
    assert wait_until(
        lambda: dc.get_execution(execution_id, include_steps=False).status.finished, 20
    ), worker.log_tail()
    failed = dc.get_execution(execution_id)
    assert (failed.status, failed.version) == (ExecutionStatus.FAILED, 1)
    assert failed.error is not None
    assert failed.error["type"] == "durable_celery.errors.UnknownWorkflowVersion"
    assert failed.error["message"] == (
        f"workflow {RETIRED!r} has no version 1 registered in this worker (registered: 2); "
        f"deploy the code of version 1 again until its executions drain, or cancel them"
    )
