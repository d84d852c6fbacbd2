"""`durable-celery dev-services start|status|stop` keeps the embedded servers running
between commands, recorded in the data directory (XDG_DATA_HOME)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis

from durable_celery import devservices
from durable_celery.cli.devservices import dev_services_command
from durable_celery.devservices import answers


def _command(action: str) -> int:
    # In-process after the first call: one interpreter start per test is enough.
    return dev_services_command(argparse.Namespace(action=action), None)  # type: ignore[arg-type]


def test_start_status_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    env = {key: value for key, value in os.environ.items() if key != "DURABLE_DATABASE_URL"}
    command = [sys.executable, "-m", "durable_celery.cli", "dev-services", "start"]
    started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    database_url = re.search(r"DURABLE_DATABASE_URL='?([^'\s]+)", started.stdout).group(1)  # type: ignore[union-attr]
    broker_url = re.search(r"CELERY_BROKER_URL='?([^'\s]+)", started.stdout).group(1)  # type: ignore[union-attr]
    socket_dir = database_url.partition("?host=")[2]
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
        capsys.readouterr()
        assert _command("status") == 0
        assert capsys.readouterr().out.count("answers") == 2
    finally:
        stopped = _command("stop")
    assert stopped == 0 and "stopped" in capsys.readouterr().out
    assert not answers(database_url) and not answers(broker_url)
    assert _command("status") == 1
    shutil.rmtree(socket_dir, ignore_errors=True)  # as root the cluster lives there
