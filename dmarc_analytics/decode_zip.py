"""Unwrap zip archives in memory, member by member, refusing what could do harm.

Member names never touch the file system. Checked in this order: the member count (from
the end-of-central-directory record, before anything else is read), overlapping entries
(the "quoted overlap" zip bomb, which the standard library only catches from Python
3.11.8), then per member: an unsafe name, encryption, a symbolic link, the declared size,
and the actual size through a bounded read, because the declaration can lie.
"""

from __future__ import annotations

import io
import lzma
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator

from dmarc_analytics.decode_base import Context, Item, inner_name, size_text
from dmarc_analytics.errors import LimitExceeded

_EOCD_SIGNATURE = b"PK\x05\x06"
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF
_ZIP64_MARKER = 0xFFFF
_EOCD_DIRECTORY = struct.Struct("<II")  # size and offset of the central directory
# zip64: the zip64 end record, then its locator, just before the end record
_ZIP64_LOCATOR = struct.Struct("<4sIQI")  # signature, disk, record offset, disks
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_RECORD = struct.Struct("<4s36xQQ")  # signature, ..., directory size and offset
_ZIP64_RECORD_SIGNATURE = b"PK\x06\x06"
_CENTRAL_ENTRY = struct.Struct("<4s24xHHH12x")  # signature, ..., name, extra, comment lengths
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra field length
_ENCRYPTED_FLAG = 0x1
_FILE_TYPE_MASK = 0o170000
_SYMLINK_TYPE = 0o120000
_DRIVE_LETTER = re.compile(r"[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")
_ZIP_SUFFIX = re.compile(r"\.zip$", re.IGNORECASE)
_JUNK_NAMES = (".DS_Store", "Thumbs.db")
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,
    ValueError,
)


def unzip(ctx: Context, data: bytes) -> Iterator[Item]:
    """Decode every member of the zip archive ``data``, in archive order."""
    limit = ctx.limits.max_zip_members
    declared = _declared_entry_count(data)
    if declared is not None and declared > limit:
        yield _too_many_members(ctx, declared)
        return
    if _directory_exceeds(data, limit):  # zip64, or a count that lies
        yield _too_many_members(ctx, None)
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (*_READ_ERRORS, struct.error) as exc:
        yield ctx.reject(f"corrupt zip archive ({exc})", "corrupt")
        return
    with archive:
        members = archive.infolist()
        if len(members) > limit:
            yield _too_many_members(ctx, len(members))
        elif _entries_overlap(data, members, archive.start_dir):
            yield ctx.reject(
                "zip archive whose entries overlap, a zip bomb technique; refused", "unsafe"
            )
        else:
            yield from _members_items(ctx, archive, members)


def _members_items(
    ctx: Context, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]
) -> Iterator[Item]:
    wanted = [member for member in members if not _is_junk(member)]
    if not wanted:
        yield ctx.reject("zip archive without any file in it", "not-a-report")
    for member in wanted:
        member_ctx = ctx.child("zip", member.filename or inner_name(ctx.origin, _ZIP_SUFFIX))
        problem = _member_problem(member, ctx.limits.max_decompressed_bytes)
        if problem:
            yield member_ctx.reject(*problem)
            continue
        cap, by_budget = ctx.inflate_cap()
        try:
            content = _read_member(archive, member, cap)
        except LimitExceeded:
            ctx.spend(cap)
            yield member_ctx.reject_inflation("zip member", cap, by_budget)
            continue
        except _READ_ERRORS as exc:
            yield member_ctx.reject(f"corrupt zip member ({_read_error_text(exc)})", "corrupt")
            continue
        ctx.spend(len(content))
        yield from member_ctx.decode(content)


def _too_many_members(ctx: Context, count: int | None) -> Item:
    members = f"{count} members, more" if count is not None else "more members"
    return ctx.reject(
        f"zip archive with {members} than the limit of "
        f"{ctx.limits.max_zip_members} (max_zip_members)",
        "limit",
    )


def _declared_entry_count(data: bytes) -> int | None:
    """The entry count of the end-of-central-directory record, without parsing the rest.

    ``None`` when there is no such record or the archive is zip64 (the caller then counts
    the entries that the standard library finds).
    """
    position = data.rfind(_EOCD_SIGNATURE, max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT))
    if position < 0 or position + _EOCD_SIZE > len(data):
        return None
    count = int.from_bytes(data[position + 10 : position + 12], "little")
    return None if count == _ZIP64_MARKER else count


