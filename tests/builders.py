"""One canonical aggregate report, and functions that wrap any XML the ways receivers do.

``WRAPPERS`` maps a short name to each wrapping function; every one of them, decoded, must
give back the XML unchanged, ``PAYLOAD_COUNTS[name]`` times (the three-member zip and the
mbox hold several copies). Below them are builders of broken and hostile inputs.
Everything is made in memory with the standard library, byte-for-byte reproducibly.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from email.message import EmailMessage

CANONICAL_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>
    <report_id>17000064001234567890</report_id>
    <date_range>
      <begin>1700006400</begin>
      <end>1700092799</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>example.com</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>none</p>
    <sp>none</sp>
    <pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.10</source_ip>
      <count>3</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>pass</dkim>
        <spf>pass</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>example.com</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>example.com</domain>
        <selector>s1</selector>
        <result>pass</result>
      </dkim>
      <spf>
        <domain>example.com</domain>
        <result>pass</result>
      </spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>198.51.100.7</source_ip>
      <count>4</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>fail</dkim>
        <spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>example.com</header_from>
    </identifiers>
    <auth_results>
      <spf>
        <domain>spoofer.example.net</domain>
        <result>softfail</result>
      </spf>
    </auth_results>
  </record>
</feedback>
"""

REPORT_NAME = "google.com!example.com!1700006400!1700092799"
MBOX_SEPARATOR = b"From noreply-dmarc-support@google.com Wed Nov 15 12:00:00 2023\n"


# --- gzip and zlib ---------------------------------------------------------------------


def gzip_file(xml: bytes) -> bytes:
    return gzip.compress(xml, mtime=0)


def gzip_with_file_name(xml: bytes, name: str = f"{REPORT_NAME}.xml") -> bytes:
    """A gzip stream whose header carries the original file name (FNAME)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer, mtime=0) as stream:
        stream.write(xml)
    return buffer.getvalue()


def gzip_multi_member(xml: bytes) -> bytes:
    """Two gzip members, each holding half of the XML (RFC 1952 allows any number)."""
    half = len(xml) // 2
    return gzip_file(xml[:half]) + gzip_file(xml[half:])


def gzip_trailing_crlf(xml: bytes) -> bytes:
    """What Mimecast sends: a gzip stream followed by CRLF."""
    return gzip_file(xml) + b"\r\n"


def gzip_in_gzip(xml: bytes) -> bytes:
    return gzip_file(gzip_file(xml))


def zlib_stream(xml: bytes) -> bytes:
    return zlib.compress(xml)


# --- zip -------------------------------------------------------------------------------


def zip_archive(members: dict[str, bytes]) -> bytes:
    """A deflated zip of ``members`` in the given order; a name ending in / is a folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2023, 11, 16, 0, 0, 0)), content)
    return buffer.getvalue()


def zip_one_member(xml: bytes) -> bytes:
    return zip_archive({f"{REPORT_NAME}.xml": xml})


def zip_three_members(xml: bytes) -> bytes:
    return zip_archive({f"{REPORT_NAME}!{n}.xml": xml for n in (1, 2, 3)})


def zip_member_in_subfolder(xml: bytes) -> bytes:
    return zip_archive({"reports/": b"", "reports/2023/": b"", "reports/2023/report.xml": xml})


def zip_with_macos_junk(xml: bytes) -> bytes:
    """What macOS's archiver adds: resource forks under __MACOSX/ and ``._`` files."""
    fork = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "
    return zip_archive(
        {"__MACOSX/": b"", "__MACOSX/._report.xml": fork, "._report.xml": fork, "report.xml": xml}
    )


# --- e-mail and mbox -------------------------------------------------------------------


def report_mail(
    attachment: bytes,
    content_type: str,
    filename: str | None,
    cte: str = "base64",
) -> EmailMessage:
    """A report mail: a short text body, then ``attachment`` as ``content_type``."""
    message = _mail_headers(EmailMessage())
    message.set_content("This is a DMARC aggregate report for example.com.\n")
    maintype, subtype = content_type.split("/")
    message.add_attachment(
        attachment, maintype=maintype, subtype=subtype, filename=filename, cte=cte
    )
    message.set_boundary("=_report_")
    return message


def _mail_headers(message: EmailMessage) -> EmailMessage:
    message["From"] = "noreply-dmarc-support@google.com"
    message["To"] = "dmarc@example.com"
    message["Subject"] = (
        "Report domain: example.com Submitter: google.com Report-ID: 17000064001234567890"
    )
    message["Date"] = "Thu, 16 Nov 2023 06:00:00 +0000"
    message["Message-ID"] = "<17000064001234567890@google.com>"
    return message


def mail_gzip(xml: bytes) -> bytes:
    return report_mail(gzip_file(xml), "application/gzip", f"{REPORT_NAME}.xml.gz").as_bytes()


