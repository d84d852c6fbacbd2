"""END, @branch, retried decisions, per-branch queues and per-step output capture: the
rules checked at class definition, and the pure routing in engine.outcomes."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from datetime import timedelta

import pytest
from celery.utils.log import LoggingProxy, get_logger

from durable_celery import (
    Retry,
    StepContext,
    Workflow,
    WorkflowDefinitionError,
    decision,
    each,
    parallel,
    step,
)
from durable_celery.dsl import END, branch
from durable_celery.engine import capture, outcomes
from durable_celery.engine.outcomes import RetryLater
from durable_celery.errors import DecisionError

# --- END -------------------------------------------------------------------------------


class Pay(Workflow):
    name = "tests.unit.gaps.pay"

    @step
    def price(ctx: StepContext) -> None: ...

    @decision
    def route(ctx: StepContext) -> str | None:
        return END if ctx.input.get("free") else None

    @step
    def charge(ctx: StepContext) -> None: ...

    @decision
    def audit(ctx: StepContext) -> None:
        return None


def spec_of(workflow: type[Workflow], name: str):  # type: ignore[no-untyped-def]
    found = workflow.step_spec(name)
    assert found is not None
    return found


def test_end_is_stored_as_json_and_ends_the_execution():
    assert json.loads(json.dumps(END)) == END == "__end__" and repr(END) == "END"
    route = spec_of(Pay, "route")
    assert outcomes.next_step(Pay, route, END, 1, None) is None
    # As read back from the database after a restart: a plain string.
    assert outcomes.next_step(Pay, route, "__end__", 1, None) is None
    assert outcomes.next_step(Pay, route, None, 1, None) == "charge"
    with pytest.raises(
        DecisionError, match=r"allowed: price, route, charge, audit or None \(or END"
    ):
        outcomes.next_step(Pay, route, "nowhere", 1, None)


def test_a_routing_end_leaves_the_result_to_the_last_step_that_was_not_routing():
    results = {"price": {"total": 3}, "route": None, "charge": {"charged": 3}}
    assert outcomes.result_after_routing(Pay, ["price", "route"], results) == {"total": 3}
    assert outcomes.result_after_routing(Pay, ["price", "route", "charge"], results) == {
        "charged": 3
    }
    assert outcomes.result_after_routing(Pay, [], results) is None


def test_end_is_accepted_by_the_definition_check_however_it_is_spelled():
    class Spelled(Workflow):
        name = "tests.unit.gaps.spelled"

        @step
        def only(ctx: StepContext) -> None: ...

        @decision
        def plain(ctx: StepContext) -> str | None:
            return END

        @decision
        def module(ctx: StepContext) -> str | None:
            import durable_celery as dc

            return dc.END if ctx.input else "only"  # type: ignore[attr-defined,no-any-return]

        @decision
        def package(ctx: StepContext) -> str | None:
            import durable_celery

            return durable_celery.END  # type: ignore[attr-defined,no-any-return]

    assert Spelled.step_names() == ["only", "plain", "module", "package"]


def test_nested_conditional_literals_are_checked():
    with pytest.raises(WorkflowDefinitionError, match="can return 'nope'"):

        class Nested(Workflow):
            name = "tests.unit.gaps.nested_literal"

            @step
            def a(ctx: StepContext) -> None: ...

            @decision
            def pick(ctx: StepContext) -> str | None:
                return "a" if ctx.input else (END if ctx.step else "nope")


# --- branch: routing -------------------------------------------------------------------


class Fulfil(Workflow):
    name = "tests.unit.gaps.fulfil"

    @step
    def validate(ctx: StepContext) -> None: ...

    @branch
    def by_kind(ctx: StepContext) -> str | None:
        return ctx.input["kind"]  # type: ignore[no-any-return]

    @by_kind.case("physical")
    def reserve(ctx: StepContext) -> None: ...

    @by_kind.case("digital")
    def email_link(ctx: StepContext) -> None: ...

    @by_kind.case("physical", retry=Retry(max_attempts=3), timeout=30, queue="io")
    def ship(ctx: StepContext) -> None: ...

    @step
    def notify(ctx: StepContext) -> None: ...

    @branch
    def last(ctx: StepContext) -> str:
        return "only"

    @last.case("only")
    def tail(ctx: StepContext) -> None: ...


def after(name: str, output: object = None) -> str | None:
    return outcomes.next_step(Fulfil, spec_of(Fulfil, name), output, 1, None)


@pytest.mark.parametrize(
    ("name", "output", "following"),
    [
        ("by_kind", "physical", "reserve"),  # the first step of the chosen case
        ("by_kind", "digital", "email_link"),
        ("reserve", None, "ship"),  # email_link, of another case, is skipped
        ("ship", None, "notify"),  # the join
        ("email_link", None, "notify"),
        ("by_kind", None, "notify"),  # None: no case at all
        ("by_kind", END, None),
        ("notify", None, "last"),
        ("last", "only", "tail"),
        ("tail", None, None),  # no join: the workflow ends
        ("last", None, None),
    ],
)
def test_a_branch_runs_the_chosen_case_then_joins(name, output, following):
    assert after(name, output) == following


@pytest.mark.parametrize("output", ["boat", 3, ["physical"]])
def test_an_unknown_case_is_a_decision_error_listing_the_cases(output):
    with pytest.raises(DecisionError) as raised:
        after("by_kind", output)
    assert (
        f"branch 'by_kind' of workflow 'tests.unit.gaps.fulfil' returned {output!r}, which is "
        f"not one of its cases; allowed: physical, digital or None (or END to end the workflow)"
    ) == str(raised.value)


def test_the_chooser_only_routes_and_case_steps_take_the_options_of_step():
    assert Fulfil.branch_layout("by_kind").cases == {
        "physical": ("reserve", "ship"),
        "digital": ("email_link",),
    }
    results = {"validate": {"ok": True}, "by_kind": "digital"}
    assert outcomes.result_after_routing(Fulfil, ["validate", "by_kind"], results) == {"ok": True}
    ship = spec_of(Fulfil, "ship")
    assert (ship.retry.max_attempts, ship.timeout, ship.queue) == (3, timedelta(seconds=30), "io")


# --- branch: definition errors ---------------------------------------------------------


def _define(body: dict[str, object]) -> type[Workflow]:
    return type("Bad", (Workflow,), {"name": "tests.unit.gaps.bad", "__module__": __name__, **body})


def choose(ctx: StepContext) -> str:
    return str(ctx.input["case"])


def one(ctx: StepContext) -> None: ...


def two(ctx: StepContext) -> None: ...


def between(ctx: StepContext) -> None: ...


CHOOSER = branch(choose)
BAD = "workflow 'tests.unit.gaps.bad'"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "choose": CHOOSER,
                "one": CHOOSER.case("a")(one),
                "between": step(between),
                "two": CHOOSER.case("b")(two),
            },
            f"{BAD}: case step 'two' of branch 'choose' comes after step 'between', which is "
            f"not one of its cases; case steps come right after their branch, as one block",
        ),
        (
            {"one": CHOOSER.case("a")(one), "choose": CHOOSER},
            f"{BAD}: case step 'one' of branch 'choose' comes before the branch; case steps "
            f"come right after their branch, as one block",
        ),
        (
            {"choose": CHOOSER, "one": step(one)},
            f"{BAD}: branch 'choose' declares no cases; declare its steps with "
            f'@choose.case("name")',
        ),
        *(
            (
                {"choose": CHOOSER, "two": inner},
                f"{BAD}, step 'two': is a @branch inside case 'a' of branch 'choose'; nested "
                f"branches are not supported: choose after the join, or with a @decision",
            )
            for inner in (CHOOSER.case("a")(branch(two)), branch(CHOOSER.case("a")(two)))
        ),
        (
            {"one": step(one), "two": step(one).case("a")(two)},
            f"{BAD}: step 'two' is declared as a case of 'one', which is not a @branch of "
            f"this workflow",
        ),
        (
            {"choose": CHOOSER, "one": CHOOSER.case("a")(decision(one))},
            f"{BAD}, step 'one': is a decision; a case step is a plain function decorated "
            f'with @choose.case("a", ...) only',
        ),
        (
            {"choose": CHOOSER, "one": CHOOSER.case("a")(each(items=lambda ctx: [])(one))},
            f"{BAD}, step 'one': is a each; a case step is a plain function decorated with "
            f'@choose.case("a", ...) only',
        ),
        *(
            (
                {"choose": CHOOSER, "one": CHOOSER.case(case)(one)},
                f"{BAD}, step 'one': case names must be non-empty strings not starting with "
                f"an underscore, got {case!r}",
            )
            for case in ("", "_hidden", 3)
        ),
        (
            {"choose": CHOOSER, "one": CHOOSER.case("a", retry=3)(one)},
            f"{BAD}, step 'one': retry must be a Retry(...), got 3",
        ),
    ],
)
def test_branch_declaration_mistakes_fail_at_class_definition(body, message):
    with pytest.raises(WorkflowDefinitionError) as raised:
        _define(body)
    assert str(raised.value) == message


def test_literal_cases_a_branch_returns_are_checked_at_definition():
    with pytest.raises(WorkflowDefinitionError) as raised:

        class Typo(Workflow):
            name = "tests.unit.gaps.typo"

            @branch
            def by_kind(ctx: StepContext) -> str | None:
                if ctx.input.get("x"):
                    return END
                return "digitl" if ctx.input else None

            @by_kind.case("digital")
            def email_link(ctx: StepContext) -> None: ...

    assert str(raised.value) == (
        "workflow 'tests.unit.gaps.typo': branch 'by_kind' can return 'digitl', which is not "
        "one of its cases (cases: digital)"
    )


# --- retried decisions and branches ------------------------------------------------------


def test_decisions_and_branches_take_a_retry_policy_and_stay_usable_bare():
    policy = Retry(max_attempts=3, base=2, jitter=False)
    chooser = branch(retry=policy)(choose)

    class Retried(Workflow):
        name = "tests.unit.gaps.retried"

        @decision(retry=policy)
        def route(ctx: StepContext) -> str | None:
            return None

        @decision
        def bare(ctx: StepContext) -> str | None:
            return None

        choose = chooser
        one = chooser.case("a")(one)

    route = spec_of(Retried, "route")
    assert route.retry is policy and spec_of(Retried, "choose").retry is policy
    assert spec_of(Retried, "bare").retry.max_attempts == 1
    failed = outcomes.after_failure(
        Retried, route, OSError("api down"), 1, compensating=False, completed=[]
    )
    assert failed == RetryLater(timedelta(seconds=2))
    # A decision that returned nonsense would do so again: not retried.
    unknown = outcomes.after_failure(
        Retried, route, DecisionError("x"), 1, compensating=False, completed=[]
    )
    assert not isinstance(unknown, RetryLater)


# --- per-branch queues -----------------------------------------------------------------


def credit(ctx: StepContext) -> int:
    return 1


def fraud(ctx: StepContext) -> int:
    return 2


def test_parallel_takes_a_queue_per_branch():
    class Routed(Workflow):
        name = "tests.unit.gaps.routed"
        checks = parallel(credit, fraud, queue={"fraud": "risk"})

    checks = spec_of(Routed, "checks")
    assert (checks.queue_of("fraud"), checks.queue_of("credit")) == ("risk", None)
    one_queue = parallel(credit, fraud, queue="io")
    assert one_queue.queue_of("fraud") == one_queue.queue_of("credit") == "io"


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        (
            {"frawd": "risk"},
            "step 'checks': queue names branch 'frawd', which is not a branch of this step "
            "(branches: credit, fraud)",
        ),
        ({"fraud": "no spaces"}, "step 'checks': queue of branch 'fraud' may contain letters"),
        ({"fraud": ""}, "step 'checks': queue of branch 'fraud' must be a non-empty string"),
    ],
)
def test_per_branch_queues_are_validated(queue, message):
    with pytest.raises(WorkflowDefinitionError) as raised:
        _define({"checks": parallel(credit, fraud, queue=queue)})
    assert message in str(raised.value)


# --- output capture --------------------------------------------------------------------


def _streams(monkeypatch: pytest.MonkeyPatch) -> tuple[io.StringIO, io.StringIO]:
    # In the test body: pytest's own capture sets sys.stdout again between setup and call.
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    return out, err


def test_prints_and_propagating_log_records_of_the_step_thread_are_captured(monkeypatch):
    out, err = _streams(monkeypatch)
    lines: list[str] = []
    library = logging.getLogger("tests.unit.gaps.library")
    with capture.step_output(lines, 65_536):
        print("hello", "world")
        print("oops", file=sys.stderr)
        library.warning("careful %d", 3)
        logging.getLogger("durable_celery.steps.x").warning("kept by ctx.logger itself")
        worker = threading.Thread(target=lambda: library.warning("another thread"))
        worker.start()
        worker.join()
        sys.stdout.write("two\nlines and a rest")
    print("after the step")
    assert lines == [
        "STDOUT hello world",
        "STDERR oops",
        "WARNING tests.unit.gaps.library: careful 3",
        "STDOUT two",
        "STDOUT lines and a rest",
    ]
    # A tee: the streams still get everything.
    assert out.getvalue() == "hello world\ntwo\nlines and a restafter the step\n"
    assert err.getvalue() == "oops\n"
    with pytest.raises(ValueError), capture.step_output(lines, 65_536):
        print("in a step that fails")
        raise ValueError("the step failed")
    print("outside")
    assert lines[-1] == "STDOUT in a step that fails"


def test_celery_redirected_stdout_gives_one_line_per_print(monkeypatch: pytest.MonkeyPatch):
    redirected = get_logger("celery.redirected")
    monkeypatch.setattr(sys, "stdout", LoggingProxy(redirected, logging.WARNING))
    lines: list[str] = []
    with capture.step_output(lines, 65_536):
        print("through logging")
    assert lines == ["STDOUT through logging"]


def test_a_log_handler_writing_to_stderr_does_not_capture_the_record_twice(monkeypatch):
    _, err = _streams(monkeypatch)
    library = logging.getLogger("tests.unit.gaps.stream")
    lines: list[str] = []
    with capture.step_output(lines, 65_536):
        handler = logging.StreamHandler()  # made while the tee is in place: writes to it
        library.addHandler(handler)
        try:
            library.error("once")
        finally:
            library.removeHandler(handler)
    assert lines == ["ERROR tests.unit.gaps.stream: once"]
    assert err.getvalue() == "once\n"


def test_capture_is_bounded_while_the_step_runs(monkeypatch):
    _streams(monkeypatch)
    lines: list[str] = []
    with capture.step_output(lines, 10_000):
        for number in range(50_000):
            print(number)
        sys.stdout.write("x" * 100_000)
    assert len(lines) <= capture.MAX_LINES + 1
    assert sum(len(line) for line in lines) < 10_000
    assert lines[-1].startswith("[") and "more lines of output dropped" in lines[-1]
