"""Django's entry: INSTALLED_APPS = [..., "durable_celery.contrib.django"]."""

from __future__ import annotations

from django.apps import AppConfig

from durable_celery.client.start import use_ambient_transaction
from durable_celery.contrib.django import start_in_atomic_block


class DurableCeleryConfig(AppConfig):  # type: ignore[misc]
    name = "durable_celery.contrib.django"
    label = "durable_celery"
    verbose_name = "durable-celery"

    def ready(self) -> None:
        use_ambient_transaction(start_in_atomic_block)
