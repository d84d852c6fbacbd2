"""The bar of the embedded default: on a machine view where no PostgreSQL or Redis
answers and none is configured, `durable-celery demo` runs to its end on the embedded
servers (from the `embedded` extra's wheels), announces them and stops them.

The demo runs in a network namespace of its own (`unshare -n`: not even 127.0.0.1 is
up there, so the machine's servers are invisible), with a PATH holding only the
virtualenv's scripts and a fresh HOME: a cold start, cluster creation included.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from durable_celery.devservices import answers

ROOT = Path(__file__).resolve().parents[2]


def _unshare() -> str | None:
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    works = subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0
    return unshare if works else None


def test_demo_runs_on_embedded_servers_when_nothing_answers(tmp_path: Path) -> None:
    unshare = _unshare()
    if unshare is None:
        pytest.skip("needs `unshare -n` (root or user namespaces) to hide the machine's servers")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": str(Path(sys.executable).parent),  # no system postgres, pg_ctl, redis-server
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",  # lines as they happen, for the timings
    }
    command = [unshare, "-n", str(Path(sys.executable).with_name("durable-celery")), "demo"]
    launched = time.monotonic()
    ready_after: float | None = None
    lines: list[str] = []
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watchdog = threading.Timer(150, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if ready_after is None and line.startswith("embedded services ready"):
                ready_after = time.monotonic() - launched
        returncode = process.wait()
    finally:
        watchdog.cancel()
        process.kill()
    total = time.monotonic() - launched
    output = "\n".join(lines)
    found = re.search(r"embedded PostgreSQL at (\S+) \(data in (\S+)\)", output)
    try:
        assert returncode == 0, output
        assert found, output
        assert "set DURABLE_DATABASE_URL to use yours" in output
        assert "using an embedded Redis at redis+socket://" in output
        assert "set CELERY_BROKER_URL to use yours" in output
        assert "result    nightly    completed" in output
        assert "stopped   the embedded PostgreSQL and Redis" in output
        database_url, cluster = found.group(1), Path(found.group(2))
        broker_url = re.search(r"embedded Redis at (\S+);", output).group(1)  # type: ignore[union-attr]
        # Nothing left running: no server answers, no postmaster holds the cluster.
        assert not answers(database_url) and not answers(broker_url)
        assert (cluster / "PG_VERSION").exists() and not (cluster / "postmaster.pid").exists()
        assert not (home / ".local" / "share" / "durable-celery" / "services.json").exists()
    finally:
        if found:
            # As root the cluster lives beside the sockets in the temp dir, not in HOME.
            shutil.rmtree(Path(found.group(2)).parent, ignore_errors=True)
    print(
        f"\ncold start: services ready {ready_after:.1f} s after launch, "
        f"demo ended after {total:.1f} s"
    )
