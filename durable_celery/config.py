"""Settings: the only place that reads them.

Each setting is a Celery config key `durable_<name>`, also readable from the environment
variable `DURABLE_<NAME>`. Precedence: an `install()` argument, then the Celery config,
then the environment, then the default. None and "" mean "not set here".
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from durable_celery.errors import ConfigurationError

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/durable"
# Lowercase only: PostgreSQL folds unquoted names to lowercase, so "Tenant" would name one
# schema in search_path and another in CREATE SCHEMA.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PASSWORD = re.compile(r"(//[^:/@]*:)[^@]*@")


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
    dispatch_backoff_max: float = 600.0
    # None: the app's task_soft_time_limit, if it has one; else a wake-up has no budget.
    wake_time_budget: float | None = None
    max_payload_bytes: int = 1_048_576
    max_error_bytes: int = 65_536
    max_log_bytes: int = 65_536
    max_buffered_events: int = 1_000
    max_queue_name_length: int = 255

    def __post_init__(self) -> None:
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        modules = self.workflow_modules
        if isinstance(modules, str):
            modules = tuple(part.strip() for part in modules.split(",") if part.strip())
        object.__setattr__(self, "workflow_modules", tuple(modules))
        if self.schema is not None and not (
            isinstance(self.schema, str) and _SCHEMA_NAME.fullmatch(self.schema)
        ):
            raise ConfigurationError(
                f"durable_schema must be a lowercase SQL identifier (a-z, 0-9, _; PostgreSQL "
                f"folds unquoted names to lowercase), got {self.schema!r}"
            )
        for name in (
            "poll_interval",
            "stale_lock_timeout",
            "heartbeat_interval",
            "dispatch_grace",
            "recovery_interval",
            "dispatch_backoff_max",
        ):
            value = _number(name, getattr(self, name))
            if value <= 0:
                raise ConfigurationError(f"durable_{name} must be > 0 seconds, got {value}")
            object.__setattr__(self, name, value)
        for name in (
            "poll_batch_size",
            "max_payload_bytes",
            "max_error_bytes",
            "max_log_bytes",
            "max_buffered_events",
            "max_queue_name_length",
        ):
            value = _number(name, getattr(self, name))
            if value < 1 or value != int(value):
                raise ConfigurationError(f"durable_{name} must be a whole number >= 1, got {value}")
            object.__setattr__(self, name, int(value))
        if self.wake_time_budget is not None:
            budget = _number("wake_time_budget", self.wake_time_budget)
            if budget <= 0:
                raise ConfigurationError(
                    f"durable_wake_time_budget must be > 0 seconds, got {budget}"
                )
            object.__setattr__(self, "wake_time_budget", budget)
        if self.max_queue_name_length > 255:
            raise ConfigurationError(
                f"durable_max_queue_name_length must be at most 255 (AMQP's limit), "
                f"got {self.max_queue_name_length}"
            )
        if self.heartbeat_interval >= self.stale_lock_timeout:
            raise ConfigurationError(
                f"durable_heartbeat_interval ({self.heartbeat_interval}s) must be shorter than "
                f"durable_stale_lock_timeout ({self.stale_lock_timeout}s), or live workers "
                f"would lose their claims"
            )

    @classmethod
    def resolve(
        cls,
        conf: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Settings from install() arguments (`overrides`), a Celery config and the
        environment (os.environ unless given), in that order of precedence."""
        unknown = set(overrides) - SETTING_NAMES
        if unknown:
            raise ConfigurationError(
                f"unknown durable-celery settings: {', '.join(sorted(unknown))}"
            )
        values = {
            name: value
            for name in SETTING_NAMES
            if (
                value := _lookup(
                    name, overrides, conf or {}, os.environ if environ is None else environ
                )
            )
            is not None
        }
        return cls(**values)


def database_url_configured(
    conf: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether a database URL was set anywhere, rather than left to the default."""
    environ = os.environ if environ is None else environ
    return _lookup("database_url", {}, conf or {}, environ) is not None


def _lookup(
    name: str, overrides: Mapping[str, Any], conf: Mapping[str, Any], environ: Mapping[str, str]
) -> Any:
    key = f"durable_{name}"
    for source, source_key in ((overrides, name), (conf, key), (environ, key.upper())):
        value = source.get(source_key)
        if value is not None and value != "":
            return value
    return None


def bundled_celery_config() -> str:
    """The config module of the bundled app: CELERY_CONFIG_MODULE, else a `celeryconfig`
    module on the path (the repository ships one), else the package's defaults."""
    named = os.environ.get("CELERY_CONFIG_MODULE")
    if named:
        return named
    if importlib.util.find_spec("celeryconfig") is not None:
        return "celeryconfig"
    return "durable_celery.celery_defaults"


SETTING_NAMES = frozenset(field.name for field in fields(Settings))


def _number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"durable_{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigurationError(f"durable_{name} must be a finite number, got {value!r}")
    return number


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs; reject anything that is not PostgreSQL."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"durable_database_url must be a SQLAlchemy URL, got {url!r}")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith("postgresql+"):
        shown = _PASSWORD.sub(r"\1***@", url)
        raise ConfigurationError(
            f"durable_database_url must point at PostgreSQL (postgresql+psycopg://...), "
            f"got {shown!r}"
        )
    return url
