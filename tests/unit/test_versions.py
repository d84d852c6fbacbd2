"""Workflow versions: `version` is an int >= 1, several versions of one name register side
by side, and a lookup of a version that is not registered names the ones that are."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable_celery import (
    StepContext,
    UnknownWorkflow,
    UnknownWorkflowVersion,
    Workflow,
    WorkflowDefinitionError,
    step,
)
from durable_celery.client.workflows import VersionInfo
from durable_celery.dsl import get_workflow, registered_versions, registered_workflows
from durable_celery.store.starts import NewExecution


def only(ctx: StepContext) -> None: ...


def _define(name: str, version: object, qualname: str = "Versioned", **options: object) -> type:
    body = {
        "name": name,
        "version": version,
        "__module__": __name__,
        "__qualname__": qualname,
        "only": step(only),
        **options,
    }
    return type(qualname, (Workflow,), body)


def test_the_default_version_is_1():
    class Plain(Workflow):
        name = "tests.versions.plain"

        @step
        def only(ctx: StepContext) -> None: ...

    assert Plain.version == 1
    assert get_workflow("tests.versions.plain", 1) is Plain


@pytest.mark.parametrize("bad", [0, -1, "2024.06", "2", 1.0, True, None])
def test_a_version_that_is_not_an_int_from_1_is_refused(bad):
    with pytest.raises(WorkflowDefinitionError) as raised:
        _define("tests.versions.bad", bad)
    assert str(raised.value) == (
        f"workflow 'tests.versions.bad': version must be an int >= 1 (executions are "
        f"pinned to it), got {bad!r}"
    )
    with pytest.raises(UnknownWorkflow):
        get_workflow("tests.versions.bad")


def test_two_versions_of_one_name_register_side_by_side():
    v1 = _define("tests.unit.versions.order", 1, "OrderV1")
    v3 = _define("tests.unit.versions.order", 3, "OrderV3", timeout=timedelta(hours=1))
    v2 = _define("tests.unit.versions.order", 2, "OrderV2")

    # By name: the newest, what a start by name uses; by version: exactly that one.
    assert get_workflow("tests.unit.versions.order") is v3
    assert registered_workflows()["tests.unit.versions.order"] is v3
    assert [get_workflow("tests.unit.versions.order", v) for v in (1, 2, 3)] == [v1, v2, v3]
    assert registered_versions()["tests.unit.versions.order"] == {1: v1, 2: v2, 3: v3}
    # A start of a class is pinned to that class's version, whichever is newest.
    new = NewExecution.of(v1, {}, queue="q")
    assert (new.workflow, new.workflow_version) == ("tests.unit.versions.order", 1)
    assert NewExecution.of(v3, {}, queue="q").workflow_version == 3


def test_a_missing_version_is_an_error_naming_the_versions_there_are():
    _define("tests.versions.shipping", 2, "ShippingV2")
    _define("tests.versions.shipping", 3, "ShippingV3")
    with pytest.raises(UnknownWorkflowVersion) as raised:
        get_workflow("tests.versions.shipping", 1)
    assert str(raised.value) == (
        "workflow 'tests.versions.shipping' has no version 1 registered in this worker "
        "(registered: 2, 3); deploy the code of version 1 again until its executions "
        "drain, or cancel them"
    )
    assert (raised.value.version, raised.value.versions) == (1, [2, 3])
    # Still an UnknownWorkflow: whatever failed an execution of an unknown workflow
    # fails one of an unknown version too.
    assert isinstance(raised.value, UnknownWorkflow)
    with pytest.raises(UnknownWorkflow, match=r"no workflow is registered as 'tests\.versions\.x'"):
        get_workflow("tests.versions.x", 1)


def test_one_name_and_one_version_twice_is_refused():
    first = _define("tests.versions.twice", 1, "First")
    with pytest.raises(WorkflowDefinitionError) as raised:
        _define("tests.versions.twice", 1, "Second")
    assert str(raised.value) == (
        f"workflow name 'tests.versions.twice' version 1 is already registered by "
        f"{__name__}.First; cannot register {__name__}.Second under the same name and "
        f"version (a changed workflow whose old executions still run takes version = 2)"
    )
    assert registered_versions()["tests.versions.twice"] == {1: first}
    # Re-running the same class definition (a module reload) replaces it.
    again = _define("tests.versions.twice", 1, "First")
    assert get_workflow("tests.versions.twice") is again


def test_version_states_tell_what_can_be_deleted():
    def info(registered: bool, newest: bool, live: int) -> VersionInfo:
        return VersionInfo("w", 1, registered, newest, waiting=live)

    assert info(True, False, 0).deletable
    assert not info(True, False, 2).deletable  # draining
    assert not info(True, True, 0).deletable  # the newest: new starts use it
    assert info(False, False, 3).stranded and not info(False, False, 0).stranded
    assert info(True, False, 0).to_dict() == {
        "workflow": "w",
        "version": 1,
        "registered": True,
        "newest": False,
        "pending": 0,
        "running": 0,
        "waiting": 0,
        "live": 0,
        "deletable": True,
    }
