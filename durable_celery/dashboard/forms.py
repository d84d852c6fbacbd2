"""HTML forms for what executions ask humans, and their answers read back as the JSON
values `provide_input` takes. The form is generated from the input's kind and `fields`
({name: type name}); the client checks the answer again before it is stored."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from durable_celery.errors import InvalidPayload
from durable_celery.states import InputKind

_NUMBER = {"int": "1", "integer": "1", "float": "any", "number": "any"}
_BOOL = frozenset({"bool", "boolean"})
_TEXT = frozenset({"str", "string"})


@dataclass(frozen=True)
class Field:
    """One control of an input's form."""

    name: str  # the form field's name
    label: str
    widget: str  # text, number, checkbox, json, textarea, radio, checkboxes, approval
    step: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value sent, label) of radios/checkboxes


def fields_of(kind: str, choices: list[Any] | None, fields: Any) -> list[Field]:
    """The controls of one input's form."""
    kind = InputKind(kind)
    options = tuple((str(i), _label(choice)) for i, choice in enumerate(choices or []))
    if kind is InputKind.APPROVAL:
        return [Field("comment", "comment (optional)", "approval")]
    if kind is InputKind.SINGLE_CHOICE:
        return [Field("choice", "choose one", "radio", options=options)]
    if kind is InputKind.MULTI_CHOICE:
        return [Field("choice", "choose any", "checkboxes", options=options)]
    if kind is InputKind.FREE_TEXT:
        return [Field("text", "answer", "textarea")]
    if isinstance(fields, dict) and fields:
        return [_field(name, type_name) for name, type_name in fields.items()]
    return [Field("value", "answer (JSON)", "json")]


def _field(name: str, type_name: str) -> Field:
    key = f"f.{name}"
    if type_name in _NUMBER:
        return Field(key, f"{name} ({type_name})", "number", step=_NUMBER[type_name])
    if type_name in _BOOL:
        return Field(key, name, "checkbox")
    if type_name in _TEXT:
        return Field(key, f"{name} ({type_name})", "text")
    return Field(key, f"{name} ({type_name}, JSON)", "json")


def _label(choice: Any) -> str:
    return choice if isinstance(choice, str) else json.dumps(choice)


def answer_of(kind: str, choices: list[Any] | None, fields: Any, form: dict[str, list[str]]) -> Any:
    """The answer a submitted form gives: `form` maps each field name to its values."""
    kind = InputKind(kind)

    def one(name: str) -> str:
        values = form.get(name) or [""]
        return values[-1]

    if kind is InputKind.APPROVAL:
        decision = one("decision")
        if decision not in ("approve", "reject"):
            raise InvalidPayload("approve or reject the input")
        return {"approved": decision == "approve", "comment": one("comment") or None}
    if kind is InputKind.SINGLE_CHOICE:
        return _choice(choices or [], one("choice"))
    if kind is InputKind.MULTI_CHOICE:
        return [_choice(choices or [], index) for index in form.get("choice", [])]
    if kind is InputKind.FREE_TEXT:
        return one("text")
    if isinstance(fields, dict) and fields:
        return {
            name: _typed(name, type_name, form.get(f"f.{name}", []))
            for name, type_name in fields.items()
        }
    return _json("the answer", one("value"))


def _choice(choices: list[Any], index: str) -> Any:
    if not index.isdigit() or int(index) >= len(choices):
        raise InvalidPayload(f"choose one of {choices!r}")
    return choices[int(index)]


def _typed(name: str, type_name: str, values: list[str]) -> Any:
    if type_name in _BOOL:
        return bool(values) and values[-1] not in ("", "off", "false")
    text = values[-1] if values else ""
    if type_name in _TEXT:
        return text
    if type_name in ("int", "integer"):
        try:
            return int(text.strip())
        except ValueError:
            raise InvalidPayload(f"field {name!r} takes a whole number, got {text!r}") from None
    if type_name in ("float", "number"):
        try:
            number = float(text.strip())
        except ValueError:
            raise InvalidPayload(f"field {name!r} takes a number, got {text!r}") from None
        if not math.isfinite(number):
            raise InvalidPayload(f"field {name!r} takes a finite number, got {text!r}")
        return int(number) if number.is_integer() and "." not in text else number
    return _json(f"field {name!r}", text)


def _json(what: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f'{what} must be JSON ({exc}); quote strings: "yes"') from None
