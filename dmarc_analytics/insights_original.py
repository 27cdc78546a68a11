"""The original XML of a stored report, as received: found again in the archive.

The archive keeps each input (a mail, a zip, a gzip, a bare XML) under its SHA-256.
A report remembers that digest and its ``origin``, the path of its payload inside the
input (``reports.zip/google.xml``). Decoding the archived input again and picking the
payload with that origin gives back the exact bytes the report was parsed from.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from dmarc_analytics.archive import read_original
from dmarc_analytics.config import Limits
from dmarc_analytics.decode import decode_bytes
from dmarc_analytics.model import Payload

_DECLARED_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def original_payload(
    con: duckdb.DuckDBPyConnection,
    archive_dir: Path,
    input_sha256: str,
    origin: str,
    limits: Limits | None = None,
) -> bytes | None:
    """The payload bytes of the report found at ``origin`` in archived input ``input_sha256``.

    None when the input is not archived (archiving was off) or no payload matches.
    """
    try:
        data = read_original(con, archive_dir, input_sha256)
    except ValueError:  # not a digest: nothing was archived under it
        return None
    if data is None:
        return None
    name = origin.split("/", 1)[0]
    payloads = [
        item for item in decode_bytes(name, data, limits or Limits()) if isinstance(item, Payload)
    ]
    for payload in payloads:
        if payload.origin == origin:
            return payload.data
    inner = _inner(origin)
    matching = [p for p in payloads if _inner(p.origin) == inner]
    if len(matching) == 1:
        return matching[0].data
    if len(payloads) == 1 and "/" not in origin:
        return payloads[0].data
    return None


def _inner(origin: str) -> str:
    return origin.split("/", 1)[1] if "/" in origin else ""


def xml_text(data: bytes) -> str:
    """Payload bytes as text for display, in the encoding the XML declares (UTF-8 when it
    declares none or an unknown one; UTF-16 by its byte-order mark); bad bytes replaced."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    declared = _DECLARED_ENCODING.match(data[:200])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8-sig"
    try:
        return data.decode(encoding, errors="replace").lstrip("\ufeff")
    except LookupError:
        return data.decode("utf-8-sig", errors="replace")
