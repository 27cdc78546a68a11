"""Short-lived database connections for the app, cheap when they come in bursts.

Every use opens its own connection with ``store.open_store`` and closes it after. Opening
a DuckDB file costs 25-40 ms (the database instance starts), and the first questions on a
new instance run 15-25% slower (nothing is in its buffers yet); opening it again while
another connection to it is open costs under 1 ms. So a keeper holds one idle connection
from the first use until ``IDLE_SECONDS`` after the last one, over the page runs of a
person changing filters, and then releases the file.

Other processes must still be able to write (and read) while the app is open. An open
that finds the file locked touches a marker beside it while it retries
(``store.waiting_marker``); the keeper looks every ``POLL_SECONDS`` and releases the file
as soon as the marker has changed since it opened it, so a waiting ingest or CLI command
gets in within a few tenths of a second. A tool that knows nothing of the marker (the
``duckdb`` shell) waits at most ``IDLE_SECONDS`` after the app's last page run. The
keeper's connection is never used for queries (connections are not shared between threads).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmarc_analytics.store import open_store, waiting_marker

IDLE_SECONDS = 5.0
POLL_SECONDS = 0.1


@dataclass(slots=True)
class _Held:
    context: Any  # the open_store context of the idle connection
    opened: float  # epoch seconds, to compare with the waiting marker's time
    last_use: float  # time.monotonic()


class _Keeper:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[Path, _Held] = {}
        self._timer: threading.Timer | None = None

    def touch(self, db: Path, timeout: float) -> None:
        with self._lock:
            held = self._held.get(db)
            if held is None:
                context = open_store(db, read_only=False, timeout=timeout)
                context.__enter__()
                held = self._held[db] = _Held(context, time.time(), 0.0)
            held.last_use = time.monotonic()
            self._schedule()

    def holds(self, db: Path) -> bool:
        with self._lock:
            return Path(db) in self._held

    def release_all(self) -> None:
        """Close every kept connection now (before a write that needs another configuration,
        and at exit: a daemon thread must not be inside DuckDB when the interpreter stops)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for held in self._held.values():
                held.context.__exit__(None, None, None)
            self._held.clear()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(POLL_SECONDS, self._check)
            self._timer.daemon = True
            self._timer.start()

    def _check(self) -> None:
        with self._lock:
            self._timer = None
            now = time.monotonic()
            for db, held in list(self._held.items()):
                if now - held.last_use >= IDLE_SECONDS or _waited_for(db, held.opened):
                    held.context.__exit__(None, None, None)
                    del self._held[db]
            if self._held:
                self._schedule()


def _waited_for(db: Path, since: float) -> bool:
    """Whether another open has waited for ``db`` since ``since`` (epoch seconds)."""
    try:
        return waiting_marker(db).stat().st_mtime >= since
    except OSError:
        return False


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
