"""The only place the stages are wired: read → decode → parse → flatten → store.

Parsing runs in worker processes (one per core) while the main process writes finished
batches; the database lock is taken only for the short write of each batch. One bad input
never stops the batch: it becomes a rejected outcome with its reason.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import hashlib
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dmarc_analytics import archive
from dmarc_analytics.config import Limits, Settings
from dmarc_analytics.decode import decode_bytes, decode_file, sniff
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.fastpath import add_clean_report
from dmarc_analytics.flatten import ReportMeta, TableBuilder, preload_arrow
from dmarc_analytics.model import Payload, RejectedPart
from dmarc_analytics.outcomes import ChunkResult, FileOutcome, FileResult, PartResult
from dmarc_analytics.parse import parse_report
from dmarc_analytics.rollups import refresh as refresh_rollups
from dmarc_analytics.schema import utc_now
from dmarc_analytics.sources import Blob, InputFile
from dmarc_analytics.store import (
    bulk_writes,
    file_stats,
    keeps_originals,
    known_inputs,
    open_store,
)
from dmarc_analytics.writer import write_batch

# DuckDB stores a table in row groups of 122,880 rows. A batch of at least that many
# records has them written once, as whole row groups; a smaller one makes a partial row
# group, which the next checkpoints merge with its neighbours, writing it again each time
# (at 1M records, 40,000-record batches had commits cost three times as much).
BATCH_RECORDS = 122_880
BATCH_FILES = 8_000
BATCH_KNOWN_FILES = 50_000  # files ingested before cost a ledger row each: far cheaper
BATCH_SECONDS = 5.0
PARALLEL_THRESHOLD = 16  # fewer inputs than this are parsed in-process
# Inputs parsed together by one worker and sent back as one set of Arrow tables: big enough
# to amortise building the tables, small enough to keep both workers busy to the end.
MIN_CHUNK_FILES, MAX_CHUNK_FILES = 8, 256
IN_FLIGHT_PER_WORKER = 6
HASH_CHUNK = 1024 * 1024
RACY_SECONDS = 2  # a file changed this recently is read again next time (see _read_small)
# A file's signature (see _signature): size, mtime_ns, ctime_ns, inode, device.
FileStat = tuple[int, int, int, int, int]
SNIFF_BYTES = 4096


@dataclass(frozen=True, slots=True)
class WorkerContext:
    limits: Limits
    archive_dir: Path | None
    known: dict[str, tuple[int, int]]


_CONTEXT: WorkerContext | None = None


def parse_payloads(
    items: Iterable[Payload | RejectedPart],
    limits: Limits,
    builder: TableBuilder,
    input_sha256: str,
) -> list[PartResult]:
    """Parse every payload a decoder found into ``builder``; errors become rejected parts."""
    parts = []
    for item in items:
        if isinstance(item, RejectedPart):
            parts.append(PartResult(item.origin, kind=item.kind, reason=item.reason))
            continue
        mark = builder.mark()
        try:
            meta = _parse_payload(item, limits, builder, input_sha256)
        except DmarcAnalyticsError as exc:
            builder.rollback(mark)
            parts.append(PartResult(item.origin, kind=_kind_of(exc), reason=str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - a fault no rule foresaw costs this part only
            builder.rollback(mark)
            parts.append(PartResult(item.origin, kind="unexpected", reason=_unexpected(exc)))
            continue
        parts.append(PartResult(item.origin, report=meta))
    return parts


def _parse_payload(
    item: Payload, limits: Limits, builder: TableBuilder, input_sha256: str
) -> ReportMeta:
    content = hashlib.sha256(item.data).hexdigest()
    meta = add_clean_report(
        builder, item.data, content, input_sha256, item.origin, limits.max_records,
        limits.max_xml_tags, item.notes,
    )  # fmt: skip
    if meta is None:  # not clean: the reference path repairs, notes issues or refuses
        report = parse_report(
            item.data, item.origin, limits.max_records, limits.max_xml_tags, item.notes
        )
        meta = builder.add(report, content, input_sha256, item.origin)
    return meta


def _unexpected(exc: Exception) -> str:
    return f"unexpected error while reading it ({type(exc).__name__}: {exc})"


def _kind_of(exc: DmarcAnalyticsError) -> str:
    name = type(exc).__name__
    return {
        "NotAggregateReport": "not-a-report",
        "UnsafeXmlError": "unsafe",
        "LimitExceeded": "limit",
    }.get(name, "corrupt")


def process_chunk(items: Sequence[InputFile | Blob], context: WorkerContext) -> ChunkResult:
    """Process a run of inputs together, so their rows travel as one set of Arrow tables."""
    builder = TableBuilder()
    packer = archive.Packer(context.archive_dir) if context.archive_dir is not None else None
    try:
        files = [
            process_blob(item.name, item.data, context, builder, packer)
            if isinstance(item, Blob)
            else process_input(item, context, builder, packer)
            for item in items
        ]
    finally:
        if packer is not None:
            packer.close()
    return ChunkResult(files, builder.tables() if builder.count else {})


def process_input(
    item: InputFile,
    context: WorkerContext,
    builder: TableBuilder,
    packer: archive.Packer | None = None,
) -> FileResult:
    """Everything one input needs before the store: hash, archive, decode, parse."""
    result, data = _identify(item, context)
    if result.error is not None or result.known_reports is not None:
        return result
    path, name = item.path, Path(item.display).name or item.display
    if context.archive_dir is not None:
        if data is not None:
            _keep(result, data, context.archive_dir, packer)
        else:
            archive.store_file(context.archive_dir, result.sha256, path)
    items = (
        decode_bytes(name, data, context.limits)
        if data is not None
        else decode_file(path, context.limits, name=name)
    )
    _decode_and_parse(result, items, context, builder)
    return result


def settled_result(
    item: InputFile | Blob, context: WorkerContext, stats: dict[bytes, FileStat] | None = None
) -> FileResult | None:
    """The outcome of an input that needs no parsing (its bytes were ingested before, or it
    cannot be read), without decoding it; None for an input to parse. ``stats`` (see
    ``store.file_stats``) lets an unchanged known file be recognised without reading it."""
    if isinstance(item, Blob):
        return None
    result, _ = _identify(item, context, stats)
    if result.error is not None or result.known_reports is not None:
        return result
    return None


def _identify(
    item: InputFile, context: WorkerContext, stats: dict[bytes, FileStat] | None = None
) -> tuple[FileResult, bytes | None]:
    """The input's result so far (hash and size; known or not; or why it cannot be read)
    and its content when small enough to hold (None: to be streamed)."""
    if item.error is not None:
        return FileResult(item.display, "", 0, error=item.error), None
    try:
        path = os.fsencode(os.path.abspath(item.path))
        if stats:
            unchanged = _unchanged_known(item.display, path, stats, context)
            if unchanged is not None:
                return unchanged, None
        size, stat, data = _read_small(item.path, context.limits.max_input_bytes)
        sha256 = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(item.path)
    except OSError as exc:
        return FileResult(item.display, "", 0, error=f"cannot read file: {exc.strerror}"), None
    result = FileResult(item.display, sha256, size, stat=(path, *stat) if stat else None)
    known = context.known.get(sha256)
    if known is not None:
        result.known_reports, result.known_rejected_parts, result.known_conflicts = known
    return result, data


def _unchanged_known(
    display: str, path: bytes, stats: dict[bytes, FileStat], context: WorkerContext
) -> FileResult | None:
    """The result of a file whose bytes were ingested before, from its metadata alone (see
    ``store.file_stats``); None when it has to be read."""
    seen = stats.get(path)
    if seen is None:
        return None
    *signature, sha256 = seen
    known = context.known.get(sha256)
    if known is None or _signature(os.stat(path)) != tuple(signature):
        return None
    result = FileResult(display, sha256, signature[0])
    result.known_reports, result.known_rejected_parts, result.known_conflicts = known
    return result


def _signature(stat: os.stat_result) -> FileStat:
    """What a file's bytes are recognised by without reading them: size, modification and
    change times (``utime`` can set the first, never the second), inode and device."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)


