"""Unwrap e-mail messages (RFC 5322, MIME) and mbox files into their report attachments.

Every MIME part is visited, including ``message/rfc822`` parts and messages whose whole
body is the attachment. Parts are picked by their decoded bytes; declared types and file
names only name them. Failure (forensic) and SMTP TLS report mails are recognised and
refused as a whole, without opening what they carry.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from email.errors import HeaderParseError, InvalidBase64LengthDefect
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value
from typing import BinaryIO

from dmarc_analytics.decode_base import (
    FAILURE_REPORT_REASON,
    TLS_REPORT_REASON,
    Context,
    Item,
    display_name,
    size_text,
    sniff,
)

_REPORT_KINDS = frozenset({"gzip", "zip", "zlib", "xml", "json"})
_SIGNATURE_TYPES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)
_TLS_TYPES = frozenset({"application/tlsrpt+gzip", "application/tlsrpt+json"})
_OTHER_REPORT_TYPES = frozenset({"delivery-status", "disposition-notification", "tlsrpt"})
# "dmarc", then later "failure" or "forensic": two linear searches (one pattern with ".*"
# between the words backtracked over the whole subject from every "dmarc" in it).
_SUBJECT_DMARC = re.compile(r"\bdmarc\b", re.IGNORECASE)
_SUBJECT_FAILURE = re.compile(r"\b(?:failure|forensic)\b", re.IGNORECASE)
_QUOTED_FROM = re.compile(rb">+From ")
_LINE_CHUNK = 64 * 1024
# A header whose parameters are past these is not read for them (boundary, file name,
# charset): the standard library splits parameters in time quadratic in the semicolons
# of one value (80,000 took 23 s), and real headers have a handful of them.
MAX_PARAM_SEMICOLONS = 100
MAX_PARAM_HEADER_CHARS = 8 * 1024
_REJECTED_MAIL_REASONS = {"failure-report": FAILURE_REPORT_REASON, "tls-report": TLS_REPORT_REASON}


def decode_mail(ctx: Context, data: bytes) -> Iterator[Item]:
    """Decode the report attachments of the e-mail message ``data``."""
    if ctx.too_deep():
        yield ctx.reject_depth()
        return
    try:
        # compat32 is the lenient policy: it records defects instead of raising on them
        message = BytesParser(_GuardedMessage, policy=compat32).parsebytes(data)
    except RecursionError:
        yield ctx.reject("e-mail with MIME parts nested too deeply to read", "limit")
        return
    yield from _message_items(ctx, message)


class _GuardedMessage(Message):
    """A message that ignores the parameters of an absurd header (see MAX_PARAM_SEMICOLONS)
    instead of spending minutes splitting them; the parser uses it for every part."""

    def get_params(self, failobj=None, header="content-type", unquote=True):
        if _absurd(self.get(header)):
            return failobj
        return super().get_params(failobj, header, unquote)

    def get_param(self, param, failobj=None, header="content-type", unquote=True):
        if _absurd(self.get(header)):
            return failobj
        return super().get_param(param, failobj, header, unquote)


def _absurd(value: object) -> bool:
    if value is None:
        return False
    text = str(value)
    return len(text) > MAX_PARAM_HEADER_CHARS or text.count(";") > MAX_PARAM_SEMICOLONS


def decode_mbox(ctx: Context, stream: BinaryIO) -> Iterator[Item]:
    """Decode each message of the mbox ``stream``, holding one message at a time in memory."""
    limit = ctx.limits.max_message_bytes
    for number, message in _split_mbox(stream, limit):
        # The limits apply per message of an mbox file; inside another container, the
        # container's decompression budget still holds for all its messages together.
        message_ctx = ctx.child("mbox", f"message {number}", fresh_budget=not ctx.containers)
        if message is None:
            yield message_ctx.reject(
                f"mbox message larger than the limit of {size_text(limit)} (max_message_bytes)",
                "limit",
            )
        else:
            yield from decode_mail(message_ctx, message)


def decode_mbox_bytes(ctx: Context, data: bytes) -> Iterator[Item]:
    """``decode_mbox`` for an mbox already in memory (inside an archive, an upload)."""
    return decode_mbox(ctx, io.BytesIO(data))


def _split_mbox(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(number, message)`` per message, with ``None`` for one over ``limit`` bytes.

    A message starts at a line beginning with ``From ``; ``>From `` quoting is undone
    (mboxrd). Lines are read in bounded chunks, so one endless line cannot fill memory.
    """
    number, size = 0, 0
    lines: list[bytes] = []
    at_line_start = True
    while chunk := stream.readline(_LINE_CHUNK):
        if at_line_start and chunk.startswith(b"From "):
            if number:
                yield number, _message_bytes(lines) if size <= limit else None
            number, size, lines = number + 1, 0, []
        else:
            if at_line_start and _QUOTED_FROM.match(chunk):
                chunk = chunk[1:]
            size += len(chunk)
            if size <= limit:
                lines.append(chunk)
            else:
                lines.clear()
        at_line_start = chunk.endswith(b"\n")
    if number:
        yield number, _message_bytes(lines) if size <= limit else None


