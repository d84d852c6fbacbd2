"""Whether anything answers at a database or broker URL: a bare socket connect, so an
unknown password, a missing database or a foreign protocol still count as "answers"."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

_DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379, "rediss": 6379, "amqp": 5672}


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a server accepts connections at `url` (a SQLAlchemy PostgreSQL URL or a
    Celery broker URL, over TCP or a Unix socket)."""
    address = _address(url)
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    if family == socket.AF_INET and ":" in address[0]:
        family = socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            return False
    return True


def _address(url: str) -> str | tuple[str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if parts.scheme.endswith("+socket") or parts.scheme == "socket":
        return unquote(parts.path)  # redis+socket:///run/redis.sock
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or ""])[0]
    port = int(query.get("port", [parts.port or _DEFAULT_PORTS.get(scheme, 0)])[0])
    if scheme == "postgresql" and (not host or host.startswith("/")):
        # libpq: no host (or a directory) means a Unix socket named after the port.
        return str(Path(host or "/var/run/postgresql") / f".s.PGSQL.{port}")
    return (host or "127.0.0.1", port)
