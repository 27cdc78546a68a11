"""The drop folder: files put in ``settings.inbox`` are ingested while the app is open.

Every page run scans the folder (so files that arrived while the app was closed are taken
at the first page load). While a browser has the app open, one watcher thread per server
process scans the folder again every ``WATCH_SECONDS``. A scan that finds nothing sends
nothing to the browser: no script run, no re-rendered element, so a click in the sidebar is
never disturbed. Only when the watcher ingested something does it ask the open sessions on
that database to rerun, the way Streamlit itself reruns a session when a source file
changes; their next run shows the new data and a notice. A file is ingested once: the
ingest ledger knows it by its SHA-256. Within this server process, a file whose size and
modification time were already handled is not even read again.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dmarc_analytics.config import Settings
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.pipeline import Ingestor
from dmarc_analytics.sources import InputFile, find_inputs
from dmarc_analytics.store import seen_inputs, seen_unreadable
from dmarc_analytics.ui_connect import connect
from dmarc_analytics.watched import not_seen

WATCH_SECONDS = 1.5
SETTLE_SECONDS = 0.3  # a file modified more recently than this may still be being written
_scanning: dict[str, threading.Lock] = {}  # db → held while its drop folder is scanned
_handled: dict[tuple[str, str], tuple[int, int]] = {}  # (db, path) → (size, mtime_ns)
_last_scan: dict[str, float] = {}  # db → time of the last completed scan
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Arrivals:
    """New files the drop folder gave, and how many of them were rejected."""

    files: int = 0
    rejected: int = 0

    def __add__(self, other: Arrivals) -> Arrivals:
        return Arrivals(self.files + other.files, self.rejected + other.rejected)

    def __bool__(self) -> bool:
        return self.files > 0


@dataclass(frozen=True, slots=True)
class InboxStatus:
    folder: Path
    exists: bool
    files: int
    last_scan: float | None  # epoch seconds


def scan_inbox(settings: Settings) -> Arrivals:
    """Ingest the files in the drop folder that the ledger does not know; return how many
    (and how many of them were rejected).

    Returns no arrivals at once when another session of this server is scanning the same
    database's drop folder (a scan for another database neither waits for it nor is skipped).
    """
    lock = _scanning.setdefault(str(settings.db), threading.Lock())  # atomic under the GIL
    if not lock.acquire(blocking=False):
        return Arrivals()
    try:
        candidates = _candidates(settings)
        if candidates:
            return _ingest_new(settings, candidates)
        return Arrivals()
    finally:
        _last_scan[str(settings.db)] = time.time()
        lock.release()


def inbox_status(settings: Settings) -> InboxStatus:
    folder = settings.inbox
    files = sum(1 for f in _entries(folder) if f.error is None) if folder.is_dir() else 0
    return InboxStatus(folder, folder.is_dir(), files, _last_scan.get(str(settings.db)))


def _entries(folder: Path) -> list[InputFile]:
    """What a folder ingest of the drop folder would take: its files (hidden ones skipped)
    and, to be rejected with their reason, entries that cannot be read (a broken link)."""
    return find_inputs([str(folder)])[0]


def _candidates(settings: Settings) -> dict[InputFile, tuple[int, int]]:
    folder = settings.inbox
    try:
        folder.mkdir(parents=True, exist_ok=True)
        entries = _entries(folder)
    except OSError:
        return {}
    now = time.time()
    found = {}
    for item in entries:
        try:
            stat = os.lstat(item.path) if item.error is not None else os.stat(item.path)
        except OSError:
            continue
        signature = (stat.st_size, stat.st_mtime_ns)
        if _handled.get((str(settings.db), str(item.path))) == signature:
            continue
        if now - stat.st_mtime >= SETTLE_SECONDS:
            found[item] = signature
    return found


def _ingest_new(settings: Settings, candidates: dict[InputFile, tuple[int, int]]) -> Arrivals:
    with connect(settings.db, settings.lock_timeout) as con:
        known, unreadable = seen_inputs(con), seen_unreadable(con)
    new = not_seen(candidates, known, unreadable)  # hashed with the database let go
    rejected = 0
    if new:
        outcomes = Ingestor(settings, via="dropfolder").ingest_paths(new)
        rejected = sum(o.outcome == "rejected" for o in outcomes)
    for item, signature in candidates.items():
        _handled[(str(settings.db), str(item.path))] = signature
    return Arrivals(len(new), rejected)


class _Watcher:
    """Scans the drop folder of every open session in a background thread.

    Sessions register on each page run (``watch_inbox``). Every ``WATCH_SECONDS`` the
    thread scans each registered (database, inbox) once, with the settings of the session
    that ran last on it. When a scan ingested files, it records an ingest event (the
    sessions show it as a notice) and asks those sessions to rerun; when it found nothing,
    nothing else happens. Sessions that have closed are forgotten.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Settings] = {}  # session id → settings of its last run
        self._events: dict[str, list[tuple[int, Arrivals]]] = {}  # db → [(sequence, files)]
        self._sequence = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, session_id: str, settings: Settings) -> None:
        with self._lock:
            self._sessions[session_id] = settings
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._loop, name="dmarc-analytics-inbox", daemon=True
                )
                self._thread.start()

    def last_event(self, db: str) -> int:
        with self._lock:
            events = self._events.get(db)
            return events[-1][0] if events else 0

    def files_since(self, db: str, sequence: int) -> Arrivals:
        """Files the watcher ingested into ``db`` after event ``sequence``."""
        with self._lock:
            events = self._events.get(db, ())
            return sum((files for seq, files in events if seq > sequence), Arrivals())

    def stop(self) -> None:
        """Stop the thread (at exit: it must not be inside DuckDB when the interpreter stops)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def scan_once(self) -> dict[str, Arrivals]:
        """One round: scan each registered inbox; rerun the sessions that have new data."""
        self._forget_closed()
        with self._lock:
            by_inbox: dict[tuple[str, str], Settings] = {}
            for settings in self._sessions.values():
                by_inbox[(str(settings.db), str(settings.inbox))] = settings
        ingested: dict[str, Arrivals] = {}
        for (db, _), settings in by_inbox.items():
            try:
                arrivals = scan_inbox(settings)
            except DmarcAnalyticsError as exc:  # shown by the next page run's own scan
                _LOG.warning("drop folder %s: %s", settings.inbox, exc)
                continue
            if arrivals:
                ingested[db] = ingested.get(db, Arrivals()) + arrivals
        for db, arrivals in ingested.items():
            with self._lock:
                self._sequence += 1
                self._events.setdefault(db, []).append((self._sequence, arrivals))
                del self._events[db][:-100]
                sessions = [sid for sid, s in self._sessions.items() if str(s.db) == db]
            for session_id in sessions:
                _request_rerun(session_id)
        return ingested

    def _loop(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            try:
                self.scan_once()
            except Exception:  # keep watching; the page's own scan reports errors
                _LOG.exception("drop folder watcher")

    def _forget_closed(self) -> None:
        if not runtime.exists():
            return
        app = runtime.get_instance()
        with self._lock:
            for session_id in list(self._sessions):
                if app.get_app_session(session_id) is None:
                    del self._sessions[session_id]


def _request_rerun(session_id: str) -> None:
    """Rerun an open session as it last ran (page, widget values, query string).

    This is what Streamlit does for a session when a source file changes and "run on save"
    is on: ``AppSession.request_rerun`` with the client state of its last run, scheduled on
    the session's event loop (``Runtime.get_app_session`` is safe on any thread; the
    session's methods are not).
    """
    if not runtime.exists():
        return
    session = runtime.get_instance().get_app_session(session_id)
    if session is None:
        return

    def rerun() -> None:
        session.request_rerun(session._client_state)

    session._call_soon_on_event_loop(rerun)


_watcher = _Watcher()
atexit.register(_watcher.stop)


def watch_inbox(settings: Settings, seen_key: str) -> Arrivals:
    """Keep this session's drop folder watched; the files ingested since its last run.

    Renders nothing. ``seen_key`` (a session-state key) remembers the last ingest event
    this session has shown. Outside a served app (AppTest) there is no watcher.
    """
    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return Arrivals()
    _watcher.register(ctx.session_id, settings)
    db = str(settings.db)
    latest = _watcher.last_event(db)
    seen = st.session_state.get(seen_key)
    st.session_state[seen_key] = latest
    if seen is None:  # the session's first run: nothing to report yet
        return Arrivals()
    return _watcher.files_since(db, seen)