def _message_bytes(lines: list[bytes]) -> bytes:
    """The message without the blank line that separates it from the next ``From `` line."""
    message = b"".join(lines)
    for blank in (b"\r\n\r\n", b"\n\n"):
        if message.endswith(blank):
            return message[: -(len(blank) // 2)]
    return message


def _message_items(ctx: Context, message: Message) -> Iterator[Item]:
    parts = _mime_parts(message, ctx.limits.max_mime_parts)
    if parts is None:
        yield ctx.reject(
            f"e-mail with more than {ctx.limits.max_mime_parts} MIME parts (max_mime_parts)",
            "limit",
        )
        return
    kind = _report_kind(message, parts)
    if kind:
        yield ctx.reject(_REJECTED_MAIL_REASONS[kind], kind)
        return
    found = False
    leaves = (part for part in parts if not _is_multipart(part))
    for number, part in enumerate(leaves, 1):
        for item in _part_items(ctx, part, number):
            found = True
            yield item
    if not found and _looks_like_failure_report(message):
        yield ctx.reject(FAILURE_REPORT_REASON, "failure-report")
    elif not found:
        yield ctx.reject("e-mail without a report attachment", "not-a-report")


def _part_items(ctx: Context, part: Message, number: int) -> Iterator[Item]:
    filename = _filename(part)
    part_ctx = ctx.child("email", f"part {number} ({filename})" if filename else f"part {number}")
    payload = part.get_payload()
    if part.get_content_type() == "message/rfc822" and isinstance(payload, list):
        if payload and isinstance(payload[0], Message):
            if part_ctx.too_deep():
                yield part_ctx.reject_depth()
            else:
                yield from _message_items(part_ctx, payload[0])
        return
    data = part.get_payload(decode=True)
    if isinstance(data, bytes) and _is_candidate(part, sniff(data), filename):
        if any(isinstance(d, InvalidBase64LengthDefect) for d in part.defects):
            # the e-mail parser then hands over the base64 text itself, undecoded
            yield part_ctx.reject(
                "damaged attachment: its base64 text breaks off in the middle of a group "
                "(the e-mail was cut short?)",
                "corrupt",
            )
            return
        yield from part_ctx.decode(data)


def _mime_parts(message: Message, limit: int) -> list[Message] | None:
    """All parts of ``message`` in document order, itself first; ``None`` past ``limit``.

    ``message/rfc822`` parts are listed but not entered: each is a message of its own,
    with its own part limit. The walk is iterative, so deep nesting cannot overflow.
    """
    parts: list[Message] = []
    stack = [message]
    while stack:
        part = stack.pop()
        parts.append(part)
        if len(parts) > limit:
            return None
        children = part.get_payload()
        if _is_multipart(part) and isinstance(children, list):
            stack.extend(child for child in reversed(children) if isinstance(child, Message))
    return parts


def _is_multipart(part: Message) -> bool:
    return part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), list)


def _report_kind(message: Message, parts: list[Message]) -> str | None:
    """``failure-report`` or ``tls-report`` if the message is one of those, else ``None``."""
    if message.get("TLS-Report-Domain") is not None:
        return "tls-report"
    for part in parts:
        content_type = part.get_content_type()
        report_type = _report_type(part)
        if content_type == "message/feedback-report" or report_type == "feedback-report":
            return "failure-report"
        if content_type in _TLS_TYPES or report_type == "tlsrpt":
            return "tls-report"
    return None


def _looks_like_failure_report(message: Message) -> bool:
    """A failure report without an ARF part, like Exim's plain-text ones."""
    if message.get_content_type() == "multipart/report":
        return _report_type(message) not in _OTHER_REPORT_TYPES
    subject = str(message.get("Subject", ""))
    first = _SUBJECT_DMARC.search(subject)
    return first is not None and _SUBJECT_FAILURE.search(subject, first.end()) is not None


def _report_type(part: Message) -> str | None:
    if part.get_content_type() != "multipart/report":
        return None
    value = part.get_param("report-type")
    if value is None:
        return None
    return str(collapse_rfc2231_value(value)).strip().lower()


def _is_candidate(part: Message, kind: str, filename: str | None) -> bool:
    """Worth decoding: it looks like a report, or it is an attachment of some kind.

    Body text that is nothing in particular is not a candidate, nor is an HTML body (its
    ``<`` would pass for XML), nor a signature.
    """
    content_type = part.get_content_type()
    if content_type in _SIGNATURE_TYPES:
        return False
    is_attachment = filename is not None or part.get_content_disposition() == "attachment"
    if kind in _REPORT_KINDS:
        return is_attachment or content_type != "text/html"
    return is_attachment


def _filename(part: Message) -> str | None:
    """The part's file name, decoded and made safe to show; ``None`` if it has none."""
    try:
        raw = part.get_filename()
        if raw and "=?" in raw:
            raw = str(make_header(decode_header(raw)))
    except (HeaderParseError, ValueError, LookupError):
        return None
    if not raw:
        return None
    return display_name(raw) or None