def _directory_exceeds(data: bytes, limit: int) -> bool:
    """True when the central directory holds more than ``limit`` entries, counted by
    walking at most ``limit + 1`` of them where the standard library would read them.

    The standard library reads the whole directory before the caller can count it: a
    zip64 archive (whose end record says 0xFFFF entries) of 400,000 empty members took
    3.8 s, and a count that lies lets any archive do the same.
    """
    end = data.rfind(_EOCD_SIGNATURE, max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT))
    if end < 0 or end + _EOCD_SIZE > len(data):
        return False  # the standard library reports the damage
    size, _ = _EOCD_DIRECTORY.unpack_from(data, end + 12)
    directory_end = end
    zip64 = end - _ZIP64_LOCATOR.size - _ZIP64_RECORD.size  # where the standard library looks
    if zip64 >= 0 and data.startswith(_ZIP64_LOCATOR_SIGNATURE, end - _ZIP64_LOCATOR.size):
        signature, size, _ = _ZIP64_RECORD.unpack_from(data, zip64)
        if signature != _ZIP64_RECORD_SIGNATURE:
            return False
        directory_end = zip64
    position, count = directory_end - size, 0
    if position < 0:
        return False
    while position + _CENTRAL_ENTRY.size <= directory_end:
        signature, name, extra, comment = _CENTRAL_ENTRY.unpack_from(data, position)
        if signature != _CENTRAL_SIGNATURE:
            return False
        count += 1
        if count > limit:
            return True
        position += _CENTRAL_ENTRY.size + name + extra + comment
    return False


def _entries_overlap(data: bytes, members: list[zipfile.ZipInfo], directory_start: int) -> bool:
    """True when an entry's compressed data runs into the next entry or the directory."""
    if not members:
        return False
    spans = sorted((member.header_offset, _data_end(data, member)) for member in members)
    next_starts = [start for start, _ in spans[1:]] + [directory_start]
    return any(end > next_start for (_, end), next_start in zip(spans, next_starts, strict=True))


def _data_end(data: bytes, member: zipfile.ZipInfo) -> int:
    """Where the member's compressed data end: local header, name, extra field, data."""
    start = member.header_offset
    name_length = extra_length = 0
    if 0 <= start <= len(data) - _LOCAL_HEADER.size:
        _, name_length, extra_length = _LOCAL_HEADER.unpack_from(data, start)
    return start + _LOCAL_HEADER.size + name_length + extra_length + member.compress_size


def _is_junk(member: zipfile.ZipInfo) -> bool:
    """Directories and the litter of macOS and Windows archivers."""
    base = member.filename.rstrip("/").rsplit("/", 1)[-1]
    return (
        member.filename.endswith("/")  # ZipInfo.is_dir() fails on an empty name
        or member.filename.startswith("__MACOSX/")
        or base.startswith("._")
        or base in _JUNK_NAMES
    )


def _member_problem(member: zipfile.ZipInfo, cap: int) -> tuple[str, str] | None:
    """Why the member must not be read, as ``(reason, kind)``; ``None`` if it may be."""
    name = member.orig_filename  # before the standard library cuts it at a NUL
    if _is_unsafe_name(name):
        reason = "an absolute path, '..', a drive letter or NUL"
        return f"unsafe zip member name {name!r} ({reason}); refused", "unsafe"
    if member.flag_bits & _ENCRYPTED_FLAG:
        return "encrypted zip member; it cannot be read, and reports are never encrypted", "unsafe"
    if (member.external_attr >> 16) & _FILE_TYPE_MASK == _SYMLINK_TYPE:
        return "zip member is a symbolic link; refused", "unsafe"
    if member.file_size > cap:
        return (
            f"zip member declares {size_text(member.file_size)} uncompressed, more than the "
            f"limit of {size_text(cap)} (max_decompressed_bytes)",
            "limit",
        )
    return None


def _is_unsafe_name(name: str) -> bool:
    """A name that would leave the extraction folder: absolute, ``..``, drive letter, NUL."""
    return (
        "\0" in name
        or name.startswith(("/", "\\"))
        or _DRIVE_LETTER.match(name) is not None
        or ".." in _SEPARATORS.split(name)
    )


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, cap: int) -> bytes:
    """The member's content, read through a stream that stops after ``cap`` bytes."""
    with archive.open(member) as stream:
        content = stream.read(cap + 1)
    if len(content) > cap:
        raise LimitExceeded(f"zip member inflates to more than {size_text(cap)}")
    return content


def _read_error_text(exc: Exception) -> str:
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
        return "its content does not match its checksum: damaged, or its declared size is false"
    return str(exc) or type(exc).__name__
