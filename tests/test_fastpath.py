"""The fast path (``fastpath.add_clean_report``) against the reference path.

The reference is ``parse_report`` + ``TableBuilder.add``. Whatever the input, the rows that
reach the store must be identical, issues included; the fast path may only decline (and
leave the report to the reference path). These tests also pin which shapes it takes, so a
change that quietly sends every report down the slow path fails here too.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from dmarc_analytics import synth
from dmarc_analytics.config import Limits
from dmarc_analytics.decode import decode_bytes
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.fastpath import add_clean_report
from dmarc_analytics.flatten import TableBuilder
from dmarc_analytics.model import Payload
from dmarc_analytics.parse import parse_report
from tests.builders import CANONICAL_XML
from tests.support import REPO, corpus_dir

FIXTURES = REPO / "tests" / "fixtures" / "aggregate"
MAX_RECORDS = 1_000_000


def reference_tables(payloads: list[bytes]) -> dict[str, pa.Table]:
    builder = TableBuilder()
    for i, data in enumerate(payloads):
        try:
            report = parse_report(data, max_records=MAX_RECORDS)
        except DmarcAnalyticsError:
            continue
        builder.add(report, f"content-{i}", "input", f"origin-{i}")
    return builder.tables()


def fast_tables(payloads: list[bytes]) -> tuple[dict[str, pa.Table], int]:
    """Tables as the pipeline builds them; also how many reports the fast path took."""
    builder = TableBuilder()
    taken = 0
    for i, data in enumerate(payloads):
        meta = add_clean_report(builder, data, f"content-{i}", "input", f"origin-{i}", MAX_RECORDS)
        if meta is not None:
            taken += 1
            continue
        try:
            report = parse_report(data, max_records=MAX_RECORDS)
        except DmarcAnalyticsError:
            continue
        builder.add(report, f"content-{i}", "input", f"origin-{i}")
    return builder.tables(), taken


def assert_same_tables(payloads: list[bytes]) -> int:
    expected = reference_tables(payloads)
    actual, taken = fast_tables(payloads)
    assert actual.keys() == expected.keys()
    for name, table in expected.items():
        assert actual[name].to_pylist() == table.to_pylist(), name
        assert actual[name].schema == table.schema, name
    return taken


def test_synthetic_reports_all_take_the_fast_path_with_identical_rows():
    reports = list(synth.generate_reports(300, seed=7, records_mean=12))
    payloads = [r.xml for r in reports]
    taken = assert_same_tables(payloads)
    assert taken == len(payloads)
    actual, _ = fast_tables(payloads)
    assert actual["records"].num_rows == sum(r.records for r in reports)
    assert pa.compute.sum(actual["records"]["count"]).as_py() == sum(r.messages for r in reports)


def _payloads_of(path) -> list[bytes]:
    return [
        item.data
        for item in decode_bytes(path.name, path.read_bytes(), Limits())
        if isinstance(item, Payload)
    ]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in FIXTURES.rglob("*") if p.is_file()),
    ids=lambda p: str(p.relative_to(FIXTURES)),
)
def test_every_fixture_gives_the_same_rows_on_both_paths(path):
    assert_same_tables(_payloads_of(path))


def test_real_corpus_gives_the_same_rows_on_both_paths():
    corpus = corpus_dir()
    payloads = [
        data
        for path in sorted((corpus / "aggregate").rglob("*"))
        if path.is_file()
        for data in _payloads_of(path)
    ]
    assert len(payloads) > 10
    taken = assert_same_tables(payloads)
    assert taken > len(payloads) // 2  # real reports are mostly clean


RFC9990_NS = 'xmlns="urn:ietf:params:xml:ns:dmarc-2.0"'
OTHER_NS = 'xmlns="urn:x"'


def variant(*replacements: tuple[str, str]) -> bytes:
    text = CANONICAL_XML.decode()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode()


TAKEN = {
    "canonical": variant(),
    "rfc9990 default namespace": variant(("<feedback>", f"<feedback {RFC9990_NS}>")),
    "override reason with comment": variant(
        (
            "<spf>pass</spf>\n      </policy_evaluated>",
            "<spf>pass</spf><reason><type>forwarded</type><comment>list</comment></reason>"
            "<reason><type>local_policy</type></reason></policy_evaluated>",
        )
    ),  # fmt: skip
    "empty dkim block is nothing reported": variant(("<auth_results>", "<auth_results><dkim/>")),
    "ipv6 written in capitals is canonicalised silently": variant(
        ("192.0.2.10", "2001:DB8:0:0::A")
    ),
    "duplicate element: the last one counts": variant(
        (
            "<source_ip>192.0.2.10</source_ip>",
            "<source_ip>192.0.2.99</source_ip><source_ip>192.0.2.10</source_ip>",
        )
    ),  # fmt: skip
    "unknown extension element is ignored": variant(
        ("<identifiers>", "<x_vendor><a>1</a></x_vendor><identifiers>")
    ),
    "repairs in the report head are made by the shared code": variant(
        ("<domain>example.com</domain>", "<domain>Example.COM.</domain>")
    ),
    "unused prefix declarations (as Microsoft sends)": variant(
        (
            "<feedback>",
            '<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        )
    ),  # fmt: skip
    "a prefix declared on a record, never used": variant(
        ("<record>", '<record xmlns:v="urn:v">')
    ),
    "envelope fields and human results": variant(
        (
            "<header_from>example.com</header_from>",
            "<envelope_to>example.com</envelope_to><header_from>example.com</header_from>"
            "<envelope_from>bounce.example.com</envelope_from>",
        ),
        (
            "<result>pass</result>\n      </dkim>",
            "<result>pass</result><human_result>good sig</human_result></dkim>",
        ),
    ),  # fmt: skip
}
DECLINED = {
    "whitespace around a value": variant(("192.0.2.10", " 192.0.2.10 ")),
    "token in capitals": variant(("<dkim>pass</dkim>", "<dkim>PASS</dkim>")),
    "spf hardfail": variant(("<result>softfail</result>", "<result>hardfail</result>")),
    "domain with trailing dot": variant(
        ("<header_from>example.com</header_from>", "<header_from>example.com.</header_from>")
    ),
    "identities alias": variant(
        ("<identifiers>", "<identities>"), ("</identifiers>", "</identities>")
    ),
    "missing header_from": variant(("<header_from>example.com</header_from>", "")),
    "empty reason type": variant(
        ("<spf>pass</spf>\n      </policy_evaluated>",
         "<spf>pass</spf><reason><type/></reason></policy_evaluated>")
    ),  # fmt: skip
    "invalid source ip": variant(("192.0.2.10", "192.0.2.300")),
    "count with a plus sign": variant(("<count>3</count>", "<count>+3</count>")),
    "internationalised domain in unicode": variant(
        ("<header_from>example.com</header_from>", "<header_from>bücher.example</header_from>")
    ),
    "count written with ten digits": variant(("<count>3</count>", "<count>0000000003</count>")),
    "count above the most a record may count": variant(
        ("<count>3</count>", "<count>2147483648</count>")
    ),
    "rfc9990 dkim without selector": variant(
        ("<feedback>", f"<feedback {RFC9990_NS}>"), ("<selector>s1</selector>", "")
    ),
    "prefixed namespace": variant(
        ("<feedback>", '<d:feedback xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0">'),
        ("</feedback>", "</d:feedback>"),
    ),
    "two namespaces": variant(
        ("<feedback>", f"<feedback {RFC9990_NS}>"), ("<auth_results>", f"<auth_results {OTHER_NS}>")
    ),
    "namespace declared below feedback": variant(("<auth_results>", f"<auth_results {OTHER_NS}>")),
    "element of another namespace where a known name is read": variant(
        ("<identifiers>", '<identifiers><v:envelope_to xmlns:v="urn:v">x.example</v:envelope_to>')
    ),
    "element of another namespace among the metadata": variant(
        ("</org_name>", '</org_name><v:org_name xmlns:v="urn:v">other</v:org_name>')
    ),
    "element of another namespace in the date range": variant(
        ("</begin>", '</begin><v:end xmlns:v="urn:v">1</v:end>')
    ),
    "section of another namespace": variant(
        ("<policy_published>", '<v:policy_published xmlns:v="urn:v"/><policy_published>')
    ),
    "broken xml (recovered)": variant(("</org_name>", "</org_nam>")),
    "record without source ip": variant(("<source_ip>192.0.2.10</source_ip>", "")),
    "not a report": b"<html><body>hello</body></html>",
}  # fmt: skip


@pytest.mark.parametrize("name", TAKEN)
def test_clean_shapes_take_the_fast_path(name):
    assert assert_same_tables([TAKEN[name]]) == 1


@pytest.mark.parametrize("name", DECLINED)
def test_shapes_needing_repair_or_refusal_are_left_to_the_reference_path(name):
    assert assert_same_tables([DECLINED[name]]) == 0


def test_a_declined_report_leaves_nothing_behind_in_the_builder():
    builder = TableBuilder()
    late_unclean = variant(("198.51.100.7", " 198.51.100.7"))  # record 2 of 2 is unclean
    assert add_clean_report(builder, late_unclean, "c", "i", "o", MAX_RECORDS) is None
    assert builder.count == 0
    assert all(not rows for rows in builder.rows.values())


def test_rows_stay_identical_when_the_shared_caches_overflow(monkeypatch):
    from dmarc_analytics import fastpath

    monkeypatch.setattr(fastpath, "_CACHE_LIMIT", 2)
    for cache in ("_IPS", "_DOMAINS", "_TEXTS", "_SUMMARIES"):  # not earlier tests' entries
        monkeypatch.setattr(fastpath, cache, {})
    reports = [r.xml for r in synth.generate_reports(20, seed=11, records_mean=15)]
    assert assert_same_tables(reports) == len(reports)
    assert len(fastpath._IPS) <= 2 and len(fastpath._DOMAINS) <= 2
    assert all(len(summaries) <= 2 for summaries in fastpath._SUMMARIES.values())


def _worker_parts_and_tables(name: str, data: bytes):  # type: ignore[no-untyped-def]
    from dmarc_analytics.recognise import WorkerContext
    from dmarc_analytics.worker import process_blob

    builder = TableBuilder()
    result = process_blob(name, data, WorkerContext(Limits(), None, {}), builder)
    parts = [(p.origin, p.reason, None if p.report is None else p.report.records)
             for p in result.parts]  # fmt: skip
    return parts, builder.tables()


def _decoded_then_parsed(name: str, data: bytes):  # type: ignore[no-untyped-def]
    """What decode's own split and the reference path make of an input."""
    builder = TableBuilder()
    parts = []
    for item in decode_bytes(name, data, Limits()):
        if not isinstance(item, Payload):
            parts.append((item.origin, item.reason, None))
            continue
        try:
            report = parse_report(item.data, item.origin, notes=item.notes)
        except DmarcAnalyticsError as exc:
            parts.append((item.origin, str(exc), None))
            continue
        content = hashlib.sha256(item.data).hexdigest()
        builder.add(report, content, hashlib.sha256(data).hexdigest(), item.origin)
        parts.append((item.origin, None, len(report.records)))
    return parts, builder.tables()


