"""The drop folder: files put in ``settings.inbox`` are ingested while the app is open.

Every page run scans the folder (so files that arrived while the app was closed are taken
at the first page load), and a fragment in the sidebar scans it again every couple of
seconds and reruns the page when something new was ingested. A file is ingested once: the
ingest ledger knows it by its SHA-256. Within this server process, a file whose size and
modification time were already handled is not even read again.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dmarc_analytics import insights
from dmarc_analytics.config import Settings
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.i18n import t
from dmarc_analytics.pipeline import Ingestor
from dmarc_analytics.sources import InputFile
from dmarc_analytics.ui_connect import connect

WATCH_SECONDS = 1.5
SETTLE_SECONDS = 0.3  # a file modified more recently than this may still be being written
_CHUNK = 1024 * 1024
_lock = threading.Lock()
_handled: dict[tuple[str, str], tuple[int, int]] = {}  # (db, path) → (size, mtime_ns)
_last_scan: dict[str, float] = {}  # db → time of the last completed scan


@dataclass(frozen=True, slots=True)
class InboxStatus:
    folder: Path
    exists: bool
    files: int
    last_scan: float | None  # epoch seconds


def scan_inbox(settings: Settings) -> int:
    """Ingest the files in the drop folder that the ledger does not know; return how many.

    Returns 0 at once when another session of this server is scanning.
    """
    if not _lock.acquire(blocking=False):
        return 0
    try:
        candidates = _candidates(settings)
        if candidates:
            return _ingest_new(settings, candidates)
        return 0
    finally:
        _last_scan[str(settings.db)] = time.time()
        _lock.release()


def inbox_status(settings: Settings) -> InboxStatus:
    folder = settings.inbox
    files = sum(1 for _ in _files(folder)) if folder.is_dir() else 0
    return InboxStatus(folder, folder.is_dir(), files, _last_scan.get(str(settings.db)))


def _files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )  # fmt: skip


def _candidates(settings: Settings) -> dict[Path, tuple[int, int]]:
    folder = settings.inbox
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = _files(folder)
    except OSError:
        return {}
    now = time.time()
    found = {}
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        signature = (stat.st_size, stat.st_mtime_ns)
        if _handled.get((str(settings.db), str(path))) == signature:
            continue
        if now - stat.st_mtime >= SETTLE_SECONDS:
            found[path] = signature
    return found


def _ingest_new(settings: Settings, candidates: dict[Path, tuple[int, int]]) -> int:
    with connect(settings.db, settings.lock_timeout) as con:
        known = set(insights.ledger(con)["sha256"])
    new = []
    for path in candidates:
        try:
            digest = _sha256(path)
        except OSError:
            continue
        if digest not in known:
            known.add(digest)
            new.append(InputFile(path, str(path)))
    if new:
        Ingestor(settings, via="dropfolder").ingest_paths(new)
    for path, signature in candidates.items():
        _handled[(str(settings.db), str(path))] = signature
    return len(new)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@st.fragment(run_every=WATCH_SECONDS)
def watch_inbox(settings: Settings, notice_key: str) -> None:
    """A fragment that scans the drop folder and reruns the page when files arrived."""
    try:
        count = scan_inbox(settings)
    except DmarcAnalyticsError as exc:
        st.error(str(exc))
        return
    if count:
        st.session_state[notice_key] = t("dropfolder.ingested", count=count)
        st.cache_data.clear()
        st.rerun()