def process_blob(
    name: str,
    data: bytes,
    context: WorkerContext,
    builder: TableBuilder,
    packer: archive.Packer | None = None,
) -> FileResult:
    """Like ``process_input`` for bytes already in memory (an upload)."""
    sha256 = hashlib.sha256(data).hexdigest()
    result = FileResult(name, sha256, len(data))
    known = context.known.get(sha256)
    if known is not None:
        result.known_reports, result.known_rejected_parts, result.known_conflicts = known
        return result
    if len(data) > context.limits.max_input_bytes:
        result.error = f"input is larger than the limit of {context.limits.max_input_bytes} bytes"
        return result
    if context.archive_dir is not None:
        _keep(result, data, context.archive_dir, packer)
    _decode_and_parse(result, decode_bytes(name, data, context.limits), context, builder)
    return result


def _decode_and_parse(
    result: FileResult,
    items: Iterable[Payload | RejectedPart],
    context: WorkerContext,
    builder: TableBuilder,
) -> None:
    """Parse what the decoder finds into ``builder``. A fault that no rule foresaw (a bug
    that some input triggers) costs the least it can: in parsing, that report alone; in
    decoding, the input, whose rows are taken back out and which is rejected with the error
    (its original still archived). The rest of the batch never notices."""
    mark = builder.mark()
    try:
        result.parts = parse_payloads(items, context.limits, builder, result.sha256)
    except Exception as exc:  # noqa: BLE001 - reported as this input's outcome
        builder.rollback(mark)
        result.parts = []
        result.error = _unexpected(exc)


