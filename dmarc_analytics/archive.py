"""Content-addressed storage of the originals a user gave us, found by their SHA-256.

Kept so that ``reparse`` can rebuild every table after an upgrade and nothing is lost. An
original of up to ``IN_DATABASE_BYTES`` is kept in the database (table ``originals``),
written in the same transaction as the reports it carried: one file holds everything, and
no file is created per input (on some file systems, and under virus scanners, creating a
file costs far more than parsing a report). Larger inputs and mbox files, which are
streamed rather than read whole, are kept as files, ``<dir>/<sha[:2]>/<sha256>``. Names
come only from the hash, never from an input's or archive member's name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from dmarc_analytics.store import fetch_one

IN_DATABASE_BYTES = 32 * 1024 * 1024


def archive_path(directory: Path, sha256: str) -> Path:
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return directory / sha256[:2] / sha256


def store_bytes(directory: Path, sha256: str, data: bytes) -> Path:
    """Write ``data`` under its digest; return the path.

    Not checked for first: callers only archive inputs the ledger does not know, and
    replacing a file with the same content is harmless (and atomic).
    """
    target = archive_path(directory, sha256)
    _atomic_write(target, lambda fh: fh.write(data))
    return target


def store_file(directory: Path, sha256: str, source: Path) -> Path:
    """Copy the file at ``source`` (already hashed by the caller) into the archive."""
    target = archive_path(directory, sha256)
    if not os.path.exists(target):
        with source.open("rb") as src:
            _atomic_write(target, lambda fh: shutil.copyfileobj(src, fh, 1024 * 1024))
    return target


def read_original(
    con: duckdb.DuckDBPyConnection, directory: Path, sha256: str
) -> bytes | None:
    """The original with this digest, from the database or else the folder; None if absent."""
    rows = con.execute("SELECT data FROM originals WHERE sha256 = $sha", {"sha": sha256}).fetchall()
    if rows:
        return bytes(rows[0][0])
    path = archive_path(directory, sha256)
    return path.read_bytes() if path.is_file() else None


def has_original(con: duckdb.DuckDBPyConnection, directory: Path, sha256: str) -> bool:
    in_database = fetch_one(
        con, "SELECT count(*) FROM originals WHERE sha256 = $sha", {"sha": sha256}
    )[0]
    return bool(in_database) or archive_path(directory, sha256).is_file()


_MADE_FOLDERS: set[Path] = set()


def _atomic_write(target: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Write to a temporary name beside ``target``, then rename: never a half original."""
    folder = target.parent
    if folder not in _MADE_FOLDERS:
        folder.mkdir(parents=True, exist_ok=True)
        _MADE_FOLDERS.add(folder)
    tmp = folder / f".{target.name}.{os.getpid()}.tmp"
    try:
        fh = open(tmp, "wb")  # noqa: SIM115 - closed below
    except FileNotFoundError:  # the folder was removed since we made it
        folder.mkdir(parents=True, exist_ok=True)
        fh = open(tmp, "wb")  # noqa: SIM115
    try:
        with fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
