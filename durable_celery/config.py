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

from celery.signals import worker_init, worker_process_init

from durable_celery.errors import ConfigurationError
from durable_celery.retention import Retention, parse_retention

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/durable"
# Lowercase only: PostgreSQL folds unquoted names to lowercase, so "Tenant" would name one
# schema in search_path and another in CREATE SCHEMA.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PASSWORD = re.compile(r"(//[^:/@]*:)[^@]*@")
# As for every duration: beyond it a timestamp would overflow.
MAX_EVENT_RETENTION = 36_525 * 86_400.0
# Rows per deletion transaction, at most: a batch's locks and WAL stay short.
MAX_BATCH_SIZE = 10_000

"""(finished status, seconds kept after it finished), one pair per status, by status."""


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
    # How long publish_event keeps an event for executions that reach its wait later.
    event_retention: float = 86_400.0
    max_queue_name_length: int = 255
    # None: what this process needs (see `database_pool`).
    db_pool_size: int | None = None
    # A worker that meets an execution of a version newer than its own code (a rolling
    # deploy) leaves it for this long, for a worker that has the version.
    newer_version_delay: float = 30.0
    # How long finished executions are kept, per status; a status not named is kept
    # forever, and so is everything by default. Written "completed=30d,failed=90d" or as
    # a mapping {"completed": "30d", "failed": timedelta(days=90)}.
    retention: Retention = ()
    retention_batch_size: int = 2_000
    retention_interval: float = 3_600.0
    # A worker serves Prometheus metrics on this port (None: no metrics); see observability.
    metrics_port: int | None = None
    # OpenTelemetry spans for executions and step attempts, joined to the starter's trace.
    tracing: bool = False

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
            "event_retention",
            "newer_version_delay",
            "retention_interval",
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
            "retention_batch_size",
        ):
            value = _number(name, getattr(self, name))
            if value < 1 or value != int(value):
                raise ConfigurationError(f"durable_{name} must be a whole number >= 1, got {value}")
            object.__setattr__(self, name, int(value))
        if self.retention_batch_size > MAX_BATCH_SIZE:
            raise ConfigurationError(
                f"durable_retention_batch_size must be at most {MAX_BATCH_SIZE}, "
                f"got {self.retention_batch_size}"
            )
        object.__setattr__(self, "retention", parse_retention(self.retention))
        if self.event_retention > MAX_EVENT_RETENTION:
            raise ConfigurationError(
                f"durable_event_retention must be at most {MAX_EVENT_RETENTION:.0f} seconds "
                f"(100 years), got {self.event_retention}"
            )
        if self.wake_time_budget is not None:
            budget = _number("wake_time_budget", self.wake_time_budget)
            if budget <= 0:
                raise ConfigurationError(
                    f"durable_wake_time_budget must be > 0 seconds, got {budget}"
                )
            object.__setattr__(self, "wake_time_budget", budget)
        if self.db_pool_size is not None:
            size = _number("db_pool_size", self.db_pool_size)
            if size < 1 or size != int(size):
                raise ConfigurationError(
                    f"durable_db_pool_size must be a whole number >= 1, got {self.db_pool_size!r}"
                )
            object.__setattr__(self, "db_pool_size", int(size))
        if self.metrics_port is not None:
            port = _number("metrics_port", self.metrics_port)
            if not 0 < port < 65_536 or port != int(port):
                raise ConfigurationError(
                    f"durable_metrics_port must be a TCP port (1-65535), got {self.metrics_port!r}"
                )
            object.__setattr__(self, "metrics_port", int(port))
        object.__setattr__(self, "tracing", _flag("tracing", self.tracing))
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


def dashboard_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The dashboard's token from DURABLE_DASHBOARD_TOKEN, if set: a process setting of
    the dashboard alone, not of the app's runtime."""
    environ = os.environ if environ is None else environ
    return environ.get("DURABLE_DASHBOARD_TOKEN") or None


def _lookup(
    name: str, overrides: Mapping[str, Any], conf: Mapping[str, Any], environ: Mapping[str, str]
) -> Any:
    key = f"durable_{name}"
    for source, source_key in ((overrides, name), (conf, key), (environ, key.upper())):
        value = source.get(source_key)
        if value is not None and value != "":
            return value
    return None


# --- the size of a process's connection pool ---------------------------------------------

# Connections a process uses besides its tasks' claims: the heartbeat thread, and the
# embedded beat's schedule sync or the worker's start-up check.
POOL_MARGIN = 2
# Outside a worker (a web app, the command line): SQLAlchemy's usual 5 (+ 10 overflow).
DEFAULT_POOL_SIZE = 5
MIN_POOL_OVERFLOW = 10

_worker: Any = None  # the WorkController of the worker running in this process
_one_task_at_a_time = False  # a prefork pool child, or the solo pool


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    global _worker
    _worker = sender


def _on_worker_process_init(**_: Any) -> None:
    # Sent in each prefork child (which inherited `_worker` from its parent) and by the
    # solo pool: either way this process runs one task at a time, whatever `-c` says.
    global _one_task_at_a_time
    _one_task_at_a_time = True


worker_init.connect(_on_worker_init, weak=False, dispatch_uid="durable_celery.config.worker")
worker_process_init.connect(
    _on_worker_process_init, weak=False, dispatch_uid="durable_celery.config.process"
)


def worker_tasks_at_once() -> int | None:
    """How many tasks the Celery worker in this process runs at once: its concurrency
    (`-c` / worker_concurrency, resolved; the maximum under --autoscale) for the threads,
    gevent and eventlet pools, 1 in a prefork child and in the solo pool; None outside a
    worker. Read when asked, not when the worker starts, so that `-c auto` is resolved."""
    if _one_task_at_a_time:
        return 1
    if _worker is None:
        return None
    counts = [
        count
        for count in (
            getattr(_worker, "concurrency", None),
            getattr(_worker, "max_concurrency", None),
        )
        if isinstance(count, int) and not isinstance(count, bool) and count > 0
    ]
    return max(counts) if counts else None


def database_pool(settings: Settings) -> tuple[int, int]:
    """(pool_size, max_overflow) of this process's connection pool, for each database.

    pool_size, the connections kept open: durable_db_pool_size when set; else, in a worker,
    the tasks it runs at once plus POOL_MARGIN; else DEFAULT_POOL_SIZE. Each running task
    holds one connection for its whole claim and may take a second for a moment (a step
    that starts a child, or ends its execution in a transaction), so up to
    max(pool_size, MIN_POOL_OVERFLOW) more are opened when all are busy and closed after."""
    size = settings.db_pool_size
    if size is None:
        tasks = worker_tasks_at_once()
        size = DEFAULT_POOL_SIZE if tasks is None else tasks + POOL_MARGIN
    return size, max(size, MIN_POOL_OVERFLOW)


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


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"durable_{name} must be true or false, got {value!r}")


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
