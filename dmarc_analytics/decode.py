"""Get DMARC reports out of their wrappers: gzip, zlib, zip, e-mail, mbox, or none at all.

Formats are told apart by their bytes (``sniff``), never by file names or declared MIME
types, which only serve to name what is found. Every problem with the content becomes a
``RejectedPart`` whose reason says what the thing is and why it is refused; only
programming errors raise. ``Limits`` bound sizes, counts and nesting, so hostile input
(decompression bombs, endless nesting) costs little.

The handlers below form a dispatch table keyed by the sniffed format; containers hand what
they find back to the table, one level deeper (``Context.child``).
"""

from __future__ import annotations

import bisect
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import ModuleType
from typing import BinaryIO

from dmarc_analytics import decode_zip
from dmarc_analytics.config import Limits
from dmarc_analytics.decode_base import (
    GZIP_MAGIC,
    OUTLOOK_MSG,
    TLS_REPORT_REASON,
    Context,
    Item,
    display_name,
    inner_name,
    other_format,
    size_text,
    sniff,
)
from dmarc_analytics.errors import DecodeError, InputError, LimitExceeded
from dmarc_analytics.model import Payload, RejectedPart

__all__ = ["decode_bytes", "decode_file", "sniff"]

_CONTAINERS = frozenset({"gzip", "zlib", "zip", "email", "mbox"})
_GZIP_WBITS = 31  # zlib's "gzip header and trailer" mode
_ZLIB_WBITS = 15
_FNAME_FLAG = 0x08
_FEXTRA_FLAG = 0x04
_SNIPPET_CHARS = 40
_COMPRESSED_SUFFIX = re.compile(r"\.(?:gz|gzip|z|zz|zlib)$", re.IGNORECASE)
_ZLIB_MESSAGE_PREFIX = re.compile(r"^Error -?\d+ while \w+ data: ")


def decode_bytes(
    name: str, data: bytes, limits: Limits, split: bool = True
) -> Iterator[Payload | RejectedPart]:
    """Unwrap ``data``, an input called ``name``, into report payloads and rejected parts.

    Without ``split``, XML payloads come whole, marked ``split_pending``, for a caller
    that can tell a single document more cheaply (see ``split_payload``).

    Never raises for bad content: each unusable part becomes a ``RejectedPart``.
    """
    return Context(name, limits, _dispatch if split else _dispatch_whole).decode(data)


def decode_file(
    path: str | os.PathLike[str], limits: Limits, name: str | None = None, split: bool = True
) -> Iterator[Payload | RejectedPart]:
    """Like ``decode_bytes`` for the file at ``path`` (``name`` defaults to its file name).

    An mbox file is streamed message by message, whatever its size. Any other file larger
    than ``limits.max_input_bytes`` is refused unread. Raises ``InputError`` when the file
    cannot be read.
    """
    dispatch = _dispatch if split else _dispatch_whole
    ctx = Context(name or os.path.basename(path), limits, dispatch)
    try:
        with open(path, "rb") as stream:
            if stream.read(5) == b"From ":
                stream.seek(0)
                yield from _mail_side().decode_mbox(ctx, stream)
                return
            stream.seek(0)
            data = _read_at_most(stream, limits.max_input_bytes)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if data is None:
        limit = size_text(limits.max_input_bytes)
        yield ctx.reject(f"file larger than the limit of {limit} (max_input_bytes)", "limit")
    else:
        yield from ctx.decode(data)


def _read_at_most(stream: BinaryIO, limit: int) -> bytes | None:
    """The whole stream, or ``None`` if it holds more than ``limit`` bytes.

    The file size is checked before reading; the bounded read covers files that grow.
    """
    if os.fstat(stream.fileno()).st_size > limit:
        return None
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


def _dispatch(ctx: Context, data: bytes) -> Iterator[Item]:
    return _dispatch_to(_HANDLERS, ctx, data)


def _dispatch_whole(ctx: Context, data: bytes) -> Iterator[Item]:
    """``_dispatch``, XML payloads left whole (see ``decode_bytes``)."""
    return _dispatch_to(_HANDLERS_WHOLE, ctx, data)


