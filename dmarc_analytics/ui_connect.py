"""Short-lived database connections for the app, cheap when they come in bursts.

Every use opens its own connection with ``store.open_store`` and closes it after, so the
app never holds the database between page runs and the CLI can write while the app is
open. Opening a DuckDB file costs about 25 ms (the database instance starts), but opening
it again while another connection to it is open costs under 1 ms (the instance is shared).
A page run asks several questions in a row, so a keeper holds one idle connection from the
first use until ``IDLE_SECONDS`` after the last one; the file is then released. The keeper's
connection is never used for queries (connections are not shared between threads).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dmarc_analytics.store import open_store

IDLE_SECONDS = 0.4


class _Keeper:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[Any, float]] = {}  # db → (open_store context, last use)
        self._timer: threading.Timer | None = None

    def touch(self, db: Path, timeout: float) -> None:
        key = str(db)
        with self._lock:
            held = self._held.get(key)
            if held is None:
                context = open_store(db, read_only=False, timeout=timeout)
                context.__enter__()
                held = (context, 0.0)
            self._held[key] = (held[0], time.monotonic())
            self._schedule()

    def release_all(self) -> None:
        """Close every kept connection now (before a write that needs another configuration,
        and at exit: a daemon thread must not be inside DuckDB when the interpreter stops)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for context, _ in self._held.values():
                context.__exit__(None, None, None)
            self._held.clear()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(IDLE_SECONDS, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self._timer = None
            now = time.monotonic()
            for key, (context, last) in list(self._held.items()):
                if now - last >= IDLE_SECONDS:
                    context.__exit__(None, None, None)
                    del self._held[key]
            if self._held:
                self._schedule()


_keeper = _Keeper()
atexit.register(_keeper.release_all)


@contextlib.contextmanager
def connect(db: Path, timeout: float) -> Iterator[Any]:
    """A read-write connection for one use (the app never mixes read-only ones in)."""
    _keeper.touch(Path(db), timeout)
    with open_store(Path(db), read_only=False, timeout=timeout) as con:
        yield con


def release() -> None:
    _keeper.release_all()
