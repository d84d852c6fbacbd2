"""The pure parts of durable_celery.testing: the clock's arithmetic and checks, the
assertion messages, the SQL the clock builds, the plugin's registration, and README's
example being the suite's own files."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from durable_celery import InvalidOption, StepStatus
from durable_celery.store.sql import clock as clock_sql
from durable_celery.testing import StepAttempt, VirtualClock
from durable_celery.testing.assertions import check_step_ran

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2030, 1, 1, tzinfo=UTC)


def attempt(step: str, number: int, status: str, error: str | None = None) -> StepAttempt:
    return StepAttempt(
        step=step,
        attempt=number,
        status=StepStatus(status),
        started_at=AT,
        finished_at=AT,
        error_type=f"shop.errors.{error}" if error else None,
        error_message="card declined" if error else None,
    )


RAN = [
    attempt("welcome", 1, "completed"),
    attempt("charge", 1, "failed", "CardDeclined"),
    attempt("charge", 2, "completed"),
]


def test_the_clock_is_real_now_plus_what_was_advanced():
    clock = VirtualClock()
    clock.advanced = timedelta(days=30)
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs(clock.now() - expected) < timedelta(seconds=5)


@pytest.mark.parametrize("delta", [-1, timedelta(seconds=-1), "1d", float("nan")])
def test_the_clock_never_goes_back_or_takes_nonsense(delta):
    clock = VirtualClock()
    with pytest.raises(InvalidOption):
        clock.advance(delta)
    assert clock.advanced == timedelta(0)


def test_step_ran_counts_attempts_whatever_their_outcome():
    assert len(check_step_ran(RAN, "charge", times=2)) == 2
    assert len(check_step_ran(RAN, "charge", times=1, status="completed")) == 1
    assert check_step_ran(RAN, "refund", times=0) == []


def test_step_ran_fails_with_the_whole_timeline():
    with pytest.raises(AssertionError) as failed:
        check_step_ran(RAN, "charge", times=3)
    assert str(failed.value) == (
        "step 'charge' ran 2 times, expected 3 times; ran: welcome#1 completed; "
        "charge#1 failed (CardDeclined: card declined); charge#2 completed"
    )
    with pytest.raises(AssertionError, match=r"step 'ship' ran 0 times, expected at least once"):
        check_step_ran(RAN, "ship")
    with pytest.raises(AssertionError, match=r"step 'charge' \(failed\) ran once, expected"):
        check_step_ran(RAN, "charge", times=2, status="failed")


def test_the_shift_moves_every_column_of_every_table_in_one_statement():
    statement = clock_sql.shift_back(
        {"runs": [("run_at", False), ('odd"name', False)], "windows": [("starts", True)]}
    ).text
    assert statement.count("UPDATE") == 2 and statement.startswith("WITH ")
    assert '"odd""name" = "odd""name" - make_interval' in statement
    assert 'unnest("starts") WITH ORDINALITY' in statement  # arrays keep their order


def test_the_plugin_entry_point_is_named_like_its_module():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    plugins = project["project"]["entry-points"]["pytest11"]
    assert plugins == {"durable_celery.testing": "durable_celery.testing"}
    assert "durable_celery.testing" in project["tool"]["setuptools"]["packages"]


def test_readme_shows_the_example_files_as_they_are():
    """README's "Testing your workflows" blocks are the suite's files, so it cannot rot."""
    readme = (ROOT / "README.md").read_text()
    shown = re.findall(r"<!-- file: (\S+) -->\n```python\n(.*?)```", readme, re.DOTALL)
    assert {path for path, _ in shown} == {
        "tests/integration/flows_toolkit.py",
        "tests/integration/test_testing_toolkit_example.py",
    }
    for path, code in shown:
        assert code == (ROOT / path).read_text(), f"README's copy of {path} differs"
