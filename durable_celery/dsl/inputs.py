"""The fields of a human input (`ctx.wait_for_input(..., fields=...)`) and the check of an
answer against them. Pure: the DSL checks the fields when a step asks, the client checks
an answer before it is stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from durable_celery.errors import InvalidOption, InvalidPayload

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


def check_fields(fields: Any) -> dict[str, str] | None:
    """`fields` as wait_for_input takes them: None, or {name: type name}."""
    if fields is None:
        return None
    if not isinstance(fields, Mapping) or not all(isinstance(name, str) for name in fields):
        raise InvalidOption(f"wait_for_input fields must map names to type names, got {fields!r}")
    unknown = {name: kind for name, kind in fields.items() if kind not in FIELD_TYPES}
    if unknown:
        raise InvalidOption(
            f"wait_for_input fields {unknown} have unknown types; use one of "
            f"{', '.join(FIELD_TYPES)}"
        )
    return dict(fields)


def check_answer(name: str, fields: Mapping[str, str] | None, value: Any) -> None:
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
