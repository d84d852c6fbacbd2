"""Per-step output capture: what a step prints and logs is kept with its attempt.

While a step runs, lines its thread writes to `sys.stdout` / `sys.stderr`, and the records
of any `logging` logger that reach the root logger, are appended to the attempt's log
lines (`ctx.log_lines`, where `ctx.logger` writes too). Captures are keyed by thread (by
task for async steps), so the heartbeat thread, and other steps of a threads pool or of
the event loop, are never mixed in. Writes still go to the real streams: the capture is
a tee, installed once per process and left in place (a no-op for threads that capture
nothing), because swapping `sys.stdout` back and forth while other threads run steps
would lose their output.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import FrameType
from typing import Any, TextIO

# Lines kept per attempt, whatever their size: a step printing in a loop cannot fill the
# worker's memory before `durable_max_log_bytes` cuts the record when it is stored.
MAX_LINES = 2_000
# ctx.logger keeps its own lines; Celery's stdout redirection logs every print again
# (one print must be one line); the engine's own lines belong to the worker log.
_NOT_CAPTURED = ("durable_celery", "celery.redirected")
_FORMAT = logging.Formatter("%(levelname)s %(name)s: %(message)s")
# Left for the line that says how many lines were dropped, so the record keeps it.
_MARKER_ROOM = 256


class _Capture:
    """The lines of one step attempt, bounded by lines and by bytes."""

    def __init__(self, sink: list[str], max_bytes: int) -> None:
        self.sink = sink
        self.max_bytes = max(max_bytes, 1)
        self.room = self.max_bytes - _MARKER_ROOM
        self.dropped = 0
        self.partial = {"STDOUT": "", "STDERR": ""}

    def add(self, line: str) -> None:
        if len(self.sink) >= MAX_LINES or self.room <= 0:
            self.dropped += 1
            return
        line = line[: self.max_bytes]
        self.room -= len(line) + 1
        self.sink.append(line)

    def write(self, stream: str, data: str) -> None:
        *lines, rest = (self.partial[stream] + data).split("\n")
        for line in lines:
            self.add(f"{stream} {line}")
        if len(rest) > self.max_bytes:
            # A step writing without newlines: keep it bounded all the same.
            self.add(f"{stream} {rest}")
            rest = ""
        self.partial[stream] = rest

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self.add(f"{stream} {rest}")
        if self.dropped:
            self.sink.append(
                f"[{self.dropped} more lines of output dropped while the step ran: at most "
                f"{MAX_LINES} lines and durable_max_log_bytes are kept]"
            )


_active: dict[int, _Capture] = {}
_install_lock = threading.Lock()
# An async step runs as a task of the process's event loop (engine/aio.py), one thread
# for many steps: there the capture is the task's, carried by a context variable (each
# task has its own copy of the context).
_task_capture: ContextVar[_Capture | None] = ContextVar("durable_step_capture", default=None)


def _current(thread: int | None) -> _Capture | None:
    return _task_capture.get() or (None if thread is None else _active.get(thread))


def for_task() -> Callable[[], None]:
    """In a capturing step's thread: a function that, called inside the task running the
    step's coroutine, sends what that task prints and logs to the step's capture."""
    capture = _active.get(threading.get_ident())

    def adopt() -> None:
        _task_capture.set(capture)

    return adopt


class _Tee:
    """Stands in for sys.stdout / sys.stderr: writes go on to the stream it replaced, and
    are kept too when the writing thread is capturing."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name

    def write(self, data: str) -> int:
        capture = _current(threading.get_ident())
        if capture is not None and isinstance(data, str) and not _in_logging():
            capture.write(self._name, data)
        return self._stream.write(data)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _RootHandler(logging.Handler):
    """On the root logger: keeps the records that reach it from a capturing thread."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _current(record.thread)
        if capture is not None and not _excluded(record.name):
            try:
                capture.add(_FORMAT.format(record))
            except Exception:
                capture.add(f"{record.levelname} {record.name}: {record.msg!r}")
        if _only_handler(record):
            # The handler must not silence logging's last resort (WARNING and up to
            # stderr) when nothing else is configured.
            last_resort = logging.lastResort
            if last_resort is not None and record.levelno >= last_resort.level:
                last_resort.handle(record)


# A handler writing a record to sys.stderr (logging's last resort, a StreamHandler made
# after the tee was installed): the record itself is captured, its text must not be too.
_LOGGING_CODE = frozenset({logging.Handler.handle.__code__, logging.Logger.callHandlers.__code__})
_LOGGING_DEPTH = 12


def _in_logging() -> bool:
    frame: FrameType | None = sys._getframe(2)
    for _ in range(_LOGGING_DEPTH):
        if frame is None:
            return False
        if frame.f_code in _LOGGING_CODE:
            return True
        frame = frame.f_back
    return False


def _excluded(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in _NOT_CAPTURED)


def _only_handler(record: logging.LogRecord) -> bool:
    if any(handler is not _handler for handler in logging.root.handlers):
        return False
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(not isinstance(handler, _RootHandler) for handler in logger.handlers):
            return False
        if not logger.propagate:
            return True
        logger = logger.parent
    return True


_handler = _RootHandler()


def _install() -> None:
    """Put the tees and the root handler in place, unless they already are (something,
    such as a logging reconfiguration, may have replaced them since)."""
    if (
        isinstance(sys.stdout, _Tee)
        and isinstance(sys.stderr, _Tee)
        and _handler in logging.root.handlers
    ):
        return  # the common case, once per step: no lock
    with _install_lock:
        if not isinstance(sys.stdout, _Tee) and sys.stdout is not None:
            sys.stdout = _Tee(sys.stdout, "STDOUT")
        if not isinstance(sys.stderr, _Tee) and sys.stderr is not None:
            sys.stderr = _Tee(sys.stderr, "STDERR")
        root = logging.getLogger()
        if _handler not in root.handlers:
            root.addHandler(_handler)


@contextmanager
def step_output(sink: list[str], max_bytes: int) -> Iterator[None]:
    """Capture what the current thread prints and logs into `sink` until the block ends."""
    _install()
    thread = threading.get_ident()
    capture = _Capture(sink, max_bytes)
    _active[thread] = capture
    try:
        yield
    finally:
        _active.pop(thread, None)
        capture.close()
