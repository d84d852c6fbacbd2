"""The embedded servers' helpers that need no server: where a URL points, the data
directory, and the probe on a Unix socket."""

from __future__ import annotations

import socket
from pathlib import Path

from durable_celery.devservices import answers, data_dir
from durable_celery.devservices.probe import _address


def test_where_urls_point() -> None:
    assert _address("postgresql+psycopg://postgres@127.0.0.1:5432/durable") == ("127.0.0.1", 5432)
    assert _address("postgresql+psycopg://u:p@db.internal/durable") == ("db.internal", 5432)
    assert _address("postgresql+psycopg://postgres@/durable?host=/tmp/x") == "/tmp/x/.s.PGSQL.5432"
    assert _address("postgresql://postgres@/d?host=/run/pg&port=5433") == "/run/pg/.s.PGSQL.5433"
    assert _address("redis://localhost:6379/0") == ("localhost", 6379)
    assert _address("redis://redis") == ("redis", 6379)
    assert _address("redis+socket:///tmp/d/redis.sock") == "/tmp/d/redis.sock"
    assert _address("amqp://guest@rabbit//") == ("rabbit", 5672)


def test_data_dir_follows_xdg_then_home() -> None:
    assert data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/durable-celery")
    assert data_dir({"HOME": "/h"}) == Path("/h/.local/share/durable-celery")


def test_answers_on_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    url = f"redis+socket://{path}"
    assert not answers(url)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        assert answers(url)
