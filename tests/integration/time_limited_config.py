"""The bundled app's settings with Celery time limits, as an app that sets them has."""

from celeryconfig import *  # noqa: F403

task_time_limit = 2  # a hard limit would SIGKILL the pool process running a wake-up
task_soft_time_limit = 1  # and the budget of a wake-up, which then hands over
