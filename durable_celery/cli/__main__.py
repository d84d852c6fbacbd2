"""`python -m durable_celery.cli ...`, the same as `durable-celery ...`."""

import sys

from durable_celery.cli import main

sys.exit(main())
