"""Integrations with frameworks around Celery (Django)."""
