"""The docker/ files are for users; no Docker engine here, so check what can be checked."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from durable_celery.cli import _parser
from tests.integration.conftest import ROOT

SUBCOMMANDS = set(_parser(takes_app=True)._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
COMPOSE_FILES = {
    ROOT / "docker" / "compose.yaml": "durable_celery",
    ROOT / "docker" / "shop" / "compose.yaml": "examples.shop",
}


def _commands(command: list[str] | str) -> list[list[str]]:
    """A service's commands: its argv, or each command of an `sh -c "a && b"`."""
    if command[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in command[2].split("&&")]
    return [list(command)]


@pytest.mark.parametrize("compose_file", list(COMPOSE_FILES), ids=lambda path: path.parent.name)
def test_compose_services_run_commands_that_exist(compose_file: Path):
    app = COMPOSE_FILES[compose_file]
    services = yaml.safe_load(compose_file.read_text())["services"]
    assert {"postgres", "redis", "migrate", "worker"} <= set(services)
    assert "-h" in services["postgres"]["healthcheck"]["test"]  # ready over TCP, not a socket
    assert services["worker"]["restart"] == "unless-stopped"
    assert "inspect ping" in services["worker"]["healthcheck"]["test"][1]
    for name, service in services.items():
        if "command" not in service or name in ("postgres", "redis"):
            continue
        for command in _commands(service["command"]):
            if command[0] == "durable-celery":
                arguments = command[1:]
                if arguments[0] == "-A":
                    assert arguments[1] == app, name
                    arguments = arguments[2:]
                assert arguments[0] in SUBCOMMANDS, name
            elif command[0] == "alembic":
                assert (ROOT / command[command.index("-c") + 1]).exists()
            else:
                assert command[:3] == ["celery", "-A", app], name
                assert command[3] in {"worker", "beat"}


@pytest.mark.parametrize(
    "dockerfile", [ROOT / "docker" / "Dockerfile", ROOT / "docker" / "shop" / "Dockerfile"]
)
def test_dockerfiles_copy_files_that_exist(dockerfile: Path):
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), source


def test_the_build_context_leaves_out_what_an_image_must_not_carry():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/__pycache__"} <= set(ignored)
