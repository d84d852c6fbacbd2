"""Flow control declared on a workflow: `Concurrency` (how many of its executions with
one key may run at once, across every worker). Checked when declared; the store holds
the slots, the engine takes and gives them back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from durable_celery.errors import InvalidOption, WorkflowDefinitionError

# Longest key a Concurrency key function may return (after str()): keys are indexed.
MAX_CONCURRENCY_KEY_LENGTH = 200


@dataclass(frozen=True)
class KeyContext:
    """What a key function sees: the execution's input, at start (the key is computed
    once, by the caller that starts the execution)."""

    workflow: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class Concurrency:
    """At most `limit` executions of the workflow with the same key are running at once,
    across all workers; `key(ctx)` -> str computes the key from `ctx.input` (no key: one
    limit for the whole workflow)."""

    limit: int
    key: Callable[[KeyContext], Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise WorkflowDefinitionError(
                f"Concurrency(limit=...) must be a positive int, got {self.limit!r}"
            )
        if self.key is not None and not callable(self.key):
            raise WorkflowDefinitionError(
                f"Concurrency(key=...) must be a function of the step context "
                f"(lambda ctx: ctx.input[...]), got {type(self.key).__name__}"
            )

    def slot_key(self, workflow: str, input: Mapping[str, Any]) -> str:
        """The stored key: the workflow's name, then the key function's value, so two
        workflows never share slots. Raises InvalidOption when the key function fails or
        returns something that is not a short string or int."""
        if self.key is None:
            return workflow
        try:
            value = self.key(KeyContext(workflow, input))
        except Exception as exc:
            raise InvalidOption(
                f"workflow {workflow!r}: the concurrency key function failed on this input: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidOption(
                f"workflow {workflow!r}: the concurrency key must be a str or an int, "
                f"got {type(value).__name__}"
            )
        text = str(value)
        if len(text) > MAX_CONCURRENCY_KEY_LENGTH:
            raise InvalidOption(
                f"workflow {workflow!r}: the concurrency key is {len(text)} characters long; "
                f"at most {MAX_CONCURRENCY_KEY_LENGTH}"
            )
        return f"{workflow}/{text}"
