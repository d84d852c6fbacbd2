"""Test helpers, for this project's suite and for users' own tests.

`WorkerProcess` runs `celery -A APP worker` as a subprocess in its own process group
(crash tests SIGKILL the group), `BeatProcess` runs `celery -A APP beat`; `wait_until`
polls a condition with a deadline. The demo and the benchmarks use them too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO


class WorkerProcess:
    def __init__(
        self,
        *,
        app: str = "durable_celery",
        queues: Sequence[str] | None = ("default",),
        concurrency: int = 2,
        pool: str = "prefork",
        beat: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        log_path: str | Path | None = None,
        loglevel: str = "warning",
        name: str | None = None,
    ) -> None:
        self.app = app
        self.queues = None if queues is None else list(queues)  # None: the app's own
        self.concurrency = concurrency
        self.pool = pool
        self.beat = beat
        self.env = dict(os.environ if env is None else env)
        self.cwd = str(cwd) if cwd is not None else os.getcwd()
        self.loglevel = loglevel
        self.name = name or f"w{os.getpid()}-{id(self):x}"
        self._tmp = tempfile.mkdtemp(prefix="durable-worker-")
        self.log_path = Path(log_path) if log_path else Path(self._tmp) / "worker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "worker",
            "-l",
            self.loglevel,
            "-P",
            self.pool,
            "-c",
            str(self.concurrency),
            *(["-Q", ",".join(self.queues)] if self.queues is not None else []),
            "-n",
            f"{self.name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if self.beat:
            command += ["-B", "-s", str(Path(self._tmp) / "beat-schedule")]
        return command

    def start(self) -> WorkerProcess:
        env = dict(self.env)
        path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = self.cwd + (os.pathsep + path if path else "")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "worker not started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole group: main process, pool children and embedded beat."""
        self.signal_group(signal.SIGKILL)
        self._reap(10)

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown; SIGKILL if it does not finish in time."""
        if self.alive():
            self.signal_group(signal.SIGTERM)
            if not self._reap(timeout):
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _reap(self, timeout: float) -> bool:
        if self.process is None:
            return True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        # Children of a SIGKILLed main process may linger in the group for a moment.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        return True

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class BeatProcess(WorkerProcess):
    """`celery -A APP beat` as a subprocess: what sends the poll and the recovery, and,
    when it starts, stores the schedules the workflows declare. Run several to see that
    nothing fires twice."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "beat",
            "-l",
            self.loglevel,
            "-s",
            str(Path(self._tmp) / "beat-schedule"),
            "--pidfile=",
        ]


def wait_until(predicate: object, timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate()` until it is truthy or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
