"""Routing as declared: `END`, the names a decision or branch can return (checked when
the class is defined), and the layout of `@branch` steps: which steps make up each case,
and where each branch joins. Worked out once, when the workflow class is defined, so that
routing at run time is a lookup.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from durable_celery.dsl.steps import StepKind, StepSpec
from durable_celery.errors import WorkflowDefinitionError

Fail = Callable[[str], WorkflowDefinitionError]


class _End(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


# A str, so that it is stored as the deciding step's output as it is; step and case names
# cannot start with an underscore, so it can never be mistaken for one.
END: Final[str] = _End("__end__")
"""What a decision or a branch returns to end the workflow (completed)."""


@dataclass(frozen=True)
class BranchLayout:
    cases: dict[str, tuple[str, ...]]  # case name -> its steps, in class order
    join: str | None  # the first step after the cases; None: the workflow ends there


def layout_branches(forward: Mapping[str, StepSpec], fail: Fail) -> dict[str, BranchLayout]:
    """The branches of the forward steps (in class order), by branch name. A case's steps
    must come right after their branch, as one block; the first other step joins."""
    cases: dict[str, dict[str, list[str]]] = {}
    joins: dict[str, str | None] = {}
    open_branch: str | None = None
    for name, spec in forward.items():
        if spec.case_of is None:
            if open_branch is not None:
                joins[open_branch] = name
                open_branch = None
            if spec.kind is StepKind.BRANCH:
                cases[name] = {}
                open_branch = name
            continue
        owner, case = spec.case_of
        _check_case_step(name, spec, forward, fail)
        if owner != open_branch:
            if owner not in cases:
                raise fail(
                    f"case step {name!r} of branch {owner!r} comes before the branch; case "
                    f"steps come right after their branch, as one block"
                )
            raise fail(
                f"case step {name!r} of branch {owner!r} comes after step {joins[owner]!r}, "
                f"which is not one of its cases; case steps come right after their branch, "
                f"as one block"
            )
        cases[owner].setdefault(case, []).append(name)
    if open_branch is not None:
        joins[open_branch] = None
    layouts = {}
    for branch, steps in cases.items():
        if not steps:
            raise fail(
                f"branch {branch!r} declares no cases; declare its steps with "
                f'@{branch}.case("name")'
            )
        layouts[branch] = BranchLayout(
            {case: tuple(names) for case, names in steps.items()}, joins[branch]
        )
        for target in literal_targets(forward[branch].fn):
            if target not in steps:
                raise fail(
                    f"branch {branch!r} can return {target!r}, which is not one of its cases "
                    f"(cases: {', '.join(steps)})"
                )
    return layouts


def _check_case_step(
    name: str, spec: StepSpec, forward: Mapping[str, StepSpec], fail: Fail
) -> None:
    assert spec.case_of is not None
    owner = spec.case_of[0]
    owner_spec = forward.get(owner)
    if owner_spec is None or owner_spec.kind is not StepKind.BRANCH:
        raise fail(
            f"step {name!r} is declared as a case of {owner!r}, which is not a @branch of "
            f"this workflow"
        )


def literal_targets(fn: Callable[..., Any]) -> list[str]:
    """String constants a decision or branch function returns, where its source can be
    read. `return END` (or `dc.END`) is a name, not a constant: it is never listed."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return []
    function = next(
        (
            node
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        ),
        None,
    )
    if function is None:
        return []
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Return) and child.value is not None:
                values = [child.value]
                while any(isinstance(value, ast.IfExp) for value in values):
                    values = [
                        part
                        for value in values
                        for part in (
                            (value.body, value.orelse) if isinstance(value, ast.IfExp) else (value,)
                        )
                    ]
                found.extend(
                    value.value
                    for value in values
                    if isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                    and value.value != END
                )
            visit(child)

    visit(function)
    return found