def _dispatch_to(
    handlers: dict[str, Callable[[Context, bytes], Iterator[Item]]], ctx: Context, data: bytes
) -> Iterator[Item]:
    kind = sniff(data)
    if kind in _CONTAINERS and ctx.too_deep():
        yield ctx.reject_depth()
        return
    yield from handlers[kind](ctx, data)


def _whole_xml(ctx: Context, data: bytes) -> Iterator[Item]:
    # BOM, whitespace and encodings are the parser's business
    yield Payload(ctx.origin, data, ctx.containers, ctx.notes, split_pending=True)


def _pass_xml(ctx: Context, data: bytes) -> Iterator[Item]:
    for payload in _whole_xml(ctx, data):
        yield from split_payload(payload)


def split_payload(payload: Payload) -> list[Payload]:
    """The documents of an XML payload whose split is pending (see ``split_reports``): the
    payload itself when it holds one, else one payload per report, named ``report N``."""
    if not payload.split_pending:
        return [payload]
    documents = split_reports(payload.data)
    if len(documents) == 1:
        return [replace(payload, split_pending=False)]
    containers = (*payload.containers, "xml")
    return [
        Payload(f"{payload.origin}/report {number}", document, containers, payload.notes)
        for number, document in enumerate(documents, start=1)
    ]


_DECLARATION = re.compile(rb"<\?xml\s[^>]{0,512}\?>")  # bounded: no rescans of long data
_DECLARATION_START = re.compile(rb"<\?xml\s")
_NAME = rb"(?:[A-Za-z_][\w.-]{0,63}:)?feedback"
_TOKEN = re.compile(
    rb"<!--|<!\[CDATA\[|<\?(?=[A-Za-z_:])|<" + _NAME + rb"[\s>/]|(</" + _NAME + rb"\s{0,64}>)"
)
# Comments, CDATA sections and processing instructions are skipped whole, so that a
# <feedback> written inside one is not taken for a tag. An opener whose end does not come
# before the next declaration is stray text of a broken report, not a construct: read as
# one, it would swallow the documents after it.
_CONSTRUCT_ENDS = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}
_MAX_SPLIT = 10_000  # more reports than this in one payload are not looked for


def split_reports(data: bytes) -> list[bytes]:
    """The reports of one XML payload: usually the payload itself, but several when
    documents were concatenated (``cat a.xml.gz b.xml.gz``: gzip members, each a whole
    report) or wrapped together (``<reports><feedback>…</feedback><feedback>…``). A
    parser reads one document and one <feedback> of it, so the rest would be lost.

    Concatenated documents are cut where each declaration starts; otherwise each
    outermost <feedback> element is cut out, with the first document's declaration (its
    encoding). One pass over the tags: the cost stays linear whatever the data holds.
    """
    if data.count(b"feedback") <= 2:
        return [data]
    scan = _TagScan(data)
    if len(scan.declarations) > 2 * _MAX_SPLIT:  # far more than reports: leave it to the parser
        return [data]
    elements: list[tuple[int, int]] = []
    declarations: list[int] = []
    depth = start = tags = 0
    pos = 0
    while (tag := _TOKEN.search(data, pos)) is not None:
        pos = tag.end()
        text = tag.group()
        if text in _CONSTRUCT_ENDS:  # a comment, CDATA, declaration or instruction
            declaration = text == b"<?" and _DECLARATION.match(data, tag.start())
            if declaration:
                if depth == 0:
                    declarations.append(tag.start())
                pos = declaration.end()
            else:
                pos = scan.construct_end(text, tag.start(), pos)
            continue
        tags += 1
        if tags > 2 * _MAX_SPLIT:  # far more tags than reports: leave it to the parser
            return [data]
        if not tag.group(1):  # a start tag
            if depth == 0:
                start = tag.start()
            depth += 1
        elif depth > 0:  # an end tag, up to its ">"
            depth -= 1
            if depth == 0:
                elements.append((start, tag.end()))
    if len(elements) < 2:
        return [data]
    if len(declarations) > 1:
        cuts = [0, *declarations[1:], len(data)]
        return [data[start:end] for start, end in zip(cuts, cuts[1:], strict=False)]
    head = _DECLARATION.match(data.lstrip(b"\xef\xbb\xbf \t\r\n"))
    prefix = head.group() if head else b""
    return [prefix + data[start:end] for start, end in elements]


