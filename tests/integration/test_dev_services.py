"""`durable-celery dev-services start|status|stop` keeps the embedded servers running
between commands, recorded in the data directory (XDG_DATA_HOME)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import redis

from durable_celery import devservices
from durable_celery.devservices import answers


def _cli(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "durable_celery.cli", "dev-services", action]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_start_status_stop(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("DURABLE_DATABASE_URL", None)
    started = _cli("start", env)
    assert started.returncode == 0, started.stderr
    database_url = re.search(r"DURABLE_DATABASE_URL='?([^'\s]+)", started.stdout).group(1)  # type: ignore[union-attr]
    broker_url = re.search(r"CELERY_BROKER_URL='?([^'\s]+)", started.stdout).group(1)  # type: ignore[union-attr]
    socket_dir = re.search(r"host=(\S+?)'?$", database_url, re.M).group(1)  # type: ignore[union-attr]
    try:
        assert "started" in started.stdout
        # Usable between commands: the database exists, Redis answers on its socket.
        with psycopg.connect(host=socket_dir, user="postgres", dbname="durable") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        redis_socket = broker_url.removeprefix("redis+socket://")
        with redis.Redis(unix_socket_path=redis_socket) as client:
            assert client.ping()
        recorded = devservices.start(tmp_path / "data" / "durable-celery")
        assert not recorded.started and recorded.database_url == database_url  # no second one
        status = _cli("status", env)
        assert status.returncode == 0 and status.stdout.count("answers") == 2, status.stdout
    finally:
        stopped = _cli("stop", env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert not answers(database_url) and not answers(broker_url)
    assert _cli("status", env).returncode == 1
    shutil.rmtree(socket_dir, ignore_errors=True)  # as root the cluster lives there