def mail_x_gzip(xml: bytes) -> bytes:
    return report_mail(gzip_file(xml), "application/x-gzip", f"{REPORT_NAME}.xml.gz").as_bytes()


def mail_zip(xml: bytes) -> bytes:
    return report_mail(zip_one_member(xml), "application/zip", f"{REPORT_NAME}.zip").as_bytes()


def mail_octet_stream(xml: bytes) -> bytes:
    """Amazon SES style: gzip bytes declared as ``application/octet-stream``."""
    mail = report_mail(gzip_file(xml), "application/octet-stream", f"{REPORT_NAME}.xml.gz")
    return mail.as_bytes()


def mail_text_xml_base64(xml: bytes) -> bytes:
    return report_mail(xml, "text/xml", f"{REPORT_NAME}.xml").as_bytes()


def mail_text_xml_quoted_printable(xml: bytes) -> bytes:
    return report_mail(xml, "text/xml", f"{REPORT_NAME}.xml", cte="quoted-printable").as_bytes()


def mail_whole_body(xml: bytes) -> bytes:
    """Mimecast style: no multipart, the whole message body is the gzip attachment."""
    message = _mail_headers(EmailMessage())
    message.set_content(
        gzip_file(xml), maintype="application", subtype="gzip", filename=f"{REPORT_NAME}.xml.gz"
    )
    return message.as_bytes()


def mail_nested_rfc822(xml: bytes) -> bytes:
    """A forwarded report: the original report mail as a ``message/rfc822`` attachment."""
    outer = EmailMessage()
    outer["From"] = "postmaster@example.com"
    outer["To"] = "dmarc-archive@example.com"
    outer["Subject"] = "Fwd: Report domain: example.com Submitter: google.com"
    outer.set_content("Forwarded report below.\n")
    outer.add_attachment(report_mail(gzip_file(xml), "application/gzip", f"{REPORT_NAME}.xml.gz"))
    outer.set_boundary("=_forward_")
    return outer.as_bytes()


def mbox_file(messages: list[bytes]) -> bytes:
    """An mbox (mboxrd) of ``messages``: each after a ``From `` line, ``From `` quoted."""
    quoted = (re.sub(rb"(?m)^(>*From )", rb">\1", message) for message in messages)
    return b"".join(MBOX_SEPARATOR + message.rstrip(b"\n") + b"\n\n" for message in quoted)


def mbox_of_mails(xml: bytes) -> bytes:
    """A Google Takeout style mbox holding three report mails (gzip, zip, text/xml)."""
    return mbox_file([mail_gzip(xml), mail_zip(xml), mail_text_xml_base64(xml)])


WRAPPERS: dict[str, Callable[[bytes], bytes]] = {
    "bare_xml": lambda xml: xml,
    "gzip": gzip_file,
    "gzip_with_file_name": gzip_with_file_name,
    "gzip_multi_member": gzip_multi_member,
    "gzip_trailing_crlf": gzip_trailing_crlf,
    "gzip_in_gzip": gzip_in_gzip,
    "zlib": zlib_stream,
    "zip_one_member": zip_one_member,
    "zip_three_members": zip_three_members,
    "zip_member_in_subfolder": zip_member_in_subfolder,
    "zip_with_macos_junk": zip_with_macos_junk,
    "mail_gzip": mail_gzip,
    "mail_x_gzip": mail_x_gzip,
    "mail_zip": mail_zip,
    "mail_octet_stream": mail_octet_stream,
    "mail_text_xml_base64": mail_text_xml_base64,
    "mail_text_xml_quoted_printable": mail_text_xml_quoted_printable,
    "mail_whole_body": mail_whole_body,
    "mail_nested_rfc822": mail_nested_rfc822,
    "mbox_of_mails": mbox_of_mails,
}
PAYLOAD_COUNTS: dict[str, int] = {name: 1 for name in WRAPPERS} | {
    "zip_three_members": 3,
    "mbox_of_mails": 3,
}


# --- broken and hostile inputs ---------------------------------------------------------


