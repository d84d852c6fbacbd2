"""A throwaway RabbitMQ node (the installed rabbitmq-server, its own name, ports and data
directory), so that a test can restart a broker without touching the machine's own node.
It registers with the machine's epmd under a name of its own, like a second node would."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from kombu import Exchange, Queue

from tests.servers import free_port

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def queues_of(name: str, queue_type: str) -> list[Queue]:
    """The `task_queues` of the RabbitMQ tests' apps (worker and client alike: a queue is
    declared with the same arguments by every process that uses it)."""
    if queue_type == "classic":
        return []  # Celery declares it on first use, as it does for any queue
    arguments = {"x-queue-type": queue_type, "x-delivery-limit": 20}
    return [Queue(name, Exchange(name), routing_key=name, queue_arguments=arguments)]


class NodeUnavailable(RuntimeError):
    """The private node cannot run here (not installed, or did not come up in time)."""


class PrivateRabbitMQ:
    def __init__(self) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.name = f"durable-test-{os.getpid()}-{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self._dir = Path(tempfile.mkdtemp(prefix="durable-rabbitmq-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _env(self) -> dict[str, str]:
        home = self._dir / "home"  # the node writes its Erlang cookie there
        for sub in ("home", "mnesia", "log"):
            (self._dir / sub).mkdir(exist_ok=True)
        (self._dir / "rabbit.conf").write_text(
            f"listeners.tcp.default = {self.port}\nloopback_users = none\n"
        )
        return {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self._dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self._dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self._dir / "rabbit"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self._dir / "pid"),
        }

    def launch(self) -> PrivateRabbitMQ:
        """Start the node without waiting for it (see wait_ready): it boots in seconds."""
        if not RABBITMQ_SERVER.is_file():
            raise NodeUnavailable(f"{RABBITMQ_SERVER} is not installed")
        if self._log is None:
            self._log = open(self._dir / "server.log", "ab")  # noqa: SIM115 - closed in remove()
        self._proc = subprocess.Popen(
            [str(RABBITMQ_SERVER)],
            cwd=self._dir,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its shell wrapper and the Erlang VM: one group to stop
        )
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                break
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.1)
        tail = (self._dir / "server.log").read_text(errors="replace")[-1500:]
        raise NodeUnavailable(f"the private RabbitMQ node did not start in {timeout} s: {tail}")

    def stop(self, timeout: float = 20) -> None:
        """A clean shutdown; launch() again restarts it on the same port and data (durable
        queues and their persistent messages survive)."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(5)
        self._proc = None

    def remove(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._dir, ignore_errors=True)