def _keep(
    result: FileResult, data: bytes, archive_dir: Path, packer: archive.Packer | None
) -> None:
    """Keep the original: appended to the chunk's pack, or a file of its own if big."""
    if packer is not None and len(data) <= archive.PACKED_MAX_BYTES:
        result.packed = packer.add(data)
    else:
        archive.store_bytes(archive_dir, result.sha256, data)


def _read_small(path: Path, max_bytes: int) -> tuple[int, FileStat | None, bytes | None]:
    """(size, the file's signature to remember, the whole content), with None for content
    to be streamed instead.

    An mbox is streamed message by message, never read whole; so is anything too big. One
    open per input: on some file systems each system call costs tens of microseconds. The
    signature is None when the file may change unseen: it changed while it was read, or
    within the last ``RACY_SECONDS`` (a later change could keep its times on a file system
    with coarse ones).
    """
    with open(path, "rb") as fh:  # builtins.open: Path.open costs more than the read here
        before = os.fstat(fh.fileno())
        size = before.st_size
        data = fh.read() if size <= max_bytes else None
        after = os.fstat(fh.fileno())
    signature = _signature(after)
    recent = time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) < RACY_SECONDS * 10**9
    if recent or signature != _signature(before):
        signature = None
    if data is None or sniff(data[:SNIFF_BYTES]) == "mbox" or len(data) > max_bytes:
        return size, signature, None
    return len(data), signature, data


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content, read in pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _init_worker(context: WorkerContext) -> None:
    global _CONTEXT
    _CONTEXT = context


def _work(items: list[InputFile | Blob]) -> ChunkResult:
    assert _CONTEXT is not None
    return process_chunk(items, _CONTEXT)


def _in_order(pool, chunks: list[list], workers: int) -> Iterator[ChunkResult]:  # type: ignore[no-untyped-def]
    """The workers' results in order, with at most two chunks per worker in flight.

    ``Pool.imap`` would queue every result the workers finish while this process is busy
    writing a batch, so memory would grow with how far the workers get ahead.
    """
    waiting: collections.deque = collections.deque()
    remaining = iter(chunks)
    for chunk in itertools.islice(remaining, IN_FLIGHT_PER_WORKER * workers):
        waiting.append(pool.apply_async(_work, (chunk,)))
    while waiting:
        result = waiting.popleft().get()
        following = next(remaining, None)
        if following is not None:
            waiting.append(pool.apply_async(_work, (following,)))
        yield result


