"""Content-addressed storage of the originals a user gave us: ``<dir>/<sha[:2]>/<sha256>``.

Kept so that ``reparse`` can rebuild every table after an upgrade and nothing is lost.
Names come only from the hash, never from an input's or archive member's name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


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


def read_original(directory: Path, sha256: str) -> bytes | None:
    path = archive_path(directory, sha256)
    return path.read_bytes() if path.is_file() else None


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
