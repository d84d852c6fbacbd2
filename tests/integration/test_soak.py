"""A short soak (benchmarks/soak.py) in the suite: mixed workload, random worker kills,
then every execution must have completed with every step and item recorded once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT, RUN, drop_database, servers


@pytest.mark.timeout(400)
def test_a_short_soak_loses_nothing_records_nothing_twice_leaves_nothing_running(
    session_database,
):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.soak",
            "--minutes",
            "0.25",
            "--seed",
            "7",
            "--kill-every",
            "4",
            "--database",
            f"{servers().server_url}/durable_soak_{RUN}",
            "--broker",
            servers().redis.url(9),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=380,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK: every execution ended as expected and recorded" in result.stdout
    assert "worker kills" in result.stdout and " 0 worker kills" not in result.stdout
    drop_database(f"durable_soak_{RUN}")