def _document(report_id: str) -> bytes:
    return CANONICAL_XML.replace(b"<report_id>", f"<report_id>{report_id}".encode(), 1)


SPLITS = {
    "one document": _document("a"),
    "two documents one after the other": _document("a") + b"\n" + _document("b"),
    "two reports in a wrapper": b"<reports>" + b"".join(
        d.split(b"?>", 1)[1] for d in (_document("a"), _document("b"))
    ) + b"</reports>",
    "one report in a wrapper": b"<reports>" + _document("a").split(b"?>", 1)[1] + b"</reports>",
    "one document the fast path declines": variant(("192.0.2.10", " 192.0.2.10 ")),
    "broken document": variant(("</org_name>", "</org_nam>")),
}  # fmt: skip


@pytest.mark.parametrize("name", SPLITS)
def test_workers_split_a_payload_only_when_it_holds_several_documents(name):
    # The workers ask decode for XML payloads whole (``split=False``): a single <feedback>
    # document taken by the fast path is never scanned for others. The parts and rows must
    # be those of decode's own split followed by the reference path.
    data = SPLITS[name]
    parts, tables = _worker_parts_and_tables("input.xml", data)
    expected_parts, expected_tables = _decoded_then_parsed("input.xml", data)
    assert parts == expected_parts
    for table, rows in expected_tables.items():
        assert tables[table].to_pylist() == rows.to_pylist(), table