def gzip_bomb(size: int = 1 << 30) -> bytes:
    """``size`` bytes of zeros (default 1 GiB; a multiple of 1 MiB) as a valid gzip file.

    Built in well under a second and about 1 MB of memory: one MiB of zeros is deflated
    once, ending on a full flush so the block refers to nothing before it, and that block is
    repeated. Only the CRC has to run over all the zeros, a MiB at a time.
    """
    mib = bytes(1 << 20)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflater.compress(mib) + deflater.flush(zlib.Z_FULL_FLUSH)
    final_block = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(mib, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + block * (size >> 20) + final_block + trailer


def _central_directory(data: bytes) -> tuple[int, int]:
    """(offset of the central directory, offset of the end record) of a simple zip."""
    end = data.rfind(b"PK\x05\x06")
    return struct.unpack_from("<I", data, end + 16)[0], end


def zip_with_lying_size(content: bytes, declared: int) -> bytes:
    """A one-member zip whose headers declare ``declared`` bytes instead of the real size."""
    data = bytearray(zip_archive({"report.xml": content}))
    directory, _ = _central_directory(bytes(data))
    struct.pack_into("<I", data, 22, declared)  # local header: uncompressed size
    struct.pack_into("<I", data, directory + 24, declared)  # central directory entry
    return bytes(data)


def zip_with_encrypted_first_member(xml: bytes) -> bytes:
    """Two members; the first has the "encrypted" flag bit set (its data stay plain)."""
    data = bytearray(zip_archive({"secret.xml": xml, "report.xml": xml}))
    directory, _ = _central_directory(bytes(data))
    data[6] |= 0x01  # first local header's flags
    data[directory + 8] |= 0x01  # first central directory entry's flags
    return bytes(data)


def zip_with_overlapping_entries(xml: bytes) -> bytes:
    """Two directory entries that point at the same local header (a quoted-overlap bomb)."""
    data = zip_archive({"a.xml": xml})
    directory, end = _central_directory(data)
    entry = data[directory:end]
    entries = entry + entry.replace(b"a.xml", b"b.xml")
    end_record = bytearray(data[end:])
    struct.pack_into("<HHI", end_record, 8, 2, 2, len(entries))
    return data[:directory] + entries + bytes(end_record)


def zip_with_many_members(count: int, zip64: bool = False, declared: int | None = None) -> bytes:
    """``count`` empty members, written directly (zipfile takes seconds for many thousands).

    ``zip64`` ends the archive with the zip64 records (the end record then says 0xFFFF
    entries); ``declared`` is the entry count the end records give instead of ``count``.
    """
    local, central, offset = [], [], 0
    for number in range(count):
        name = b"%x.xml" % number
        header = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0)
        central.append(
            struct.pack(
                "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0, 0, 0,
                0, 0, offset,
            )  # fmt: skip
            + name
        )
        local.append(header + name)
        offset += len(header) + len(name)
    directory = b"".join(central)
    total = count if declared is None else declared
    tail, short_total, short_offset = b"", total, offset
    if zip64:
        tail = struct.pack(
            "<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, total, total, len(directory), offset
        ) + struct.pack("<4sIQI", b"PK\x06\x07", 0, offset + len(directory), 1)
        short_total, short_offset = 0xFFFF, 0xFFFFFFFF
    end = struct.pack(
        "<4s4H2IH", b"PK\x05\x06", 0, 0, short_total, short_total, len(directory), short_offset, 0
    )
    return b"".join(local) + directory + tail + end


def zip_with_symlink(xml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link.xml", date_time=(2023, 11, 16, 0, 0, 0))
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr(zipfile.ZipInfo("report.xml", date_time=(2023, 11, 16, 0, 0, 0)), xml)
    return buffer.getvalue()


FEEDBACK_REPORT_MAIL = b"""From: dmarc-noreply@linkedin.com
To: dmarc@example.com
Subject: DMARC authentication failure report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b1"

--b1
Content-Type: text/plain

This is an authentication failure report for a message from example.com.
--b1
Content-Type: message/feedback-report

Feedback-Type: auth-failure
User-Agent: Example/1.0
Version: 1
Auth-Failure: dmarc
Reported-Domain: example.com
--b1
Content-Type: text/rfc822-headers

From: someone@example.com
Subject: hello
--b1--
"""

TLS_REPORT_JSON = b"""{
  "organization-name": "Google Inc.",
  "date-range": {"start-datetime": "2023-11-15T00:00:00Z", "end-datetime": "2023-11-15T23:59:59Z"},
  "contact-info": "smtp-tls-reporting@google.com",
  "report-id": "2023-11-15T00:00:00Z_example.com",
  "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.com"},
                "summary": {"total-successful-session-count": 48,
                            "total-failure-session-count": 0}}]
}
"""


def tls_report_mail(report: bytes = TLS_REPORT_JSON) -> bytes:
    """An RFC 8460 report mail: ``multipart/report; report-type=tlsrpt``, gzip attachment."""
    message = EmailMessage()
    message["From"] = "noreply-smtp-tls-reporting@google.com"
    message["To"] = "tls@example.com"
    message["Subject"] = "Report Domain: example.com Submitter: google.com Report-ID: <1>"
    message.set_content("This is an aggregate TLS report from google.com\n")
    message.add_attachment(
        gzip_file(report), maintype="application", subtype="tlsrpt+gzip", filename="r.json.gz"
    )
    message.set_type("multipart/report")
    message.set_param("report-type", "tlsrpt")
    message.set_boundary("=_tls_")
    return message.as_bytes()
