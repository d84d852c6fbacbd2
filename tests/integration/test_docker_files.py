"""The docker/ files are for users; no Docker engine here, so check what can be checked."""

from __future__ import annotations

import shlex

import yaml

from durable_celery.cli import _parser
from tests.integration.conftest import ROOT


def test_compose_services_run_commands_that_exist():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "worker", "beat"} <= set(services)
    subcommands = set(_parser(takes_app=True)._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for name in ("migrate", "worker", "beat"):
        command = services[name]["command"]
        assert services[name]["environment"]["DURABLE_DATABASE_URL"].startswith(
            "postgresql+psycopg://"
        )
        if command[0] == "durable-celery":
            assert command[1] in subcommands, name
        else:
            assert command[:3] == ["celery", "-A", "durable_celery"], name
            assert command[3] in {"worker", "beat"}


def test_dockerfile_copies_files_that_exist():
    for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources = shlex.split(line)[1:-1]
            for source in sources:
                assert (ROOT / source).exists(), source