def _chunk_size(inputs: int, workers: int) -> int:
    return max(MIN_CHUNK_FILES, min(MAX_CHUNK_FILES, inputs // (workers * 4) or 1))


def _chunks(items: Sequence, size: int) -> list[list]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class Ingestor:
    """Ingest inputs into the store in batches; report each input's outcome as it lands."""

    def __init__(
        self,
        settings: Settings,
        via: str = "cli",
        demo: bool = False,
        on_outcome: Callable[[FileOutcome], None] | None = None,
        keep_outcomes: bool = True,
    ) -> None:
        self.settings = settings
        self.keep_outcomes = keep_outcomes
        self.via = via
        self.demo = demo
        self.on_outcome = on_outcome
        self._pending: list[ChunkResult] = []
        self._pending_records = self._pending_files = self._pending_known = 0
        self._pending_since = 0.0
        self.outcomes: list[FileOutcome] = []
        self._wrote = False
        self._stats: dict[bytes, tuple] = {}
        self._workers_busy = False  # a pool is parsing: writes leave it the cores

    def _context(self, with_stats: bool = False) -> WorkerContext:
        """The workers' context; with the remembered file signatures (``store.file_stats``)
        in ``self._stats`` for this process when ``with_stats``."""
        with open_store(self.settings.db, timeout=self.settings.lock_timeout) as con:
            known = known_inputs(con)
            # As many rows as distinct files ingested, like the inputs above (5,000: 20 ms).
            self._stats = file_stats(con) if with_stats and known else {}
            # The demo dataset is generated, not given: nothing to keep, nothing to reparse.
            keep = not self.demo and keeps_originals(con, self.settings.archive)
        archive_dir = self.settings.archive_folder if keep else None
        return WorkerContext(self.settings.limits, archive_dir, known)

    def ingest_paths(self, inputs: Sequence[InputFile]) -> list[FileOutcome]:
        return self.ingest_pages([inputs])

    def ingest_pages(self, pages: Iterable[Sequence[InputFile | Blob]]) -> list[FileOutcome]:
        """Ingest inputs that come a page at a time (each page read when the last is done).

        Small pages are parsed in this process; the worker pool starts with the first page
        big enough to be worth it and serves the rest.
        """
        context = self._context(with_stats=True)
        workers = self._workers()
        with contextlib.ExitStack() as stack:
            pool = None
            for page in pages:
                page = self._settle_leading(page, context)
                if not page:
                    continue
                chunks = _chunks(page, _chunk_size(len(page), workers))
                if workers <= 1 or (pool is None and len(page) < PARALLEL_THRESHOLD):
                    results: Iterable[ChunkResult] = (process_chunk(c, context) for c in chunks)
                else:
                    if pool is None:
                        pool = stack.enter_context(self._pool(workers, context))
                        self._workers_busy = True
                        stack.callback(setattr, self, "_workers_busy", False)
                    results = _in_order(pool, chunks, workers)
                for result in results:
                    self._add(result)
        self.finish()
        return self.outcomes

    def _settle_leading(
        self, page: Sequence[InputFile | Blob], context: WorkerContext
    ) -> Sequence[InputFile | Blob]:
        """Settle in this process the inputs at the head of ``page`` that need no parsing,
        up to the first that does; return the rest. A folder ingested again is then
        hashed here instead of in workers that would have nothing else to do (5,000 known
        files: 0.15 s here against 0.3 s through the pool), and a new folder costs one
        file's hash."""
        settled = []
        for item in page:
            result = settled_result(item, context, self._stats)
            if result is None:
                break
            settled.append(result)
        for start in range(0, len(settled), MAX_CHUNK_FILES):
            self._add(ChunkResult(settled[start : start + MAX_CHUNK_FILES]))
        return page[len(settled) :]

    def ingest_blobs(self, blobs: Iterable[tuple[str, bytes]]) -> list[FileOutcome]:
        """Ingest in-memory inputs (uploads), in order, in this process."""
        context = self._context()
        for name, data in blobs:
            self._add(process_chunk([Blob(name, data)], context))
        self.finish()
        return self.outcomes

    def _workers(self) -> int:
        return self.settings.workers or os.cpu_count() or 1

    def _pool(self, workers: int, context: WorkerContext):  # type: ignore[no-untyped-def]
        # Every worker builds Arrow tables, and pyarrow's first array imports pandas: about
        # 0.4 s of CPU per process. Paid once here, the forked workers inherit it.
        preload_arrow()
        # Objects that exist before the fork are frozen out of garbage collection, so the
        # workers' collector does not touch (and copy) every page it inherited.
        gc.freeze()
        ctx = multiprocessing.get_context("fork")
        return ctx.Pool(workers, initializer=_init_worker, initargs=(context,))

    def _add(self, result: ChunkResult) -> None:
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(result)
        self._pending_records += result.records
        known = sum(file.known_reports is not None for file in result.files)
        self._pending_known += known
        self._pending_files += len(result.files) - known
        if (
            self._pending_records >= BATCH_RECORDS
            or self._pending_files >= BATCH_FILES
            or self._pending_known >= BATCH_KNOWN_FILES
            or time.monotonic() - self._pending_since >= BATCH_SECONDS
        ):
            self.flush()

    def finish(self) -> None:
        """Write what is pending, then bring the rollups up to date (once per run, and only
        after a run that stored reports), on the same connection."""
        self.flush(last=True)

    def flush(self, last: bool = False) -> None:
        """Write what is pending in one transaction and release the database; with
        ``last``, refresh the rollups before releasing it."""
        refresh = last and (self._wrote or any(chunk.records for chunk in self._pending))
        if not self._pending and not refresh:
            return
        batch, self._pending = self._pending, []
        self._pending_records = self._pending_files = self._pending_known = 0
        outcomes: list[FileOutcome] = []
        with open_store(self.settings.db, timeout=self.settings.lock_timeout) as con:
            if batch:
                # Ledger rows alone (files known before) are a few kilobytes: logged, not
                # worth a checkpoint at commit.
                tuned = any(chunk.records for chunk in batch)
                with bulk_writes(con, self._workers_busy) if tuned else contextlib.nullcontext():
                    outcomes = write_batch(con, batch, self.via, utc_now(), demo=self.demo)
            self._report(outcomes)
            if last and self._wrote:
                self._wrote = False
                refresh_rollups(con)

    def _report(self, outcomes: list[FileOutcome]) -> None:
        """Pass on the outcomes of a batch that has landed."""
        # Only stored reports make rollup months stale; ledger rows alone change none.
        self._wrote = self._wrote or any(
            part.outcome == "inserted" for outcome in outcomes for part in outcome.parts
        )
        for outcome in outcomes:
            if self.keep_outcomes:
                self.outcomes.append(outcome)
            if self.on_outcome is not None:
                self.on_outcome(outcome)
