"""What a parse worker does with a run of inputs: read and hash each, keep its original,
decode it and parse its reports into one set of Arrow tables for the writer.

Runs in worker processes (one per core) forked by ``pipeline``, or in-process for a few
inputs. One bad input never stops the run: it becomes a rejected outcome with its reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from dmarc_analytics import archive
from dmarc_analytics.config import Limits
from dmarc_analytics.decode import decode_bytes, decode_file, split_payload
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.fastpath import add_clean_report
from dmarc_analytics.flatten import TableBuilder
from dmarc_analytics.model import Payload, RejectedPart
from dmarc_analytics.outcomes import ChunkResult, FileResult, PartResult, ReportMeta
from dmarc_analytics.parse import parse_report
from dmarc_analytics.recognise import WorkerContext, identify
from dmarc_analytics.sources import Blob, InputFile

_CONTEXT: WorkerContext | None = None
_SPOOL: str | None = None  # the folder results are left in (see work)


def parse_payloads(
    items: Iterable[Payload | RejectedPart],
    limits: Limits,
    builder: TableBuilder,
    input_sha256: str,
    input_data: bytes | None = None,
) -> list[PartResult]:
    """Parse every payload a decoder found into ``builder``; errors become rejected parts.

    ``input_data``, the input's bytes when in memory, spares hashing them again for a
    payload that is the input itself (a plain XML file).
    """
    digest = _Digest(input_data, input_sha256)
    parts = []
    for item in items:
        if isinstance(item, RejectedPart):
            parts.append(PartResult(item.origin, kind=item.kind, reason=item.reason))
        elif not item.split_pending:
            parts.append(_parse_part(item, limits, builder, digest))
        else:
            # Taken whole by the fast path when it is a single <feedback> document (the
            # split would have found nothing to do), else split first, as decode does; a
            # single document the fast path declined goes straight to the reference path.
            meta = _clean_single_document(item, limits, builder, digest)
            if meta is not None:
                parts.append(PartResult(item.origin, report=meta))
                continue
            pieces = split_payload(item)
            fast = len(pieces) > 1
            parts.extend(_parse_part(p, limits, builder, digest, fast) for p in pieces)
    return parts


class _Digest:
    """The sha256 of a payload's content, that of the input when it is the input."""

    __slots__ = ("input_data", "input_sha256")

    def __init__(self, input_data: bytes | None, input_sha256: str) -> None:
        self.input_data, self.input_sha256 = input_data, input_sha256

    def of(self, data: bytes) -> str:
        if data is self.input_data:
            return self.input_sha256
        return hashlib.sha256(data).hexdigest()


def _parse_part(
    item: Payload, limits: Limits, builder: TableBuilder, digest: _Digest, fast: bool = True
) -> PartResult:
    mark = builder.mark()
    try:
        meta = _parse_payload(item, limits, builder, digest, fast)
    except DmarcAnalyticsError as exc:
        builder.rollback(mark)
        return PartResult(item.origin, kind=_kind_of(exc), reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a fault no rule foresaw costs this part only
        builder.rollback(mark)
        return PartResult(item.origin, kind="unexpected", reason=_unexpected(exc))
    return PartResult(item.origin, report=meta)


def _parse_payload(
    item: Payload, limits: Limits, builder: TableBuilder, digest: _Digest, fast: bool = True
) -> ReportMeta:
    content = digest.of(item.data)
    meta = None
    if fast:
        meta = add_clean_report(
            builder, item.data, content, digest.input_sha256, item.origin, limits.max_records,
            limits.max_xml_tags, item.notes,
        )  # fmt: skip
    if meta is None:  # not clean: the reference path repairs, notes issues or refuses
        report = parse_report(
            item.data, item.origin, limits.max_records, limits.max_xml_tags, item.notes
        )
        meta = builder.add(report, content, digest.input_sha256, item.origin)
    return meta


def _clean_single_document(
    item: Payload, limits: Limits, builder: TableBuilder, digest: _Digest
) -> ReportMeta | None:
    """The report of a payload not split yet, if the fast path takes it as one whole
    document; None (nothing added) for anything else, to be split and parsed."""
    mark = builder.mark()
    try:
        return add_clean_report(
            builder, item.data, digest.of(item.data), digest.input_sha256, item.origin,
            limits.max_records, limits.max_xml_tags, item.notes, whole_document=True,
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - the split and the reference path will tell
        builder.rollback(mark)
        return None


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
    result, data = identify(item, context)
    if result.error is not None or result.known_reports is not None:
        return result
    path, name = item.path, os.path.basename(item.display.rstrip("/")) or item.display
    if context.archive_dir is not None:
        if data is not None:
            _keep(result, data, context.archive_dir, packer)
        else:
            archive.store_file(context.archive_dir, result.sha256, path)
    items = (
        decode_bytes(name, data, context.limits, split=False)
        if data is not None
        else decode_file(path, context.limits, name=name, split=False)
    )
    _decode_and_parse(result, items, context, builder, data)
    return result


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
    _decode_and_parse(
        result, decode_bytes(name, data, context.limits, split=False), context, builder, data
    )
    return result


def _decode_and_parse(
    result: FileResult,
    items: Iterable[Payload | RejectedPart],
    context: WorkerContext,
    builder: TableBuilder,
    data: bytes | None,
) -> None:
    """Parse what the decoder finds into ``builder``. A fault that no rule foresaw (a bug
    that some input triggers) costs the least it can: in parsing, that report alone; in
    decoding, the input, whose rows are taken back out and which is rejected with the error
    (its original still archived). The rest of the batch never notices."""
    mark = builder.mark()
    try:
        result.parts = parse_payloads(items, context.limits, builder, result.sha256, data)
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


def init_worker(context: WorkerContext, spool: str | None = None) -> None:
    global _CONTEXT, _SPOOL
    _CONTEXT, _SPOOL = context, spool


def work(items: list[InputFile | Blob]) -> ChunkResult | str:
    """Process a chunk in a worker; return its result, or the path of the file in the spool
    folder that holds it (``collect`` reads it).

    A result is megabytes of Arrow tables. Sent back through the pool's pipe, it kept the
    worker waiting until the main process, sharing the cores with the workers, was given
    one to read it: 15 to 30 ms per chunk, a tenth of the parse time. A file is written
    without waiting for anyone.
    """
    assert _CONTEXT is not None
    result = process_chunk(items, _CONTEXT)
    if _SPOOL is None:
        return result
    path = None
    try:
        fd, path = tempfile.mkstemp(dir=_SPOOL, suffix=".chunk")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:  # no room for it: through the pipe, as slow as that is
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return result
    return path


def collect(result: ChunkResult | str) -> ChunkResult:
    """A result as ``work`` returned it, read from its spool file (then gone) if need be."""
    if isinstance(result, ChunkResult):
        return result
    with open(result, "rb") as fh:
        os.unlink(result)
        return pickle.load(fh)  # noqa: S301 - written by our own worker, in our own folder
