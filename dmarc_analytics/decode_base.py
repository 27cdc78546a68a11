"""What the decoders share: sniffing formats by their bytes, and the ``Context`` of a blob.

Sniffing looks at the head of the data only, so it costs the same for 1 KB and 100 MB;
file names and declared MIME types are never consulted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dmarc_analytics.config import Limits, MiB
from dmarc_analytics.model import Payload, RejectedPart
from dmarc_analytics.sources import shown_name

Item = Payload | RejectedPart
Dispatch = Callable[["Context", bytes], Iterator[Item]]

FAILURE_REPORT_REASON = (
    "DMARC failure (forensic) report, not an aggregate report; failure reports are not analysed yet"
)
TLS_REPORT_REASON = "SMTP TLS report (RFC 8460), not a DMARC aggregate report"

HEAD_BYTES = 4096
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
WHITESPACE = b" \t\r\n\f\v"
# zlib: CMF 0x78 (deflate, 32 KiB window), then one of the four usual FLG bytes
ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")

# Compressed data and archives that DMARC reports do not come in: refused by name.
OUTLOOK_MSG = "an Outlook message (.msg) or another Microsoft Office file"
OTHER_FORMATS = (
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x28\xb5\x2f\xfd", "Zstandard data"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OUTLOOK_MSG),  # an OLE compound file
)

# Optional continuation lines (a message saved mid-header), then a header field name.
_MAIL_START = re.compile(rb"(?:[ \t][^\n]*\n)*[!-9;-~]+:")
_MAIL_FIELD = re.compile(
    rb"(?im)^(?:received|from|to|cc|subject|date|mime-version|return-path|content-type"
    rb"|delivered-to|message-id|reply-to|sender|dkim-signature|authentication-results"
    rb"|arc-[a-z-]+|x-[!-9;-~]+):"
)
_TEXT_BYTES = bytes({7, 8, 9, 10, 12, 13, 27} | set(range(0x20, 0x100)) - {0x7F})


def sniff(data: bytes) -> str:
    """Name the format of ``data`` from its magic bytes.

    Returns one of ``gzip``, ``zip``, ``zlib``, ``xml``, ``json``, ``email``, ``mbox``,
    ``other`` (a format of ``OTHER_FORMATS``), ``empty``, ``text`` or ``unknown``.
    """
    if not data:
        return "empty"
    magic = data[:4]
    if magic[:2] == GZIP_MAGIC:
        return "gzip"
    if magic in ZIP_MAGICS:
        return "zip"
    if magic[:2] in ZLIB_HEADERS:
        return "zlib"
    if other_format(data) is not None:
        return "other"
    if magic.startswith(UTF16_BOMS):
        return "xml" if _utf16_start(data) == "<" else "text"
    start = _first_significant_byte(data)
    if start == b"":
        return "empty"
    if start == b"<":
        return "xml"
    if start in (b"{", b"["):
        return "json"
    head = data[:HEAD_BYTES]
    if data.startswith(b"From "):
        return "mbox"
    if _MAIL_START.match(head) and _MAIL_FIELD.search(head):
        return "email"
    return "unknown" if head.translate(None, _TEXT_BYTES) else "text"


def other_format(data: bytes) -> str | None:
    """The name of the ``OTHER_FORMATS`` format ``data`` is in, if any."""
    for magic, name in OTHER_FORMATS:
        if data.startswith(magic) and (magic != b"BZh" or data[3:4].isdigit()):
            return name
    return None


_BLANK = re.compile(rb"(?:[ \t\r\n\f\v]+|\xef\xbb\xbf)*")


def _first_significant_byte(data: bytes) -> bytes:
    """The first byte after whitespace and UTF-8 BOMs, in any order (``b""`` if none):
    re-encoded attachments put a line break before the BOM, or a second BOM after it.
    BOMs are looked for in the first ``HEAD_BYTES``; a longer blank run is skipped as
    whitespace only, in C, so that megabytes of blanks cost little."""
    end = _BLANK.match(data, 0, HEAD_BYTES).end()  # type: ignore[union-attr]
    if end < min(len(data), HEAD_BYTES):
        return data[end : end + 1]
    return data[end:].lstrip(WHITESPACE)[:1]  # copies, but only for long blank runs


def _utf16_start(data: bytes) -> str:
    text = data[:256].decode("utf-16", errors="replace")
    return text.lstrip("\ufeff \t\r\n")[:1]


class InflateBudget:
    """What decompression may still produce for one input (an mbox: for one message),
    shared by everything found in it: each gzip, zlib or zip member is also bounded by
    ``max_decompressed_bytes``, but many small bombs side by side must not add up."""

    __slots__ = ("remaining",)

    def __init__(self, total: int) -> None:
        self.remaining = total


@dataclass(frozen=True, slots=True)
class Context:
    """Where a blob was found: its origin path, the wrappers already removed, the limits.

    ``dispatch`` decodes a blob in a given context; the decoders call it through ``decode``
    to unwrap what they find, so they need not import each other.
    """

    origin: str
    limits: Limits
    dispatch: Dispatch
    containers: tuple[str, ...] = ()
    budget: InflateBudget | None = None  # None: a fresh one (see ``inflate_cap``)
    notes: tuple[str, ...] = ()  # what unwrapping left aside, passed on to the payloads

    def __post_init__(self) -> None:
        if self.budget is None:
            object.__setattr__(
                self, "budget", InflateBudget(self.limits.max_total_decompressed_bytes)
            )

    def child(
        self, container: str, segment: str, fresh_budget: bool = False, note: str | None = None
    ) -> Context:
        """The context of a blob named ``segment`` found inside this ``container``
        (with ``fresh_budget``, a decompression budget of its own: an mbox message; with
        ``note``, what unwrapping it left aside)."""
        return Context(
            f"{self.origin}/{segment}", self.limits, self.dispatch, (*self.containers, container),
            None if fresh_budget else self.budget,
            self.notes if note is None else (*self.notes, note),
        )  # fmt: skip

    def inflate_cap(self) -> tuple[int, bool]:
        """How much the next decompression may produce, and whether that is the per-input
        budget (True) rather than ``max_decompressed_bytes``."""
        remaining = self.budget.remaining  # type: ignore[union-attr]
        per_member = self.limits.max_decompressed_bytes
        return (remaining, True) if remaining < per_member else (per_member, False)

    def spend(self, inflated: int) -> None:
        self.budget.remaining -= inflated  # type: ignore[union-attr]

    def reject_inflation(self, what: str, cap: int, by_budget: bool) -> RejectedPart:
        """``what`` (``gzip data``, ``zip member``) inflated past ``cap``."""
        if by_budget:
            total = size_text(self.limits.max_total_decompressed_bytes)
            return self.reject(
                f"{what} would bring what this input inflates to past {total} in all; "
                "refused as a possible decompression bomb (limit max_total_decompressed_bytes)",
                "limit",
            )
        return self.reject(
            f"{what} inflates to more than {size_text(cap)}; refused as a possible "
            "decompression bomb (limit max_decompressed_bytes)",
            "limit",
        )

    def decode(self, data: bytes) -> Iterator[Item]:
        """Decode ``data``, found at this place, into payloads and rejected parts."""
        return self.dispatch(self, data)

    def payload(self, data: bytes) -> Payload:
        return Payload(self.origin, data, self.containers, self.notes)

    def reject(self, reason: str, kind: str) -> RejectedPart:
        return RejectedPart(self.origin, reason, kind)

    def too_deep(self) -> bool:
        """True when opening one more container here would pass ``max_depth``."""
        return len(self.containers) >= self.limits.max_depth

    def reject_depth(self) -> RejectedPart:
        return self.reject(
            f"containers nested more than {self.limits.max_depth} deep "
            f"({' in '.join(reversed(self.containers))}); limit max_depth",
            "limit",
        )


def size_text(count: int) -> str:
    """A byte count for people: ``512 bytes``, ``8 MiB``, ``1.5 MiB``."""
    if count < MiB:
        return f"{count} bytes" if count < 1024 else f"{count / 1024:.4g} KiB"
    return f"{count / MiB:.4g} MiB"


_PART_SEGMENT = re.compile(r"part \d+(?: \((.*)\))?")


def inner_name(origin: str, suffix: re.Pattern[str]) -> str:
    """A name for what a container holds: its own name without ``suffix`` (``r.xml.gz``
    gives ``r.xml``); for a MIME part, its file name's (``part 2 (r.xml.gz)`` gives ``r.xml``).
    """
    segment = origin.rsplit("/", 1)[-1]
    match = _PART_SEGMENT.fullmatch(segment)
    if match:
        segment = match[1] or "content"
    return suffix.sub("", segment) or segment


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


def display_name(raw: str) -> str:
    """A file name from a header (gzip FNAME, MIME filename) made safe to show in an origin."""
    base = shown_name(raw).replace("\\", "/").rsplit("/", 1)[-1]
    return _UNPRINTABLE.sub("", base).strip()[:200]
