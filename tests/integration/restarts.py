"""Restart the session's own servers (never the machine's): see conftest.Servers."""

from __future__ import annotations

from tests.integration.conftest import servers


def restart_postgres() -> None:
    servers().postgres.restart()


def restart_redis() -> None:
    """Every queued message is gone: the server keeps nothing on disk."""
    servers().redis.restart()
