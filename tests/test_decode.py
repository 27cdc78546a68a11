"""decode: every wrapper gives back the report unchanged; every bad input a precise refusal."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from dmarc_analytics.config import Limits, MiB
from dmarc_analytics.decode import decode_bytes, decode_file, sniff, split_reports
from dmarc_analytics.errors import InputError
from dmarc_analytics.model import Payload, RejectedPart
from tests import conftest
from tests.builders import (
    CANONICAL_XML,
    FEEDBACK_REPORT_MAIL,
    PAYLOAD_COUNTS,
    REPORT_NAME,
    TLS_REPORT_JSON,
    WRAPPERS,
    gzip_bomb,
    gzip_file,
    mail_gzip,
    mail_zip,
    mbox_file,
    report_mail,
    tls_report_mail,
    zip_archive,
    zip_with_encrypted_first_member,
    zip_with_lying_size,
    zip_with_many_members,
    zip_with_overlapping_entries,
    zip_with_symlink,
)

LIMITS = Limits()
XML_GZ = "report.xml.gz"
REPORT_XML = f"{REPORT_NAME}.xml"
GZ_PART = f"part 2 ({REPORT_XML}.gz)"
ZIP_PART = f"part 2 ({REPORT_NAME}.zip)"

Expected = tuple[str, str, str]  # (origin, kind or "payload", words the reason must contain)


def outcomes(items: Iterable[Payload | RejectedPart]) -> list[tuple[str, str, str]]:
    """(origin, kind, reason) per item; a payload is (origin, "payload", "canonical XML")."""
    result = []
    for item in items:
        if isinstance(item, Payload):
            assert item.data == CANONICAL_XML, f"unexpected payload at {item.origin}"
            result.append((item.origin, "payload", "canonical XML"))
        else:
            result.append((item.origin, item.kind, item.reason))
    return result


def assert_outcomes(items: Iterable[Payload | RejectedPart], expected: list[Expected]) -> None:
    actual = outcomes(items)
    assert [(o, k) for o, k, _ in actual] == [(o, k) for o, k, _ in expected], actual
    for (_, _, reason), (_, _, words) in zip(actual, expected, strict=True):
        assert words in reason


# --- what must come through ----------------------------------------------------------


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_every_wrapper_yields_exactly_the_canonical_xml(name: str) -> None:
    items = list(decode_bytes("input", WRAPPERS[name](CANONICAL_XML), LIMITS))
    assert all(isinstance(item, Payload) for item in items), items
    assert [item.data for item in items] == [CANONICAL_XML] * PAYLOAD_COUNTS[name]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bare_xml", [("r", ())]),
        ("gzip", [("r/r", ("gzip",))]),
        ("gzip_with_file_name", [(f"r/{REPORT_XML}", ("gzip",))]),
        ("gzip_in_gzip", [("r/r/r", ("gzip", "gzip"))]),
        ("zlib", [("r/r", ("zlib",))]),
        ("zip_member_in_subfolder", [("r/reports/2023/report.xml", ("zip",))]),
        ("zip_with_macos_junk", [("r/report.xml", ("zip",))]),
        ("mail_gzip", [(f"r/{GZ_PART}/{REPORT_XML}", ("email", "gzip"))]),
        ("mail_text_xml_quoted_printable", [(f"r/part 2 ({REPORT_XML})", ("email",))]),
        ("mail_whole_body", [(f"r/part 1 ({REPORT_XML}.gz)/{REPORT_XML}", ("email", "gzip"))]),
        (
            "mail_nested_rfc822",
            [(f"r/part 2/{GZ_PART}/{REPORT_XML}", ("email", "email", "gzip"))],
        ),
        (
            "mbox_of_mails",
            [
                (f"r/message 1/{GZ_PART}/{REPORT_XML}", ("mbox", "email", "gzip")),
                (
                    f"r/message 2/{ZIP_PART}/{REPORT_XML}",
                    ("mbox", "email", "zip"),
                ),
                (f"r/message 3/part 2 ({REPORT_XML})", ("mbox", "email")),
            ],
        ),
    ],
)
def test_payloads_say_where_they_were_found(name: str, expected: list) -> None:
    items = list(decode_bytes("r", WRAPPERS[name](CANONICAL_XML), LIMITS))
    assert [(item.origin, item.containers) for item in items] == expected


def test_a_gzip_member_is_named_after_its_file_without_gz() -> None:
    (item,) = decode_bytes("a!b!1!2.xml.GZ", gzip_file(CANONICAL_XML), LIMITS)
    assert item.origin == "a!b!1!2.xml.GZ/a!b!1!2.xml"


@pytest.mark.parametrize(
    "data",
    [
        CANONICAL_XML,
        b"\xef\xbb\xbf" + CANONICAL_XML,
        b"\r\n \t" + CANONICAL_XML,
        CANONICAL_XML.split(b"\n", 1)[1],  # no XML declaration
        "<?xml version='1.0' encoding='UTF-16'?><feedback/>".encode("utf-16"),
    ],
    ids=["plain", "bom", "leading-whitespace", "no-declaration", "utf-16"],
)
def test_xml_passes_through_as_the_very_same_bytes(data: bytes) -> None:
    (item,) = decode_bytes("r.xml", data, LIMITS)
    assert isinstance(item, Payload)
    assert item.data is data
    assert (item.origin, item.containers) == ("r.xml", ())


@pytest.mark.parametrize(
    ("trailer", "notes"),
    [
        (b"\r\n", ()),
        (b"\n\n  \t", ()),
        (b"\x00\x00garbage", ("Ignored 9 bytes after the end of the gzip data",)),
    ],
)
def test_bytes_after_a_complete_gzip_stream_are_ignored(trailer: bytes, notes: tuple) -> None:
    # Whitespace silently (Mimecast appends CRLF); anything else is data left aside, and
    # the payload says so (it becomes an issue of the report).
    (item,) = decode_bytes(XML_GZ, gzip_file(CANONICAL_XML) + trailer, LIMITS)
    assert isinstance(item, Payload) and item.data == CANONICAL_XML
    assert item.notes == notes
    (item,) = decode_bytes("r.zz", zlib.compress(CANONICAL_XML) + trailer, LIMITS)
    assert item.notes == tuple(note.replace("gzip", "zlib") for note in notes)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b" \r\n\t", "empty"),
        (b"\xef\xbb\xbf  \n", "empty"),
        (b" " * 5000, "empty"),
        (b"<feedback/>", "xml"),
        (b"\xef\xbb\xbf\n  <?xml version='1.0'?>", "xml"),
        (b"\r\n\xef\xbb\xbf<?xml version='1.0'?>", "xml"),  # a line break, then the BOM
        (b"\xef\xbb\xbf\xef\xbb\xbf<feedback/>", "xml"),  # two BOMs
        (b" " * 5000 + b"<feedback/>", "xml"),
        ("<feedback/>".encode("utf-16"), "xml"),
        (b' {"policies": []}', "json"),
        (gzip_file(b"x"), "gzip"),
        (zip_archive({"a": b"x"}), "zip"),
        (zip_archive({}), "zip"),
        (b"x\x9c" + b"\x00" * 8, "zlib"),
        (b"x\xda" + b"\x00" * 8, "zlib"),
        (b"Received: from a by b\nSubject: x\n\nbody", "email"),
        (b"X-Mailer: y\r\nFrom: a@b\r\n\r\n", "email"),
        (b" continued header\n\tand more\nMIME-Version: 1.0\n\n", "email"),
        (b"From a@b Wed Nov 15 12:00:00 2023\nFrom: a@b\n\n", "mbox"),
        (b"unused", "text"),
        (b"Note: this is text\n", "text"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n\x00\x01", "unknown"),
        (b"\x00\x01\x02\x03", "unknown"),
        (b"BZh91AY&SY", "other"),
        (b"BZh is text", "text"),
        (b"\xfd7zXZ\x00\x00", "other"),
    ],
)
def test_sniff_names_the_format_from_the_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


# --- what must be refused, and how ---------------------------------------------------


def corrupt_gzip() -> bytes:
    data = bytearray(gzip_file(CANONICAL_XML))
    data[20:60] = bytes(b ^ 0x5A for b in data[20:60])
    return bytes(data)


def zip_with_nul_in_name() -> bytes:
    return zip_archive({"evil.xml_.txt": CANONICAL_XML}).replace(b"evil.xml_", b"evil.xml\0")


def mail_with_many_attachments(count: int) -> bytes:
    message = report_mail(gzip_file(CANONICAL_XML), "application/gzip", "1.xml.gz")
    for number in range(2, count + 1):
        message.add_attachment(gzip_file(CANONICAL_XML), "application", "gzip", f"{number}.xml.gz")
    return message.as_bytes()


EXIM_FAILURE_MAIL = b"""From: no-reply@mailgate.example.net
To: dmarc@example.com
Subject: DMARC Forensic Report for example.com from IP 203.0.113.68
MIME-Version: 1.0
Content-Type: multipart/report; boundary="b"

