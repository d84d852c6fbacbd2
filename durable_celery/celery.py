"""The bundled Celery app: `celery -A durable_celery worker -B` runs it.

Settings come from the `celeryconfig` module when one is importable (the repository
ships one), else from `durable_celery.celery_defaults`; both read the environment.
"""

from __future__ import annotations

import importlib.util
import os

from celery import Celery

from durable_celery.runtime import install

app = Celery("durable_celery")
_config = os.environ.get("CELERY_CONFIG_MODULE") or (
    "celeryconfig"
    if importlib.util.find_spec("celeryconfig") is not None
    else "durable_celery.celery_defaults"
)
app.config_from_object(_config)
install(app)
