"""Content-addressed storage of the originals a user gave us, found by their SHA-256.

Kept so that ``reparse`` can rebuild every table after an upgrade and nothing is lost.
Originals of up to ``PACKED_MAX_BYTES`` are appended to pack files, ``<dir>/packs/<id>.pack``,
one per run of inputs a worker parses together, and found through the database (table
``originals``: digest, pack, position, size), whose rows are written with the reports they
carried. Creating one file per input cost about a quarter of the ingest time here (and
costs more under virus scanners); keeping the bytes in the database itself made DuckDB
rewrite them at every checkpoint. Bytes in a pack that no row points to (a crash between
writing the pack and committing the batch) are never read. Larger inputs and mbox files,
which are streamed rather than read whole, are kept one per file,
``<dir>/<sha[:2]>/<sha256>``. Names come only from hashes and random ids, never from an
input's or archive member's name.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:  # opened by the store, which imports it at first use
    import duckdb


PACKED_MAX_BYTES = 32 * 1024 * 1024
_PACK_NAME = re.compile(r"[0-9a-f]{32}\.pack")


class Packer:
    """Appends originals to one new pack file, created on first use."""

    def __init__(self, directory: Path) -> None:
        self.folder = directory / "packs"
        self.name: str | None = None
        self._file: BinaryIO | None = None

    def add(self, data: bytes) -> tuple[str, int]:
        """Append ``data``; return (pack name, position) for the ``originals`` row."""
        if self._file is None or self.name is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.name = f"{uuid.uuid4().hex}.pack"
            self._file = open(self.folder / self.name, "xb")  # noqa: SIM115 - closed in close()
        position = self._file.tell()
        self._file.write(data)
        return self.name, position

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_packed(directory: Path, pack: str, position: int, size: int, sha256: str) -> bytes:
    """An original from a pack, checked against its digest."""
    if not _PACK_NAME.fullmatch(pack):
        raise ValueError(f"not a pack name: {pack!r}")
    with open(directory / "packs" / pack, "rb") as fh:
        fh.seek(position)
        data = fh.read(size)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise OSError(f"pack {pack} is damaged: the original {sha256[:12]}... does not match")
    return data


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


def store_file(directory: Path, sha256: str, source: str | os.PathLike[str]) -> Path:
    """Copy the file at ``source`` (already hashed by the caller) into the archive."""
    target = archive_path(directory, sha256)
    if not os.path.exists(target):
        with open(source, "rb") as src:
            _atomic_write(target, lambda fh: shutil.copyfileobj(src, fh, 1024 * 1024))
    return target


def read_original(
    con: duckdb.DuckDBPyConnection, directory: Path, sha256: str
) -> bytes | None:
    """The original with this digest, from its pack or else its own file; None if absent."""
    rows = con.execute(
        "SELECT pack, position, size FROM originals WHERE sha256 = $sha", {"sha": sha256}
    ).fetchall()
    if rows:
        pack, position, size = rows[0]
        try:
            return read_packed(directory, pack, position, size, sha256)
        except OSError:
            return None
    path = archive_path(directory, sha256)
    return path.read_bytes() if path.is_file() else None


def has_original(con: duckdb.DuckDBPyConnection, directory: Path, sha256: str) -> bool:
    """Whether the original is in ``directory``: its pack (as recorded) or its own file."""
    packs = con.execute(
        "SELECT pack FROM originals WHERE sha256 = $sha", {"sha": sha256}
    ).fetchall()
    if packs and _PACK_NAME.fullmatch(packs[0][0]):
        return (directory / "packs" / packs[0][0]).is_file()
    return archive_path(directory, sha256).is_file()


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
