"""Settings: Celery config keys `durable_*`, each also readable from the upper-case env var."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from durable_celery.errors import ConfigurationError

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/durable"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Precedence: install() argument > Celery config > env var > default."""

    database_url: str = DEFAULT_DATABASE_URL
    workflow_modules: tuple[str, ...] = ()
    schema: str | None = None
    poll_interval: float = 1.0
    stale_lock_timeout: float = 300.0
    heartbeat_interval: float = 30.0
    dispatch_grace: float = 10.0
    recovery_interval: float = 10.0
    maintenance_queue: str | None = None
    poll_batch_size: int = 500
    max_payload_bytes: int = 1_048_576

    def __post_init__(self) -> None:
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        modules = self.workflow_modules
        if isinstance(modules, str):
            modules = tuple(part.strip() for part in modules.split(",") if part.strip())
        object.__setattr__(self, "workflow_modules", tuple(modules))
        if self.schema is not None and not _SCHEMA_NAME.match(self.schema):
            raise ConfigurationError(
                f"durable_schema must be a plain SQL identifier (letters, digits, _), "
                f"got {self.schema!r}"
            )
        for name in (
            "poll_interval",
            "stale_lock_timeout",
            "heartbeat_interval",
            "dispatch_grace",
            "recovery_interval",
        ):
            value = _number(name, getattr(self, name))
            if value <= 0:
                raise ConfigurationError(f"durable_{name} must be > 0 seconds, got {value}")
            object.__setattr__(self, name, value)
        for name in ("poll_batch_size", "max_payload_bytes"):
            value = _number(name, getattr(self, name))
            if value < 1 or value != int(value):
                raise ConfigurationError(f"durable_{name} must be a whole number >= 1, got {value}")
            object.__setattr__(self, name, int(value))
        if self.heartbeat_interval >= self.stale_lock_timeout:
            raise ConfigurationError(
                f"durable_heartbeat_interval ({self.heartbeat_interval}s) must be shorter than "
                f"durable_stale_lock_timeout ({self.stale_lock_timeout}s), or live workers "
                f"would lose their claims"
            )

    @classmethod
    def resolve(cls, conf: Mapping[str, Any] | None = None, **overrides: Any) -> Settings:
        conf = conf or {}
        values: dict[str, Any] = {}
        for field in fields(cls):
            key = f"durable_{field.name}"
            # None and "" mean "not set here", so an empty env var never overrides.
            for source, name in ((overrides, field.name), (conf, key), (os.environ, key.upper())):
                value = source.get(name)
                if value is not None and value != "":
                    values[field.name] = value
                    break
        return cls(**values)


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"durable_{name} must be a number, got {value!r}") from None


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs; reject anything that is not PostgreSQL."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"durable_database_url must be a SQLAlchemy URL, got {url!r}")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith("postgresql+"):
        raise ConfigurationError(
            f"durable_database_url must point at PostgreSQL (postgresql+psycopg://...), got {url!r}"
        )
    return url
