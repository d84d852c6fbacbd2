"""Execution ids: UUIDs, handled as their canonical text form."""

from __future__ import annotations

import uuid
from typing import Any

from durable_celery.errors import InvalidExecutionId


def new_id() -> str:
    return str(uuid.uuid4())


def parse_execution_id(execution_id: Any) -> str:
    """Canonical text form of an execution id, or InvalidExecutionId."""
    if isinstance(execution_id, uuid.UUID):
        return str(execution_id)
    if not isinstance(execution_id, str):
        raise InvalidExecutionId(f"execution id must be a UUID string, got {execution_id!r}")
    try:
        return str(uuid.UUID(execution_id))
    except ValueError:
        raise InvalidExecutionId(f"execution id {execution_id!r} is not a UUID") from None
