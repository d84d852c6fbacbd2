"""Celery settings of the bundled app (`celery -A durable_celery ...`).

The defaults live in durable_celery/celery_defaults.py and read the environment
(CELERY_BROKER_URL, DURABLE_DATABASE_URL, DURABLE_WORKFLOW_MODULES, ...). Override
anything below; see the README for every durable_* setting.
"""

from durable_celery.celery_defaults import *  # noqa: F403

# The example workflows are importable from the repository root.
durable_workflow_modules = durable_workflow_modules or "workflows.examples"  # noqa: F405
