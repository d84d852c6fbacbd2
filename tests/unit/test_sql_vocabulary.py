"""Every status, kind or reason written as a literal in the SQL is a value of the enums in
durable_celery.states: a typo in a statement cannot invent a state."""

from __future__ import annotations

import importlib
import pkgutil
import re
from enum import StrEnum

import pytest
from sqlalchemy import TextClause

from durable_celery import states
from durable_celery.store import sql

# Every module of the package: a new one is checked without being listed here.
MODULES = [
    importlib.import_module(f"{sql.__name__}.{info.name}")
    for info in pkgutil.iter_modules(sql.__path__)
]

VOCABULARY = {
    member.value
    for enum in vars(states).values()
    if isinstance(enum, type) and issubclass(enum, StrEnum) and enum is not StrEnum
    for member in enum
}
# Literals that are not states: SQL values and the recorded error of an abandoned attempt.
OTHER_LITERALS = {
    "infinity",
    "{}",
    "type",
    "message",
    "?",
    "durable_celery.errors.LockLost",
    "lock_timeout",
}
LITERAL = re.compile(r"'((?:[^']|'')*)'")

STATEMENTS = [
    (module.__name__.rsplit(".", 1)[1], name, statement)
    for module in MODULES
    for name, statement in vars(module).items()
    if isinstance(statement, TextClause)
]


def test_every_module_of_statements_is_checked():
    checked = {module for module, _, _ in STATEMENTS}
    assert {"executions", "schedules", "pending", "sweeps", "waits"} <= checked
    assert len(STATEMENTS) >= 50


@pytest.mark.parametrize(("module", "name", "statement"), STATEMENTS)
def test_status_literals_are_enum_values(module, name, statement):
    sql = re.sub(r"--[^\n]*", "", statement.text)
    literals = set(LITERAL.findall(sql))
    unknown = {
        literal
        for literal in literals - VOCABULARY - OTHER_LITERALS
        if not literal.startswith(("the worker stopped heartbeating", "the attempt was"))
    }
    assert not unknown, f"{module}.{name} uses literals that are no state: {unknown}"