--b
Content-Type: text/plain

A message claiming to be from you has failed the published DMARC policy for your domain.
--b--
"""
PLAIN_MAIL = b"From: a@example.com\nTo: b@example.com\nSubject: hello\n\nJust text.\n"
HTML_AND_GZIP_MAIL = (
    report_mail(gzip_file(CANONICAL_XML), "application/gzip", XML_GZ)
    .as_bytes()
    .replace(b'Content-Type: text/plain; charset="utf-8"', b"Content-Type: text/html")
    .replace(b"This is a DMARC aggregate report", b"<html><body>Report</body></html>")
)
SMALL = Limits(max_decompressed_bytes=MiB, max_zip_members=5, max_mime_parts=4, max_depth=2)
ZERO_MIB_2 = bytes(2 * MiB)

REJECTIONS: list[tuple[str, Callable[[], bytes], list[Expected]]] = [
    ("empty", lambda: b"", [("in", "not-a-report", "empty file")]),
    ("whitespace", lambda: b" \r\n", [("in", "not-a-report", "empty file (only whitespace)")]),
    (
        "unused",
        lambda: b"unused",
        [("in", "not-a-report", "text, not a DMARC report: starts with 'unused'")],
    ),
    ("long-text", lambda: b"hello\x1b[31m " * 10, [("in", "not-a-report", "m hello\\x1b['…")]),
    ("binary", lambda: b"\x00\x01garbage", [("in", "not-a-report", "(first bytes 00 01 67")]),
    ("corrupt-gzip", corrupt_gzip, [("in", "corrupt", "corrupt gzip data (")]),
    (
        "truncated-gzip",
        lambda: gzip_file(CANONICAL_XML)[:200],
        [
            (
                "in",
                "corrupt",
                "truncated gzip data: the input ends before the compressed stream does",
            )
        ],
    ),
    ("corrupt-zlib", lambda: b"x\x9c\xff\xff\xff\xff", [("in", "corrupt", "corrupt zlib data")]),
    ("corrupt-zip", lambda: b"PK\x03\x04garbage", [("in", "corrupt", "corrupt zip archive")]),
    (
        "zip-without-xml",
        lambda: zip_archive({"readme.txt": b"Please find the report attached."}),
        [("in/readme.txt", "not-a-report", "text, not a DMARC report: starts with 'Please")],
    ),
    ("empty-zip", lambda: zip_archive({}), [("in", "not-a-report", "zip archive without any")]),
    (
        "zip-with-folders-only",
        lambda: zip_archive({"reports/": b"", "__MACOSX/._r.xml": b"x"}),
        [("in", "not-a-report", "zip archive without any file in it")],
    ),
    (
        "encrypted-member",
        lambda: zip_with_encrypted_first_member(CANONICAL_XML),
        [("in/secret.xml", "unsafe", "encrypted zip member"), ("in/report.xml", "payload", "")],
    ),
    (
        "dot-dot-member",
        lambda: zip_archive({"../evil.xml": CANONICAL_XML, "good.xml": CANONICAL_XML}),
        [
            ("in/../evil.xml", "unsafe", "unsafe zip member name '../evil.xml'"),
            ("in/good.xml", "payload", ""),
        ],
    ),
    *[
        (
            f"unsafe-name-{number}",
            lambda name=name: zip_archive({name: CANONICAL_XML}),
            [(f"in/{name}", "unsafe", f"unsafe zip member name {name!r}")],
        )
        for number, name in enumerate(["/etc/evil.xml", "C:evil.xml", "a\\..\\evil.xml"])
    ],
    (
        "nul-in-member-name",
        zip_with_nul_in_name,
        [("in/evil.xml", "unsafe", "unsafe zip member name 'evil.xml\\x00.txt'")],
    ),
    (
        "symlink-member",
        lambda: zip_with_symlink(CANONICAL_XML),
        [("in/link.xml", "unsafe", "symbolic link"), ("in/report.xml", "payload", "")],
    ),
    (
        "overlapping-entries",
        lambda: zip_with_overlapping_entries(CANONICAL_XML),
        [("in", "unsafe", "zip archive whose entries overlap")],
    ),
    (
        "too-many-members",
        lambda: zip_archive({f"{n}.xml": CANONICAL_XML for n in range(6)}),
        [("in", "limit", "zip archive with 6 members, more than the limit of 5")],
    ),
    (
        "member-declared-too-big",
        lambda: zip_archive({"big.xml": ZERO_MIB_2}),
        [("in/big.xml", "limit", "declares 2 MiB uncompressed, more than the limit of 1 MiB")],
    ),
    (
        "member-size-lie",
        lambda: zip_with_lying_size(ZERO_MIB_2, 1000),
        [("in/report.xml", "corrupt", "its declared size is false")],
    ),
    (
        "gzip-over-cap",
        lambda: gzip_file(ZERO_MIB_2),
        [("in", "limit", "gzip data inflates to more than 1 MiB")],
    ),
    (
        "too-deep",
        lambda: gzip_file(gzip_file(gzip_file(CANONICAL_XML))),
        [("in/in/in", "limit", "containers nested more than 2 deep (gzip in gzip)")],
    ),
    (
        "too-deep-rfc822",
        lambda: gzip_file(WRAPPERS["mail_nested_rfc822"](CANONICAL_XML)),
        [("in/in/part 2", "limit", "nested more than 2 deep (email in gzip)")],
    ),
    (
        "depth-at-limit",
        lambda: zip_archive({"r.xml.gz": gzip_file(CANONICAL_XML)}),
        [("in/r.xml.gz/r.xml", "payload", "")],
    ),
    (
        "too-many-mime-parts",
        lambda: mail_with_many_attachments(3),
        [("in", "limit", "e-mail with more than 4 MIME parts (max_mime_parts)")],
    ),
    (
        "failure-report",
        lambda: FEEDBACK_REPORT_MAIL,
        [("in", "failure-report", "DMARC failure (forensic) report, not an aggregate report")],
    ),
    ("exim-failure-report", lambda: EXIM_FAILURE_MAIL, [("in", "failure-report", "forensic")]),
    ("tls-json", lambda: TLS_REPORT_JSON, [("in", "tls-report", "SMTP TLS report (RFC 8460)")]),
    ("tls-json-gz", lambda: gzip_file(TLS_REPORT_JSON), [("in/in", "tls-report", "RFC 8460")]),
    ("tls-mail", tls_report_mail, [("in", "tls-report", "SMTP TLS report (RFC 8460)")]),
    (
        "json-not-tls",
        lambda: b'{"hello": "world"}',
        [("in", "not-a-report", "JSON document that is neither")],
    ),
    ("invalid-json", lambda: b"{oops", [("in", "not-a-report", "invalid JSON")]),
    *[
        (f"other-{name}", lambda data=data: data, [("in", "not-a-report", f"{name}, a format")])
        for name, data in [
            ("bzip2 data", bz2.compress(CANONICAL_XML)),
            ("xz data", lzma.compress(CANONICAL_XML)),
            ("7z archive", b"7z\xbc\xaf\x27\x1c\x00\x04"),
        ]
    ],
    (
        "outlook-msg",  # Outlook saves a mail as an OLE compound file: say what to give instead
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024),
        [("in", "not-a-report", "an Outlook message (.msg) or another Microsoft Office file, a "
          "format DMARC reports are not sent in; save the report attachment itself (or the mail "
          "as .eml) and give that")],
    ),
    ("mail-without-attachment", lambda: PLAIN_MAIL, [("in", "not-a-report", "e-mail without")]),
    (
        "mail-attachment-unused",
        lambda: report_mail(b"unused", "text/xml", "report.xml").as_bytes(),
        [("in/part 2 (report.xml)", "not-a-report", "'unused'")],
    ),
    (
        "mail-html-body-ignored",
        lambda: HTML_AND_GZIP_MAIL,
        [(f"in/part 2 ({XML_GZ})/report.xml", "payload", "")],
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_bad_and_hostile_inputs_are_refused_precisely(
    build: Callable[[], bytes], expected: list[Expected]
) -> None:
    assert_outcomes(decode_bytes("in", build(), SMALL), expected)


def test_a_gzip_bomb_stops_at_the_cap_fast_and_in_bounded_memory() -> None:
    bomb = gzip_bomb()  # 1 GiB of zeros in about 1 MB
    cap = 8 * MiB
    tracemalloc.start()
    started = time.perf_counter()
    items = list(decode_bytes("bomb.xml.gz", bomb, Limits(max_decompressed_bytes=cap)))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert items == [
        RejectedPart(
            "bomb.xml.gz",
            "gzip data inflates to more than 8 MiB; refused as a possible decompression bomb "
            "(limit max_decompressed_bytes)",
            "limit",
        )
    ]
    assert elapsed < 2.0
    assert peak < 3 * cap


def test_a_zip_member_lying_about_its_size_costs_little() -> None:
    bomb = zip_with_lying_size(bytes(64 * MiB), 1000)
    tracemalloc.start()
    started = time.perf_counter()
    items = list(decode_bytes("bomb.zip", bomb, Limits(max_decompressed_bytes=8 * MiB)))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [(i.origin, i.kind) for i in items] == [("bomb.zip/report.xml", "corrupt")]
    assert elapsed < 2.0
    assert peak < 24 * MiB


KINDS = {"tls-report", "failure-report", "not-a-report", "limit", "corrupt", "unsafe"}


def test_mangled_inputs_never_raise_and_only_yield_known_outcomes() -> None:
    rng = random.Random(7489)
    seeds = [wrap(CANONICAL_XML) for wrap in WRAPPERS.values()] + [tls_report_mail()]
    seen = set()
    for _ in range(400):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(len(data))
            data[position : position + rng.randint(0, 8)] = rng.randbytes(rng.randint(0, 4))
        for item in decode_bytes("in", bytes(data), SMALL):
            seen.add("payload" if isinstance(item, Payload) else item.kind)
    assert seen <= KINDS | {"payload"}
    assert {"payload", "corrupt", "not-a-report"} <= seen


def test_require_corpus_fails_instead_of_skipping_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(conftest, "CORPUS", tmp_path / "absent")
    monkeypatch.setenv("DMARC_ANALYTICS_NO_SKIP", "1")
    with pytest.raises(pytest.fail.Exception, match="DMARC_ANALYTICS_NO_SKIP=1 forbids skipping"):
        conftest.require_corpus()
    monkeypatch.delenv("DMARC_ANALYTICS_NO_SKIP")
    with pytest.raises(pytest.skip.Exception, match="corpus is not at"):
        conftest.require_corpus()


# --- mbox and files ------------------------------------------------------------------


def big_mail(body_bytes: int, lines: bool = True) -> bytes:
    body = (b"padding line\n" * (body_bytes // 13)) if lines else b"x" * body_bytes
    return b"From: a@example.com\nSubject: big\n\n" + body


@pytest.mark.parametrize("lines", [True, False], ids=["many-lines", "one-endless-line"])
def test_an_mbox_message_over_the_limit_is_refused_and_the_others_still_count(
    tmp_path: Path, lines: bool
) -> None:
    path = tmp_path / "label.mbox"
    path.write_bytes(
        mbox_file([mail_gzip(CANONICAL_XML), big_mail(300_000, lines), mail_zip(CANONICAL_XML)])
    )
    limits = Limits(max_message_bytes=100 * 1024, max_input_bytes=1024)
    assert_outcomes(
        decode_file(path, limits),
        [
            (f"label.mbox/message 1/{GZ_PART}/{REPORT_XML}", "payload", ""),
            ("label.mbox/message 2", "limit", "mbox message larger than the limit of 100 KiB"),
            (f"label.mbox/message 3/{ZIP_PART}/{REPORT_XML}", "payload", ""),
        ],
    )


BUDGET = Limits(max_decompressed_bytes=MiB, max_total_decompressed_bytes=int(2.5 * MiB))
INFLATES_800K = gzip_file(CANONICAL_XML + bytes(800 * 1024))
PAST_TOTAL = "would bring what this input inflates to past {} in all"


def outcomes_of(items: Iterable[Payload | RejectedPart]) -> list[tuple[str, str]]:
    return [(i.origin, "payload" if isinstance(i, Payload) else i.reason) for i in items]


def test_small_bombs_side_by_side_add_up_to_the_total_limit() -> None:
    # Each member stays under max_decompressed_bytes; together they may not pass the total.
    data = zip_archive({f"{n}.xml.gz": INFLATES_800K for n in range(5)})
    past = PAST_TOTAL.format("2.5 MiB")
    limit = "; refused as a possible decompression bomb (limit max_total_decompressed_bytes)"
    assert outcomes_of(decode_bytes("in", data, BUDGET)) == [
        *[(f"in/{n}.xml.gz/{n}.xml", "payload") for n in range(3)],
        ("in/3.xml.gz", f"gzip data {past}{limit}"),
        ("in/4.xml.gz", f"zip member {past}{limit}"),
    ]
    # Every input has a budget of its own.
    assert len([i for i in decode_bytes("again", data, BUDGET) if isinstance(i, Payload)]) == 3


def test_plain_zip_members_count_against_the_total_limit() -> None:
    # Members that are XML themselves (not gzip in zip): the zip layer itself spends.
    data = zip_archive({f"{n}.xml": CANONICAL_XML + bytes(800 * 1024) for n in range(5)})
    past = PAST_TOTAL.format("2.5 MiB")
    limit = "; refused as a possible decompression bomb (limit max_total_decompressed_bytes)"
    assert outcomes_of(decode_bytes("in", data, BUDGET)) == [
        *[(f"in/{n}.xml", "payload") for n in range(3)],
        *[(f"in/{n}.xml", f"zip member {past}{limit}") for n in (3, 4)],
    ]


def test_each_message_of_an_mbox_file_has_a_budget_but_a_wrapped_mbox_shares_one() -> None:
    limits = Limits(max_decompressed_bytes=MiB, max_total_decompressed_bytes=MiB)
    mails = [report_mail(INFLATES_800K, "application/gzip", "r.xml.gz").as_bytes()] * 3
    mbox = mbox_file(mails)  # each message inflates 800 KiB: 2.4 MiB in all
    assert [kind for _, kind in outcomes_of(decode_bytes("l.mbox", mbox, limits))] == [
        "payload"
    ] * 3
    wrapped = outcomes_of(decode_bytes("l.mbox.gz", gzip_file(mbox), limits))
    assert [kind for _, kind in wrapped][0] == "payload"
    assert [PAST_TOTAL.format("1 MiB") in kind for _, kind in wrapped[1:]] == [True, True]


def test_mbox_from_quoting_is_undone() -> None:
    xml = b"<feedback>\nFrom here on\n>From there\n</feedback>\n"
    mail = b"From: a@example.com\nContent-Type: text/xml\n\n" + xml
    (item,) = decode_bytes("x.mbox", mbox_file([mail]), LIMITS)
    assert isinstance(item, Payload)
    assert item.data == xml


def test_a_file_over_max_input_bytes_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(CANONICAL_XML)
    items = list(decode_file(path, Limits(max_input_bytes=1000)))
    reason = "file larger than the limit of 1000 bytes (max_input_bytes)"
    assert items == [RejectedPart("big.xml", reason, "limit")]


def test_decode_file_names_the_input_and_unwraps_it(tmp_path: Path) -> None:
    path = tmp_path / XML_GZ
    path.write_bytes(gzip_file(CANONICAL_XML))
    assert list(decode_file(path, LIMITS)) == [
        Payload("report.xml.gz/report.xml", CANONICAL_XML, ("gzip",))
    ]
    assert [i.origin for i in decode_file(path, LIMITS, name="inbox/r.gz")] == ["inbox/r.gz/r"]


def test_an_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read .*missing.xml"):
        list(decode_file(tmp_path / "missing.xml", LIMITS))


# --- the real corpus -----------------------------------------------------------------


def corpus_files(folder: str) -> list[Path]:
    return sorted(path for path in (conftest.require_corpus() / folder).iterdir() if path.is_file())


def test_every_corpus_aggregate_file_yields_payloads_only() -> None:
    for path in corpus_files("aggregate"):
        items = list(decode_file(path, LIMITS))
        assert items, path.name
        assert all(isinstance(item, Payload) for item in items), (path.name, items)


@pytest.mark.parametrize(
    ("folder", "kind"), [("failure", "failure-report"), ("smtp_tls", "tls-report")]
)
def test_every_corpus_failure_and_tls_file_is_refused_as_such(folder: str, kind: str) -> None:
    for path in corpus_files(folder):
        items = decode_file(path, LIMITS)
        assert [getattr(item, "kind", "payload") for item in items] == [kind], path.name


def test_names_from_headers_that_are_not_utf8_are_shown_with_a_replacement_character() -> None:
    from dmarc_analytics.decode_base import display_name

    # The e-mail parser hands undecodable header bytes over as lone surrogates.
    assert display_name("r\udce9port.xml.gz") == "r\ufffdport.xml.gz"
    assert display_name("odd\ud800.xml") == "odd?.xml"


SECOND_XML = CANONICAL_XML.replace(b"17000064001234567890", b"second-report")


def _body(xml: bytes) -> bytes:
    return xml.split(b"?>", 1)[1]


@pytest.mark.parametrize(
    ("name", "build", "origins"),
    [
        ("two gzip members, each a whole report", lambda: gzip_file(CANONICAL_XML)
         + gzip_file(SECOND_XML), ["in/in/report 1", "in/in/report 2"]),
        ("two documents back to back", lambda: CANONICAL_XML + b"\n" + SECOND_XML,
         ["in/report 1", "in/report 2"]),
        ("two documents without declarations", lambda: _body(CANONICAL_XML) + _body(SECOND_XML),
         ["in/report 1", "in/report 2"]),
        ("two reports wrapped together", lambda: b'<?xml version="1.0"?><reports>'
         + _body(CANONICAL_XML) + _body(SECOND_XML) + b"</reports>",
         ["in/report 1", "in/report 2"]),
    ],
)  # fmt: skip
def test_several_reports_in_one_payload_are_each_a_payload(name, build, origins) -> None:
    # A parser reads one document and one <feedback>: the second report used to be lost.
    items = list(decode_bytes("in", build(), LIMITS))
    assert [i.origin for i in items] == origins
    assert all(isinstance(i, Payload) for i in items)
    assert [b"second-report" in i.data for i in items] == [False, True]
    assert all(i.data.count(b"<feedback>") == 1 for i in items)


def test_a_report_that_mentions_feedback_elsewhere_stays_one_payload() -> None:
    xml = CANONICAL_XML.replace(b"<email>", b"<email>feedback-feedback@")
    assert [i.data for i in decode_bytes("in", xml, LIMITS)] == [xml]


def test_a_base64_attachment_cut_mid_group_is_called_damaged() -> None:
    mail = report_mail(gzip_file(CANONICAL_XML), "application/gzip", "r.xml.gz").as_bytes()
    head, _, body = mail.partition(b"Content-Transfer-Encoding: base64")
    encoded = body.split(b"\n\n", 1)[1].split(b"\n--", 1)[0].replace(b"\n", b"")
    cut = encoded[: len(encoded) // 4 * 4 - 3]  # one character into a four-character group
    damaged = mail.replace(body.split(b"\n\n", 1)[1].split(b"\n--", 1)[0], cut)
    assert_outcomes(
        decode_bytes("in", damaged, LIMITS),
        [("in/part 2 (r.xml.gz)", "corrupt", "damaged attachment: its base64 text breaks off")],
    )


@pytest.mark.parametrize(
    "data",
    [b"<feedback " * 2_000_000, b"<?xml " * 2_000_000 + b"<feedback><feedback>",
     b"<feedback>" * 1_000_000 + b"</feedback>", b"<!-- <feedback>" * 1_000_000,
     b"<!----><feedback></feedback>" * 1_000_000, b"<![CDATA[<feedback>" * 1_000_000,
     b"<? <feedback>" * 1_000_000, b"<?a <feedback>" * 1_000_000,
     b"<!-- <?xml ?>" * 500_000 + b"<feedback></feedback>" * 3],
)  # fmt: skip
def test_looking_for_several_reports_stays_fast_on_hostile_data(data) -> None:
    # Cutting reports out with a lazy regex rescanned the data from every start tag.
    start = time.perf_counter()
    assert split_reports(data) == [data]
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "wrap",
    [
        lambda text: b"<![CDATA[" + text + b"]]>",
        lambda text: b"<!-- " + text + b" -->",
        lambda text: b"<?note " + text + b"?>",
    ],
)
def test_feedback_tags_in_comments_cdata_and_instructions_do_not_split_a_report(wrap) -> None:
    # A comment about </feedback> and <feedback> cut one report into two broken halves.
    mention = wrap(b"see </feedback> and <feedback> docs")
    inside = CANONICAL_XML.replace(b"</report_metadata>", mention + b"</report_metadata>", 1)
    assert split_reports(inside) == [inside]
    before = b'<?xml version="1.0"?>' + mention + CANONICAL_XML.split(b"?>", 1)[1]
    assert split_reports(before) == [before]
    # Two reports around such a mention are still two.
    two = b"<reports>" + inside.split(b"?>", 1)[1] + mention + inside.split(b"?>", 1)[1]
    assert len(split_reports(two + b"</reports>")) == 2


@pytest.mark.parametrize("stray", [b"call <?", b"see <!--", b"odd <![CDATA[ text"])
def test_a_stray_opener_in_a_broken_report_does_not_hide_the_reports_after_it(stray) -> None:
    # Read as a comment (or CDATA, or instruction) running to the end, it swallowed the
    # declarations of the documents concatenated after it: two of three reports were lost.
    broken = CANONICAL_XML.replace(b"</report_metadata>", stray + b"</report_metadata>", 1)
    others = [CANONICAL_XML.replace(b"17000064001234567890", f"id-{n}".encode()) for n in (2, 3)]
    documents = split_reports(broken + b"".join(others))
    assert documents == [broken, *others]
    # Two reports wrapped in one element, the first with a stray comment opener.
    bodies = [d.split(b"?>", 1)[1] for d in (broken, others[0])]
    wrapped = b"<reports>" + b"".join(bodies) + b"</reports>"
    assert len(split_reports(wrapped)) == 2


def test_sniffing_a_long_blank_run_stays_fast() -> None:
    start = time.perf_counter()
    assert sniff(b" \xef\xbb\xbf" * 5_000_000 + b"<feedback/>") in ("xml", "text")
    assert sniff(b" " * 50_000_000 + b"<feedback/>") == "xml"
    assert time.perf_counter() - start < 1.5


def test_many_tiny_gzip_members_cost_linear_time() -> None:
    # zlib copies whatever follows a stream: fed all the rest each time, 80,000 empty
    # members (1.5 MiB) took 2 s, and the time grew with the square of their number.
    member = gzip.compress(b"", mtime=0)
    start = time.perf_counter()
    (item,) = decode_bytes("x.gz", member * 80_000 + gzip_file(CANONICAL_XML), LIMITS)
    assert isinstance(item, Payload) and item.data == CANONICAL_XML
    assert time.perf_counter() - start < 1.0


def test_a_long_subject_is_judged_in_linear_time() -> None:
    # "dmarc" then ".*" then "failure" backtracked over the subject from every "dmarc".
    subject = b"dmarc " * 40_000
    mail = b"From: a@b\r\nTo: c@d\r\nSubject: " + subject + b"\r\n\r\nhello\r\n"
    start = time.perf_counter()
    (item,) = decode_bytes("m.eml", mail, LIMITS)
    assert item.reason == "e-mail without a report attachment"
    assert time.perf_counter() - start < 1.0
    failure = b"From: a@b\r\nSubject: DMARC Forensic Report\r\n\r\nA message failed.\r\n"
    assert next(iter(decode_bytes("f.eml", failure, LIMITS))).kind == "failure-report"


def test_end_tags_without_their_closing_bracket_stay_fast() -> None:
    # Each end tag looked for the next ">" up to the end of the data.
    data = b"<feedback </feedback " * 10_000 + b"a" * (16 << 20)
    start = time.perf_counter()
    assert split_reports(data) == [data]
    assert time.perf_counter() - start < 1.0


def test_absurd_mime_parameters_are_ignored_quickly_and_real_ones_kept() -> None:
    # The standard library splits a header's parameters in time quadratic in the semicolons
    # of a quoted value: 80,000 took 23 s in the boundary and 11 s in a file name.
    mail = mail_gzip(CANONICAL_XML)
    name = f"{REPORT_NAME}.xml.gz".encode()
    start = time.perf_counter()
    (item,) = decode_bytes("m.eml", mail.replace(name, b"a;" * 80_000), LIMITS)
    assert isinstance(item, Payload) and item.data == CANONICAL_XML
    assert item.origin == "m.eml/part 2/content"
    multipart = b'Content-Type: multipart/mixed; boundary="' + b"a;" * 80_000 + b'"\r\n\r\nx\r\n'
    (item,) = decode_bytes("n.eml", b"From: a@b\r\n" + multipart, LIMITS)
    assert item.reason == "e-mail without a report attachment"
    assert time.perf_counter() - start < 1.0
    (item,) = decode_bytes("o.eml", mail.replace(name, b"a;b.xml.gz"), LIMITS)
    assert item.origin == "o.eml/part 2 (a;b.xml.gz)/a;b.xml"


@pytest.mark.parametrize(
    ("count", "zip64", "declared"),
    [(70_000, True, None), (10, False, 2), (10, True, 2), (3, True, None), (5, False, None)],
    ids=["zip64-many", "count-lies", "zip64-count-lies", "zip64-few", "at-the-limit"],
)
def test_zip_members_are_counted_before_the_directory_is_read(count, zip64, declared) -> None:
    # The standard library reads the whole central directory first: 400,000 members of a
    # zip64 archive (whose end record says 0xFFFF) took 3.8 s before the count was checked.
    limits = Limits(max_zip_members=5) if count < 100 else LIMITS
    data = zip_with_many_members(count, zip64, declared)
    start = time.perf_counter()
    items = list(decode_bytes("a.zip", data, limits))
    if count > limits.max_zip_members:
        (item,) = items
        assert item.reason == (
            f"zip archive with more members than the limit of {limits.max_zip_members} "
            "(max_zip_members)"
        )
    else:
        assert [item.reason for item in items] == ["empty file"] * count
    assert time.perf_counter() - start < 0.2
