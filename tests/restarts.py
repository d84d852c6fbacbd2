"""Helpers that restart the real services under test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

import psycopg

from tests.conftest import ADMIN_DSN


def restart_postgres(timeout: float = 60) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(ADMIN_DSN, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def restart_redis(timeout: float = 30) -> None:
    """Restart Redis; it keeps nothing on disk, so every queued message is gone."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    # Redis closes the connection as it goes down.
    with contextlib.suppress(redis.exceptions.ConnectionError):
        client.shutdown(nosave=True)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.ping():
                return
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
