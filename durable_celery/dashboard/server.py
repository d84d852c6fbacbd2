"""Serving the dashboard with uvicorn: in the foreground for the command line, or in a
thread of this process (tests, screenshots, a script of one's own)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from durable_celery.dashboard.security import check_bind
from durable_celery.errors import ConfigurationError


def serve(app: Any, host: str, port: int, token: str | None) -> None:
    """Serve until interrupted; refuses a non-loopback host without a token."""
    check_bind(host, token)
    uvicorn.run(app, host=host, port=port, log_level="warning")


class Server:
    """The dashboard on a free loopback port in a background thread:
    `with Server(create_app()) as server: server.url`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        if port == 0:
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(f"the dashboard did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(10)
