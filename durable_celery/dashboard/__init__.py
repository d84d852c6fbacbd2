"""The web dashboard: executions, their steps and actions, the inputs humans answer,
schedules and an overview, served by `durable-celery dashboard` or mounted in a web app
(`app.mount("/durable", create_app())`). Needs the `dashboard` extra (starlette, jinja2,
uvicorn, python-multipart). It reads and acts through durable_celery.client only."""

from durable_celery.dashboard.app import create_app, create_wsgi_app
from durable_celery.dashboard.server import Server, serve

__all__ = ["Server", "create_app", "create_wsgi_app", "serve"]
