"""Helpers that restart the real services under test."""

from __future__ import annotations

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
