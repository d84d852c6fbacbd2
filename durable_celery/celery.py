"""The bundled Celery app: `celery -A durable_celery worker -B` runs it.

Settings come from the `celeryconfig` module when one is importable (the repository
ships one), else from `durable_celery.celery_defaults`; durable_* settings can also come
from the environment (see durable_celery.config).
"""

from __future__ import annotations

from durable_celery.runtime import bundled_app
from durable_celery.tasks import install

app = bundled_app()
install(app)