class _TagScan:
    """Where constructs end, found in linear time over the whole scan: the next end of each
    kind and the declarations are looked up once and reused while still ahead."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.declarations = [m.start() for m in _DECLARATION_START.finditer(data)]
        self.next_end: dict[bytes, int] = {}  # opener -> next end found (-1: none left)

    def construct_end(self, opener: bytes, start: int, after: int) -> int:
        """Where scanning goes on after the construct opened at ``start``: past its end, or
        just past the opener when it is stray (no end before the next declaration)."""
        ending = _CONSTRUCT_ENDS[opener]
        end = self.next_end.get(opener)
        if end is None or (end != -1 and end < after):
            end = self.data.find(ending, after)
            self.next_end[opener] = end
        following = bisect.bisect_right(self.declarations, start)
        limit = (
            self.declarations[following] if following < len(self.declarations) else None
        )
        if end == -1 or (limit is not None and limit < end):
            return after
        return end + len(ending)


def _gunzip(ctx: Context, data: bytes) -> Iterator[Item]:
    name = _gzip_file_name(data) or inner_name(ctx.origin, _COMPRESSED_SUFFIX)
    yield from _inflated_items(ctx, "gzip", name, lambda cap: _inflate_gzip(data, cap), data)


def _unzlib(ctx: Context, data: bytes) -> Iterator[Item]:
    def inflate(cap: int) -> tuple[bytes, int]:
        return _inflate(data, _ZLIB_WBITS, cap, "zlib")

    name = inner_name(ctx.origin, _COMPRESSED_SUFFIX)
    yield from _inflated_items(ctx, "zlib", name, inflate, data)


def _inflated_items(
    ctx: Context, kind: str, name: str, inflate: Callable[[int], tuple[bytes, int]], data: bytes
) -> Iterator[Item]:
    cap, by_budget = ctx.inflate_cap()
    try:
        inflated, end = inflate(cap)
    except LimitExceeded:
        ctx.spend(cap)
        yield ctx.reject_inflation(f"{kind} data", cap, by_budget)
        return
    except DecodeError as exc:
        yield ctx.reject(str(exc), "corrupt")
        return
    ctx.spend(len(inflated))
    yield from ctx.child(kind, name, note=_trailing_note(data, end, kind)).decode(inflated)


def _trailing_note(data: bytes, end: int, kind: str) -> str | None:
    """What follows a complete compressed stream is ignored: whitespace silently (Mimecast
    appends CRLF), anything else with a note, since it is data left aside."""
    if end >= len(data) or not data[end:].strip():
        return None
    return f"Ignored {len(data) - end:,} bytes after the end of the {kind} data"


def _inflate_gzip(data: bytes, cap: int) -> tuple[bytes, int]:
    """Inflate every member of a gzip stream into one output of at most ``cap`` bytes;
    return it and where the last member ends.

    Trailing bytes after the last member are left to the caller: the members before them
    are complete and checksummed.
    """
    outputs: list[bytes] = []
    end, budget = 0, cap
    while True:
        output, end = _inflate(data, _GZIP_WBITS, budget, "gzip", end)
        outputs.append(output)
        budget -= len(output)
        if not data.startswith(GZIP_MAGIC, end):
            return (outputs[0] if len(outputs) == 1 else b"".join(outputs)), end


_FIRST_WINDOW = 64  # input bytes fed first; each further feed is twice the last


def _inflate(data: bytes, wbits: int, cap: int, label: str, start: int = 0) -> tuple[bytes, int]:
    """Inflate the stream that starts at ``start`` to at most ``cap`` bytes; return the
    output and where the stream ends in ``data``.

    The output cap is passed to zlib, so a bomb stops after ``cap`` bytes: nothing beyond
    that is ever allocated. The input is fed in windows that double, because zlib copies
    whatever it was given past the end of the stream: given all the rest each time, a file
    of many tiny gzip members took quadratic time. Raises ``LimitExceeded`` past the cap,
    ``DecodeError`` when the stream is corrupt or truncated.
    """
    view = memoryview(data)
    inflater = zlib.decompressobj(wbits)
    outputs: list[bytes] = []
    size, position, window = 0, start, _FIRST_WINDOW
    try:
        while not inflater.eof and position < len(data):
            pending: bytes | memoryview = view[position : position + window]
            position += len(pending)
            window *= 2
            while pending:
                piece = inflater.decompress(pending, cap + 1 - size)
                outputs.append(piece)
                size += len(piece)
                if size > cap:
                    raise LimitExceeded(label)
                if inflater.eof:
                    break
                pending = inflater.unconsumed_tail
    except zlib.error as exc:
        reason = _ZLIB_MESSAGE_PREFIX.sub("", str(exc))
        raise DecodeError(f"corrupt {label} data ({reason})") from None
    if not inflater.eof:
        raise DecodeError(
            f"truncated {label} data: the input ends before the compressed stream does"
        )
    output = outputs[0] if len(outputs) == 1 else b"".join(outputs)
    return output, position - len(inflater.unused_data)


def _gzip_file_name(data: bytes) -> str | None:
    """The FNAME field of the gzip header (RFC 1952 §2.3.1), if there is one."""
    flags = data[3] if len(data) > 3 else 0
    if not flags & _FNAME_FLAG:
        return None
    start = 10
    if flags & _FEXTRA_FLAG:
        start += 2 + int.from_bytes(data[10:12], "little")
    end = data.find(b"\0", start, start + 1024)
    if end < 0:
        return None
    return display_name(data[start:end].decode("latin-1")) or None


def _classify_json(ctx: Context, data: bytes) -> Iterator[Item]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        yield ctx.reject("invalid JSON, not a DMARC aggregate report", "not-a-report")
        return
    if isinstance(document, dict) and {"policies", "organization-name"} <= document.keys():
        yield ctx.reject(TLS_REPORT_REASON, "tls-report")
    else:
        yield ctx.reject(
            "JSON document that is neither a DMARC aggregate report nor an SMTP TLS report",
            "not-a-report",
        )


def _reject_empty(ctx: Context, data: bytes) -> Iterator[Item]:
    yield ctx.reject("empty file" if not data else "empty file (only whitespace)", "not-a-report")


def _reject_text(ctx: Context, data: bytes) -> Iterator[Item]:
    text = data[: _SNIPPET_CHARS * 4].decode("utf-8-sig", errors="replace").strip()
    more = "…" if len(text) > _SNIPPET_CHARS else ""
    yield ctx.reject(
        f"text, not a DMARC report: starts with {text[:_SNIPPET_CHARS]!r}{more}", "not-a-report"
    )


def _reject_other(ctx: Context, data: bytes) -> Iterator[Item]:
    name = other_format(data)
    advice = (  # Outlook saves mails as .msg: what to give instead
        "save the report attachment itself (or the mail as .eml) and give that"
        if name == OUTLOOK_MSG
        else "unpack it and give the files inside"
    )
    yield ctx.reject(f"{name}, a format DMARC reports are not sent in; {advice}", "not-a-report")


def _mail_side() -> ModuleType:
    """The mail decoders, with the email package (7 ms to import), loaded for the first
    mail or mbox met: most runs bring none."""
    from dmarc_analytics import decode_mail

    return decode_mail


def _decode_mail(ctx: Context, data: bytes) -> Iterator[Item]:
    return _mail_side().decode_mail(ctx, data)


def _decode_mbox(ctx: Context, data: bytes) -> Iterator[Item]:
    return _mail_side().decode_mbox_bytes(ctx, data)


def _reject_unknown(ctx: Context, data: bytes) -> Iterator[Item]:
    yield ctx.reject(
        "unrecognised data, not a DMARC report: not XML, JSON, gzip, zip or e-mail "
        f"(first bytes {data[:8].hex(' ')})",
        "not-a-report",
    )


_HANDLERS: dict[str, Callable[[Context, bytes], Iterator[Item]]] = {
    "xml": _pass_xml,
    "gzip": _gunzip,
    "zlib": _unzlib,
    "zip": decode_zip.unzip,
    "email": _decode_mail,
    "mbox": _decode_mbox,
    "json": _classify_json,
    "other": _reject_other,
    "empty": _reject_empty,
    "text": _reject_text,
    "unknown": _reject_unknown,
}
_HANDLERS_WHOLE = {**_HANDLERS, "xml": _whole_xml}
