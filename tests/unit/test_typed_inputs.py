"""Typed human inputs, ctx.delete and run_child(timeout=) as a step sees them: the checks
made when a step asks and when an answer comes, with the engine replaced by a recorder."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest

import durable_celery as dc
from durable_celery import StepContext, states
from durable_celery.client.signals import list_pending_events, list_pending_inputs
from durable_celery.dsl import NO_VALUE
from durable_celery.dsl.inputs import Question, check_answer, check_question
from durable_celery.states import InputKind, WaitKind
from durable_celery.store.sql import pending


class FakeWaits:
    """A WaitService that records what a step asked and answers with `answer`."""

    def __init__(self, answer: Any = None, timed_out: bool = False) -> None:
        self.answer = answer
        self.timed_out = timed_out
        self.asked: list[dict[str, Any]] = []

    def sleep(self, seconds: float | None, until: datetime | None) -> None: ...

    def events(
        self, kind: WaitKind, names: list[str], timeout: float | None, timeout_value: Any
    ) -> Any: ...

    def input(
        self,
        name: str,
        prompt: str | None,
        fields: Any,
        timeout: float | None,
        timeout_value: Any,
        kind: InputKind = InputKind.VALUE,
        choices: list[Any] | None = None,
    ) -> Any:
        self.asked.append(
            {"name": name, "prompt": prompt, "fields": fields, "kind": kind, "choices": choices}
        )
        if self.timed_out:
            if timeout_value is NO_VALUE:
                raise dc.WaitTimeout("timed out")
            return timeout_value
        return self.answer


class FakeChildren:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def start_child(
        self,
        workflow: Any,
        input: Any,
        queue: str | None,
        wait: bool,
        timeout: float | None = None,
        step_waits: Any = None,
    ) -> Any:
        self.calls.append((workflow, input, queue, wait, timeout, step_waits))
        return "result"


def _ctx(
    waits: FakeWaits | None = None,
    children: FakeChildren | None = None,
    context: dict[str, Any] | None = None,
    in_item: bool = False,
) -> StepContext:
    ctx = StepContext(
        execution_id="00000000-0000-0000-0000-000000000001",
        workflow="tests.unit",
        input={},
        context=context if context is not None else {},
        results={},
        in_item=in_item,
    )
    ctx.enter("ask", 1, waits=waits, children=children)
    return ctx


# --- what a step asks ---------------------------------------------------------------------


def test_kind_none_keeps_the_old_behaviour_form_with_fields_else_any_value():
    assert check_question("wait_for_input", None, None, None) == Question(InputKind.VALUE)
    assert check_question("wait_for_input", None, {"ok": "bool"}, None) == Question(
        InputKind.FORM, None, {"ok": "bool"}
    )


@pytest.mark.parametrize(
    ("kind", "fields", "choices", "message"),
    [
        (
            "yes_no",
            None,
            None,
            "wait_for_input: kind must be one of value, approval, single_choice, "
            "multi_choice, free_text, form, got 'yes_no'",
        ),
        (
            "single_choice",
            None,
            None,
            "wait_for_input: kind 'single_choice' needs choices, a non-empty list of "
            "distinct strings, numbers, booleans or null, got None",
        ),
        (
            "multi_choice",
            None,
            [],
            "wait_for_input: kind 'multi_choice' needs choices, a non-empty list of "
            "distinct strings, numbers, booleans or null, got []",
        ),
        (
            "single_choice",
            None,
            ["a", ["b"]],
            "wait_for_input: each choice must be a string, a number, a boolean or null, got ['b']",
        ),
        (
            "single_choice",
            None,
            ["a", "b", "a"],
            "wait_for_input: choices must be distinct; 'a' appears twice",
        ),
        (
            "single_choice",
            None,
            [1, 1.0],
            "wait_for_input: choices must be distinct; 1.0 appears twice",
        ),
        (
            "free_text",
            None,
            ["a"],
            "wait_for_input: choices are for kinds single_choice and multi_choice, not 'free_text'",
        ),
        (
            None,
            None,
            ["a"],
            "wait_for_input: choices are for kinds single_choice and multi_choice, not 'value'",
        ),
        (
            "form",
            None,
            None,
            "wait_for_input: kind 'form' needs fields, a non-empty dict of {name: type "
            "name}, got None",
        ),
        (
            "approval",
            {"ok": "bool"},
            None,
            "wait_for_input: fields are for kind 'form', not 'approval'",
        ),
        (
            "single_choice",
            {"ok": "bool"},
            ["a"],
            "wait_for_input: fields are for kind 'form', not 'single_choice'",
        ),
    ],
)
def test_a_question_that_cannot_work_is_refused_before_anything_is_recorded(
    kind, fields, choices, message
):
    waits = FakeWaits()
    with pytest.raises(dc.InvalidOption, match=f"^{re.escape(message)}$"):
        _ctx(waits).wait_for_input("q", fields=fields, kind=kind, choices=choices)
    assert waits.asked == []


def test_true_and_one_are_distinct_choices():
    question = check_question("wait_for_choice", "single_choice", None, [True, 1, None, "1"])
    assert question.choices == [True, 1, None, "1"]


def test_the_shorthands_ask_typed_inputs_and_return_plain_values():
    waits = FakeWaits({"approved": False, "comment": "too dear"})
    assert _ctx(waits).wait_for_approval(prompt="OK?") is False
    waits = FakeWaits("L")
    assert _ctx(waits).wait_for_choice("size", ["S", "M", "L"]) == "L"
    waits_many = FakeWaits(["S", "L"])
    assert _ctx(waits_many).wait_for_choice("sizes", ["S", "M", "L"], multiple=True) == ["S", "L"]
    waits_text = FakeWaits("hello")
    assert _ctx(waits_text).wait_for_text("note") == "hello"
    waits_form = FakeWaits({"amount": 3})
    assert _ctx(waits_form).wait_for_form("f", {"amount": "int"}) == {"amount": 3}

    assert [
        (w.asked[0]["name"], w.asked[0]["kind"], w.asked[0]["choices"], w.asked[0]["fields"])
        for w in (waits, waits_many, waits_text, waits_form)
    ] == [
        ("size", "single_choice", ["S", "M", "L"], None),
        ("sizes", "multi_choice", ["S", "M", "L"], None),
        ("note", "free_text", None, None),
        ("f", "form", None, {"amount": "int"}),
    ]


def test_wait_for_approval_defaults_its_name_and_returns_its_own_timeout_value():
    waits = FakeWaits(timed_out=True)
    assert _ctx(waits).wait_for_approval(timeout=5, timeout_value="no answer") == "no answer"
    assert (waits.asked[0]["name"], waits.asked[0]["kind"]) == ("approval", "approval")
    with pytest.raises(dc.WaitTimeout):
        _ctx(FakeWaits(timed_out=True)).wait_for_approval(timeout=5)


def test_wait_for_choice_checks_its_multiple_flag():
    with pytest.raises(dc.InvalidOption, match="multiple must be True or False, got 'yes'"):
        _ctx(FakeWaits()).wait_for_choice("c", ["a"], multiple="yes")  # type: ignore[arg-type]


# --- what an answer must be ---------------------------------------------------------------

APPROVAL = Question(InputKind.APPROVAL)
SIZES = ["S", "M", "L"]


@pytest.mark.parametrize(
    ("answer", "stored"),
    [
        (True, {"approved": True, "comment": None}),
        (False, {"approved": False, "comment": None}),
        ({"approved": True}, {"approved": True, "comment": None}),
        ({"approved": False, "comment": "no"}, {"approved": False, "comment": "no"}),
    ],
)
def test_an_approval_is_stored_normalised(answer, stored):
    assert check_answer("ok", APPROVAL, answer) == stored


@pytest.mark.parametrize(
    ("question", "answer", "message"),
    [
        (
            APPROVAL,
            "yes",
            "input 'ok' takes true, false or {\"approved\": bool, \"comment\": str}, got 'yes'",
        ),
        (APPROVAL, 1, "input 'ok' takes true, false or"),
        (APPROVAL, {"comment": "x"}, "input 'ok' needs field 'approved' (bool)"),
        (APPROVAL, {"approved": 1}, "input 'ok': field 'approved' must be bool, got 1"),
        (APPROVAL, {"approved": True, "why": "x"}, "input 'ok' has no field 'why'"),
        (
            APPROVAL,
            {"approved": True, "comment": 3},
            "input 'ok': field 'comment' must be str, got 3",
        ),
        (
            Question(InputKind.SINGLE_CHOICE, SIZES),
            "XL",
            "input 'ok' takes one of ['S', 'M', 'L'], got 'XL'",
        ),
        (Question(InputKind.SINGLE_CHOICE, SIZES), ["S"], "input 'ok' takes one of"),
        (
            Question(InputKind.SINGLE_CHOICE, [1, 2]),
            True,
            "input 'ok' takes one of [1, 2], got True",
        ),
        (
            Question(InputKind.MULTI_CHOICE, SIZES),
            "S",
            "input 'ok' takes a list of distinct choices among ['S', 'M', 'L'], got 'S'",
        ),
        (
            Question(InputKind.MULTI_CHOICE, SIZES),
            ["S", "XL"],
            "input 'ok': 'XL' is not one of ['S', 'M', 'L']",
        ),
        (
            Question(InputKind.MULTI_CHOICE, SIZES),
            ["S", "S"],
            "input 'ok': 'S' is chosen more than once",
        ),
        (Question(InputKind.FREE_TEXT), 42, "input 'ok' takes a string, got 42"),
        (
            Question(InputKind.FORM, None, {"n": "int"}),
            {"n": "3"},
            "input 'ok': field 'n' must be int, got '3'",
        ),
    ],
)
def test_an_answer_that_does_not_fit_its_kind_is_refused_naming_the_input(
    question, answer, message
):
    with pytest.raises(dc.InvalidPayload, match=f"^{re.escape(message)}"):
        check_answer("ok", question, answer)


def test_choices_are_answered_as_the_step_listed_them():
    assert check_answer("n", Question(InputKind.SINGLE_CHOICE, [1, 2]), 2.0) == 2
    assert check_answer("n", Question(InputKind.MULTI_CHOICE, ["a", "b"]), []) == []
    assert check_answer("n", Question(InputKind.MULTI_CHOICE, ["a", "b"]), ["b", "a"]) == [
        "b",
        "a",
    ]


def test_value_inputs_take_any_json_and_old_rows_keep_their_fields_checked():
    assert check_answer("v", Question(InputKind.VALUE), {"any": ["thing"]}) == {"any": ["thing"]}
    # An input asked before kinds existed is stored as 'value', with its fields.
    with pytest.raises(dc.InvalidPayload, match="needs field 'ok'"):
        check_answer("v", Question(InputKind.VALUE, None, {"ok": "bool"}), {})


# --- ctx.delete ---------------------------------------------------------------------------


def test_delete_removes_a_key_from_the_durable_context_and_ignores_a_missing_one():
    context = {"keep": 1, "drop": 2}
    ctx = _ctx(context=context)
    ctx.delete("drop")
    ctx.delete("never_there")
    assert context == {"keep": 1}
    assert ctx.get("drop") is None


def test_delete_is_refused_in_items_and_for_keys_that_are_not_strings():
    context = {"a": 1}
    with pytest.raises(dc.DurableError, match=r"ctx.delete\('a'\) is not available in the items"):
        _ctx(context=context, in_item=True).delete("a")
    with pytest.raises(dc.InvalidPayload, match="context keys must be strings, got 3"):
        _ctx(context=context).delete(3)  # type: ignore[arg-type]
    assert context == {"a": 1}


# --- run_child(timeout=) ----------------------------------------------------------------


def test_run_child_passes_its_timeout_in_seconds_with_the_steps_wait_service():
    waits, children = FakeWaits(), FakeChildren()
    ctx = _ctx(waits, children)
    assert ctx.run_child("tests.child", {"x": 1}, timeout=timedelta(minutes=2)) == "result"
    assert ctx.run_child("tests.child") == "result"
    assert children.calls == [
        ("tests.child", {"x": 1}, None, True, 120.0, waits),
        ("tests.child", None, None, True, None, None),
    ]


def test_a_bad_run_child_timeout_is_refused_before_a_child_starts():
    children = FakeChildren()
    with pytest.raises(dc.InvalidOption, match="run_child timeout must not be negative"):
        _ctx(FakeWaits(), children).run_child("tests.child", timeout=-1)
    assert children.calls == []


# --- the client's checks (before any connection) -------------------------------------------


@pytest.mark.parametrize("status", ["open", ["pending", "done"], [], 3])
def test_an_unknown_input_status_names_the_valid_ones(status):
    with pytest.raises(
        dc.InvalidOption, match="pending, answered, timed_out, cancelled, a list of them"
    ):
        list_pending_inputs(status=status)


def test_list_pending_events_checks_its_arguments():
    with pytest.raises(dc.InvalidExecutionId):
        list_pending_events(execution_id="not-a-uuid")
    with pytest.raises(dc.InvalidOption, match="event name must be a non-empty string"):
        list_pending_events(event="")


def test_the_pending_statements_write_only_state_values():
    vocabulary = {
        member.value
        for enum in vars(states).values()
        if isinstance(enum, type) and issubclass(enum, StrEnum) and enum is not StrEnum
        for member in enum
    }
    sql = re.sub(r"--[^\n]*", "", pending.AWAITED_EVENTS.text)
    assert set(re.findall(r"'((?:[^']|'')*)'", sql)) - vocabulary == {"{}"}
