"""What an input is before it is parsed: its digest and size, read once; and whether its
bytes were ingested before, known from the file's signature alone when it is unchanged.

Light on purpose: a folder ingested again is settled with this module and the ledger, and
never loads the parse side (``worker``: lxml, the decoders, Arrow).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dmarc_analytics.config import Limits
from dmarc_analytics.outcomes import FileResult
from dmarc_analytics.sources import Blob, InputFile, absolute_path

HASH_CHUNK = 1024 * 1024
RACY_SECONDS = 2  # a file changed this recently is read again next time (see read_small)
# A file's signature (see file_signature): size, mtime_ns, ctime_ns, inode, device.
FileStat = tuple[int, int, int, int, int]
SNIFF_BYTES = 4096


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What every parse worker needs: the limits, where originals go (None: not kept),
    and the digests of the inputs ingested before."""

    limits: Limits
    archive_dir: Path | None
    known: dict[str, tuple[int, int, int]]  # see store.known_inputs


class SignatureScan:
    """The signatures of files (see ``file_signature``), taken in order on a thread while
    this one waits on something that lets it go, such as DuckDB opening a database.

    A folder ingested again is recognised by its files' signatures, one system call each
    (2 µs here: 5,000 files took 11 ms), and opening the database that says which are known
    takes 20 ms of DuckDB's own work, which does not hold Python's lock. A file not reached
    yet (or that could not be examined) has no signature here, and is examined again by its
    caller.
    """

    def __init__(self, items: Sequence[InputFile | Blob], limit: int) -> None:
        self._items = items[:limit]
        self._found: dict[bytes, FileStat] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._scan, name="signatures", daemon=True)
        self._thread.start()

    def _scan(self) -> None:
        found = self._found
        for item in self._items:
            if self._stop:
                return
            if isinstance(item, InputFile) and item.error is None:
                path = absolute_path(item)
                with contextlib.suppress(OSError):  # its caller will say why
                    found[path] = file_signature(os.stat(path))

    def get(self, path: bytes) -> FileStat | None:
        return self._found.get(path)

    def stop(self) -> None:
        """Stop scanning, and return once the thread has."""
        self._stop = True
        self._thread.join()


def settled_result(
    item: InputFile | Blob,
    context: WorkerContext,
    stats: dict[bytes, FileStat] | None = None,
    scan: SignatureScan | None = None,
) -> FileResult | None:
    """The outcome of an input that needs no parsing (its bytes were ingested before, or it
    cannot be read), without decoding it; None for an input to parse. ``stats`` (see
    ``store.file_stats``) lets an unchanged known file be recognised without reading it,
    from its signature in ``scan`` when it was taken already."""
    if isinstance(item, Blob):
        return None
    result, _ = identify(item, context, stats, scan)
    if result.error is not None or result.known_reports is not None:
        return result
    return None


def identify(
    item: InputFile,
    context: WorkerContext,
    stats: dict[bytes, FileStat] | None = None,
    scan: SignatureScan | None = None,
) -> tuple[FileResult, bytes | None]:
    """The input's result so far (hash and size; known or not; or why it cannot be read)
    and its content when small enough to hold (None: to be streamed)."""
    if item.error is not None:
        return FileResult(item.display, "", 0, error=item.error), None
    try:
        path = absolute_path(item)
        if stats:
            unchanged = _unchanged_known(item.display, path, stats, context, scan)
            if unchanged is not None:
                return unchanged, None
        size, stat, data = read_small(item.path, context.limits.max_input_bytes)
        sha256 = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(item.path)
    except OSError as exc:
        return FileResult(item.display, "", 0, error=f"cannot read file: {exc.strerror}"), None
    result = FileResult(item.display, sha256, size, stat=(path, *stat) if stat else None)
    known = context.known.get(sha256)
    if known is not None:
        result.known_reports, result.known_rejected_parts, result.known_conflicts = known
    return result, data


def _unchanged_known(
    display: str,
    path: bytes,
    stats: dict[bytes, FileStat],
    context: WorkerContext,
    scan: SignatureScan | None,
) -> FileResult | None:
    """The result of a file whose bytes were ingested before, from its metadata alone (see
    ``store.file_stats``); None when it has to be read."""
    seen = stats.get(path)
    if seen is None:
        return None
    *signature, sha256 = seen
    known = context.known.get(sha256)
    if known is None:
        return None
    now = scan.get(path) if scan is not None else None
    if (now or file_signature(os.stat(path))) != tuple(signature):
        return None
    result = FileResult(display, sha256, signature[0])
    result.known_reports, result.known_rejected_parts, result.known_conflicts = known
    return result


def file_signature(stat: os.stat_result) -> FileStat:
    """What a file's bytes are recognised by without reading them: size, modification and
    change times (``utime`` can set the first, never the second), inode and device."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)


def read_small(
    path: str | os.PathLike[str], max_bytes: int
) -> tuple[int, FileStat | None, bytes | None]:
    """(size, the file's signature to remember, the whole content), with None for content
    to be streamed instead.

    An mbox is streamed message by message, never read whole; so is anything too big. One
    open per input: on some file systems each system call costs tens of microseconds. The
    signature is None when the file may change unseen: it changed while it was read, or
    within the last ``RACY_SECONDS`` (a later change could keep its times on a file system
    with coarse ones).
    """
    # The system calls themselves: a file object made four more per file (6 µs of 12).
    fd = os.open(path, os.O_RDONLY)
    try:
        before = os.fstat(fd)
        size = before.st_size
        data = _read_to_end(fd, size) if size <= max_bytes else None
        after = os.fstat(fd)
    finally:
        os.close(fd)
    signature = file_signature(after)
    recent = time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) < RACY_SECONDS * 10**9
    if recent or signature != file_signature(before):
        signature = None
    from dmarc_analytics.decode import sniff  # the decoders are the parse side's

    if data is None or sniff(data[:SNIFF_BYTES]) == "mbox" or len(data) > max_bytes:
        return size, signature, None
    return len(data), signature, data


def _read_to_end(fd: int, size: int) -> bytes:
    """Everything in the file, ``size`` bytes when it has not changed since its size was
    taken (asking for one more shows whether it grew)."""
    first = os.read(fd, size + 1)
    if len(first) == size:
        return first
    blocks = [first]  # it grew, shrank, or the read was short: read until the end
    while block := os.read(fd, HASH_CHUNK):
        blocks.append(block)
    return b"".join(blocks)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, read in pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
