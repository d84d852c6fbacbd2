"""Celery settings of the bundled app (`celery -A durable_celery ...`) in this repository.

The defaults live in durable_celery/celery_defaults.py. Override anything below; every
durable_* setting (see the README) can also be set by its DURABLE_* environment variable.
"""

import os

from durable_celery.celery_defaults import *  # noqa: F403

# The example workflows are importable from the repository root.
durable_workflow_modules = os.environ.get("DURABLE_WORKFLOW_MODULES") or "workflows.examples"
