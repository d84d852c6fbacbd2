"""Human inputs: what a step asks (`ctx.wait_for_input(..., kind=, choices=, fields=)`) and
the check of an answer. Pure: the DSL checks the question when a step asks
(`check_question`), the client checks an answer before it is stored (`check_answer`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from durable_celery.checks import check_text
from durable_celery.errors import InvalidOption, InvalidPayload
from durable_celery.states import InputKind

# Field type names (JSON's, and Python's) and what a value of that type is.
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "string": (str,),
    "int": (int,),
    "integer": (int,),
    "float": (int, float),
    "number": (int, float),
    "bool": (bool,),
    "boolean": (bool,),
    "list": (list,),
    "array": (list,),
    "dict": (dict,),
    "object": (dict,),
    "any": (object,),
}

CHOICE_KINDS = frozenset({InputKind.SINGLE_CHOICE, InputKind.MULTI_CHOICE})
_KINDS = ", ".join(InputKind)
_KIND_VALUES = frozenset(InputKind)
_APPROVAL = '{"approved": bool, "comment": str}'


@dataclass(frozen=True)
class Question:
    """What an input asks, as stored with it: its kind, and its choices or fields."""

    kind: InputKind
    choices: list[Any] | None = None
    fields: dict[str, str] | None = None


def check_question(call: str, kind: Any, fields: Any, choices: Any) -> Question:
    """The question `call` asks, or InvalidOption. `kind=None` is what inputs were before
    kinds: a form when fields are given, else any JSON value."""
    if kind is None:
        checked = check_fields(fields, call)
        kind = InputKind.FORM if checked else InputKind.VALUE
        fields = checked or None
    elif not isinstance(kind, str) or kind not in _KIND_VALUES:
        raise InvalidOption(f"{call}: kind must be one of {_KINDS}, got {kind!r}")
    kind = InputKind(kind)
    if kind in CHOICE_KINDS:
        checked_choices = _check_choices(call, kind, choices)
    elif choices is not None:
        raise InvalidOption(
            f"{call}: choices are for kinds single_choice and multi_choice, not {kind.value!r}"
        )
    else:
        checked_choices = None
    if kind is InputKind.FORM:
        if not fields:
            raise InvalidOption(
                f"{call}: kind 'form' needs fields, a non-empty dict of {{name: type name}}, "
                f"got {fields!r}"
            )
        fields = check_fields(fields, call)
    elif fields is not None:
        raise InvalidOption(f"{call}: fields are for kind 'form', not {kind.value!r}")
    return Question(kind, checked_choices, fields)


def check_fields(fields: Any, call: str = "wait_for_input") -> dict[str, str] | None:
    """`fields` as wait_for_input takes them: None, or {name: type name}."""
    if fields is None:
        return None
    if not isinstance(fields, Mapping) or not all(isinstance(name, str) for name in fields):
        raise InvalidOption(f"{call} fields must map names to type names, got {fields!r}")
    unknown = {name: kind for name, kind in fields.items() if kind not in FIELD_TYPES}
    if unknown:
        raise InvalidOption(
            f"{call} fields {unknown} have unknown types; use one of {', '.join(FIELD_TYPES)}"
        )
    return dict(fields)


def _check_choices(call: str, kind: InputKind, choices: Any) -> list[Any]:
    if not isinstance(choices, (list, tuple)) or not choices:
        raise InvalidOption(
            f"{call}: kind {kind.value!r} needs choices, a non-empty list of distinct strings, "
            f"numbers, booleans or null, got {choices!r}"
        )
    seen: set[tuple[str, Any]] = set()
    for choice in choices:
        if not _is_scalar(choice):
            raise InvalidOption(
                f"{call}: each choice must be a string, a number, a boolean or null, got {choice!r}"
            )
        if isinstance(choice, str):
            check_text(choice, f"{call}: choice")
        if _identity(choice) in seen:
            raise InvalidOption(f"{call}: choices must be distinct; {choice!r} appears twice")
        seen.add(_identity(choice))
    return list(choices)


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def _identity(value: Any) -> tuple[str, Any]:
    """A choice as JSON compares it: true is no 1, and 1 is 1.0."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return (type(value).__name__, value)


