"""Heartbeats: a worker process keeps the claims it holds alive.

One daemon thread per worker process (started at the first claim, and again in a forked
child) refreshes, every `durable_heartbeat_interval`, the heartbeat of every execution
and item this process is running, in one statement per kind for all of them, fenced by
their lock tokens: a threads or gevent worker running 100 claims sends one UPDATE per
interval, not 100. A claim that no longer matches was taken back by stale recovery or a
control call: it is reported lost, and since every write of its worker is fenced by the
same token, that worker writes nothing more for it (its step runs to its end, then stops
at the write).

Thread safety: claims are held and let go by the pool's threads while a round runs. A
round refreshes a snapshot of the claims; it marks a claim lost only if the same token is
still held when the answer comes back, so a claim let go and taken again meanwhile (a new
token for the same row) is never reported lost by the round that refreshed the old one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from durable_celery.config import Settings
from durable_celery.runtime import Runtime
from durable_celery.states import WakeTarget
from durable_celery.store import sweeps
from durable_celery.store.connections import engine_for, transaction

logger = logging.getLogger("durable_celery.heartbeat")


class Heartbeat:
    def __init__(self, settings: Settings) -> None:
        # Settings, not the runtime: the registry below must not keep runtimes alive.
        self.settings = settings
        self.pid = os.getpid()
        self._held: dict[tuple[WakeTarget, str], str] = {}
        self._lost: set[tuple[WakeTarget, str]] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, kind: WakeTarget, row_id: str, token: str) -> Iterator[None]:
        """Keep this claim alive while the block runs."""
        key = (kind, row_id)
        with self._lock:
            self._held[key] = token
            self._lost.discard(key)
            self._ensure_thread()
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(key, None)
                self._lost.discard(key)

    def lost(self, kind: WakeTarget, row_id: str) -> bool:
        return (kind, row_id) in self._lost

    def beat(self) -> None:
        """One round: refresh every held claim; remember the ones that are gone."""
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        gone: list[tuple[tuple[WakeTarget, str], str]] = []
        with transaction(engine_for(self.settings)) as conn:
            for kind in WakeTarget:
                claims = [(row_id, token) for (k, row_id), token in held.items() if k == kind]
                alive = sweeps.heartbeat(conn, kind, claims)
                gone += [((kind, row_id), token) for row_id, token in claims if row_id not in alive]
        with self._lock:
            for key, token in gone:
                if self._held.get(key) == token and key not in self._lost:
                    # Still held here under this token, yet taken back (stale recovery, a
                    # control call): no step starts under it any more. The loss is logged
                    # where the run stops (claims.run_claimed).
                    self._lost.add(key)
                    logger.debug("%s %s: the claim is no longer held", *key)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(
            target=self._run, name="durable-celery-heartbeat", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        interval = self.settings.heartbeat_interval
        while not self._wake.wait(interval):
            try:
                self.beat()
            except Exception:
                # The database may be restarting: the next round tries again.
                logger.warning("heartbeat round failed", exc_info=True)


_heartbeats: WeakKeyDictionary[Runtime, Heartbeat] = WeakKeyDictionary()


def heartbeat_for(runtime: Runtime) -> Heartbeat:
    """The heartbeat of this runtime in this process (a forked child gets its own)."""
    current = _heartbeats.get(runtime)
    if current is None or current.pid != os.getpid():
        current = _heartbeats[runtime] = Heartbeat(runtime.settings)
    return current