def check_answer(name: str, question: Question, value: Any) -> Any:
    """The answer to input `name` as it is stored (an approval normalised to
    {"approved": bool, "comment": str | None}), or InvalidPayload. `value` is the answer
    as JSON decodes it."""
    kind = question.kind
    if kind is InputKind.APPROVAL:
        return _approval(name, value)
    if kind is InputKind.SINGLE_CHOICE:
        return _choice(name, question.choices or [], value)
    if kind is InputKind.MULTI_CHOICE:
        return _choices(name, question.choices or [], value)
    if kind is InputKind.FREE_TEXT:
        if not isinstance(value, str):
            raise InvalidPayload(f"input {name!r} takes a string, got {value!r}")
        return value
    # Inputs asked before kinds existed are stored as 'value', with their fields.
    if kind is InputKind.FORM or question.fields:
        check_form(name, question.fields, value)
    return value


def _approval(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"approved": value, "comment": None}
    if not isinstance(value, dict):
        raise InvalidPayload(f"input {name!r} takes true, false or {_APPROVAL}, got {value!r}")
    unknown = sorted(set(value) - {"approved", "comment"})
    if unknown:
        raise InvalidPayload(f"input {name!r} has no field {', '.join(map(repr, unknown))}")
    if "approved" not in value:
        raise InvalidPayload(f"input {name!r} needs field 'approved' (bool)")
    if not isinstance(value["approved"], bool):
        raise InvalidPayload(
            f"input {name!r}: field 'approved' must be bool, got {value['approved']!r}"
        )
    comment = value.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise InvalidPayload(f"input {name!r}: field 'comment' must be str, got {comment!r}")
    return {"approved": value["approved"], "comment": comment}


def _choice(name: str, choices: list[Any], value: Any) -> Any:
    found = _find(choices, value)
    if found is _NOT_FOUND:
        raise InvalidPayload(f"input {name!r} takes one of {choices!r}, got {value!r}")
    return found


def _find(choices: list[Any], value: Any) -> Any:
    """The choice `value` names, as the step listed it (1, not 1.0)."""
    if _is_scalar(value):
        for choice in choices:
            if _identity(choice) == _identity(value):
                return choice
    return _NOT_FOUND


_NOT_FOUND = object()


def _choices(name: str, choices: list[Any], value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidPayload(
            f"input {name!r} takes a list of distinct choices among {choices!r}, got {value!r}"
        )
    chosen: list[Any] = []
    for item in value:
        choice = _find(choices, item)
        if choice is _NOT_FOUND:
            raise InvalidPayload(f"input {name!r}: {item!r} is not one of {choices!r}")
        if any(_identity(choice) == _identity(other) for other in chosen):
            raise InvalidPayload(f"input {name!r}: {item!r} is chosen more than once")
        chosen.append(choice)
    return chosen


def check_form(name: str, fields: Mapping[str, str] | None, value: Any) -> None:
    """InvalidPayload unless `value` answers input `name` as its fields say: a dict with
    exactly those fields, each of its type (`bool` is not an `int` here)."""
    if not fields:
        return
    if not isinstance(value, dict):
        raise InvalidPayload(f"input {name!r} takes a dict of {dict(fields)}, got {value!r}")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise InvalidPayload(f"input {name!r} has no field {', '.join(map(repr, unknown))}")
    for field, kind in fields.items():
        if field not in value:
            raise InvalidPayload(f"input {name!r} needs field {field!r} ({kind})")
        if not _is(value[field], kind):
            raise InvalidPayload(
                f"input {name!r}: field {field!r} must be {kind}, got {value[field]!r}"
            )


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):  # JSON's true is no number, though Python's bool is an int
        return kind in ("bool", "boolean", "any")
    return isinstance(value, FIELD_TYPES.get(kind, (object,)))
