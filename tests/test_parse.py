"""parse_report: XML bytes -> AggregateReport, exactly, safely, with every quirk flagged.

Fixtures are described in tests/fixtures/README.md. The corpus tests compare with
parsedmarc 11.1.0's reading (``parsedmarc-oracle.jsonl``); where we disagree on purpose,
the test says why.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dmarc_analytics.errors import LimitExceeded, NotAggregateReport, ParseError, UnsafeXmlError
from dmarc_analytics.fastpath import add_clean_report
from dmarc_analytics.flatten import TableBuilder
from dmarc_analytics.model import (
    AggregateReport,
    DkimResult,
    OverrideReason,
    Record,
    ReportFormat,
    SpfResult,
)
from dmarc_analytics.parse import parse_report
from dmarc_analytics.parse_fields import IssueLog
from dmarc_analytics.parse_records import new_record
from dmarc_analytics.parse_xml import read_feedback
from tests.conftest import require_corpus

FIXTURES = Path(__file__).parent / "fixtures" / "aggregate"
SEVERITIES = {"info", "warning", "error"}


def parse_fixture(name: str, **options) -> AggregateReport:
    return parse_report((FIXTURES / name).read_bytes(), name, **options)


def codes(report: AggregateReport) -> set[str]:
    return {issue.code for issue in report.issues}


def issue(report: AggregateReport, code: str):
    (found,) = [i for i in report.issues if i.code == code]
    return found


def minimal_report(records: str = "", feedback: str = "<feedback>", policy: str = "") -> bytes:
    """A small valid report; ``records`` replaces the default one record."""
    record = records or (
        "<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>"
        "</row><identifiers><header_from>example.com</header_from></identifiers>"
        "<auth_results><spf><domain>example.com</domain><result>pass</result></spf>"
        "</auth_results></record>"
    )
    close = "</" + feedback[1:].split()[0].rstrip(">") + ">"
    return (
        f"{feedback}<version>1.0</version><report_metadata><org_name>r.example</org_name>"
        "<email>d@r.example</email><report_id>id-1</report_id><date_range>"
        "<begin>1700006400</begin><end>1700092799</end></date_range></report_metadata>"
        f"<policy_published><domain>example.com</domain><p>none</p>{policy}"
        f"</policy_published>{record}{close}"
    ).encode()


# ---------------------------------------------------------------------------------------
# Well-formed reports of each shape


def test_google_shaped_rfc7489_report_is_read_exactly():
    report = parse_fixture("rfc7489/google.com!example.com!1718236800!1718323199.xml")
    assert (report.format, report.version, report.partial, report.issues) == (
        ReportFormat.RFC7489,
        "1.0",
        False,
        (),
    )
    meta = report.metadata
    assert (meta.org_name, meta.email, meta.report_id, meta.begin, meta.end) == (
        "google.com",
        "noreply-dmarc-support@google.com",
        "5717107811868587391",
        1718236800,
        1718323199,
    )
    assert meta.extra_contact_info == "https://support.google.com/a/answer/2466580"
    assert (meta.generator, meta.errors) == (None, ())
    assert [(r.source_ip, r.count, r.disposition, r.dkim, r.spf) for r in report.records] == [
        ("209.85.220.41", 12, "none", "pass", "pass"),
        ("2a00:1450:4864:20::45", 3, "none", "pass", "fail"),
        ("198.51.100.7", 1, "quarantine", "fail", "fail"),
        ("2001:db8::1", 5, "none", "fail", "pass"),
    ]
    assert report.message_count == 21
    assert sum(r.count for r in report.records if r.dmarc_pass) == 20
    first = report.records[0]
    assert first.dkim_results == (
        DkimResult("example.com", "google", "pass"),
        DkimResult("esp.example.net", "s1", "pass"),
    )
    assert first.spf_results == (SpfResult("example.com", None, "pass"),)
    assert (first.header_from, first.envelope_from, first.envelope_to) == (
        "example.com",
        None,
        None,
    )
    assert report.records[2].dkim_results == ()
    assert [len(r.dkim_results) for r in report.records] == [2, 1, 0, 2]


def test_outlook_shaped_report_with_schema_prefixes():
    report = parse_fixture("rfc7489/protection.outlook.com!example.org!1711756800!1711843200.xml")
    assert (report.format, report.issues, report.message_count) == (ReportFormat.RFC7489, (), 9)
    # The reporter's words are kept (parsedmarc would lower-case this to outlook.com).
    assert report.metadata.org_name == "Outlook.com"
    assert report.identity.org_name == "outlook.com"
    assert not report.spans_multiple_days  # exactly 86400 s
    policy = report.policy
    assert (policy.domain, policy.p, policy.sp, policy.pct, policy.adkim, policy.aspf) == (
        "example.org",
        "reject",
        "quarantine",
        50,
        "s",
        "r",
    )
    assert (policy.fo, policy.np, policy.effective_np) == ("1", None, "quarantine")
    second = report.records[1]
    assert (second.envelope_to, second.envelope_from, second.header_from) == (
        "outlook.com",
        "spoof.example.net",
        "example.org",
    )
    assert second.spf_results == (SpfResult("spoof.example.net", "mfrom", "fail"),)


def test_rfc9990_namespaced_report_keeps_every_field():
    report = parse_fixture("rfc9990/example.net!example.com!1700000000!1700086399.xml")
    assert (report.format, report.version, codes(report)) == (
        ReportFormat.RFC9990,
        "1.0",
        {"bracketed-report-id"},
    )
    meta = report.metadata
    assert meta.generator == "Example Reporter 2.4.1"
    assert meta.errors == ("rua URI mailto:bad@ has no domain",)
    assert meta.extra_contact_info == "https://example.net/postmaster"
    assert meta.report_id == "<a1b2c3.d4e5@example.net>"  # as reported
    assert report.identity.report_id == "a1b2c3.d4e5@example.net"
    policy = report.policy
    assert (policy.p, policy.sp, policy.np, policy.testing, policy.discovery_method) == (
        "reject",
        "quarantine",
        "reject",
        "n",
        "treewalk",
    )
    assert (policy.pct, policy.effective_pct) == (None, 100)
    passed, listed = report.records
    assert (passed.disposition, passed.count, passed.envelope_to) == ("pass", 40, "example.net")
    assert passed.dkim_results == (DkimResult("example.com", "2024a", "pass", "2048-bit RSA key"),)
    assert passed.spf_results == (
        SpfResult("example.com", "mfrom", "pass", "matched ip4:192.0.2.0/24"),
    )
    assert listed.reasons == (
        OverrideReason("mailing_list", "list traffic from lists.example.org"),
        OverrideReason("local_policy", None),
    )
    assert listed.envelope_from is None  # present but empty: null reverse-path
    assert listed.dkim_results[1] == DkimResult(
        "example.com", "2024a", "fail", "body hash did not verify"
    )
    assert listed.spf_results == (SpfResult("lists.example.org", "mfrom", "policy"),)
    assert report.message_count == 43


@pytest.mark.parametrize(
    ("name", "version", "policy_fields", "messages"),
    [
        (
            "rfc9990/example.org!example.com!1700000000!1700086399.xml",
            "1.0",
            ("quarantine", None, "reject", "y", "psl"),
            4,
        ),
        ("rfc9990/draft-namespace-0.2.xml", "2.0", ("none", None, None, None, None), 9),
    ],
)
def test_rfc9990_shapes_without_the_9990_namespace(name, version, policy_fields, messages):
    report = parse_fixture(name)
    assert (report.format, report.version, report.issues, report.message_count) == (
        ReportFormat.RFC9990,
        version,
        (),
        messages,
    )
    policy = report.policy
    assert (policy.p, policy.sp, policy.np, policy.testing, policy.discovery_method) == (
        policy_fields
    )


def test_pre_rfc_draft_report():
    report = parse_fixture("draft/acme.example!example.com!1335571200!1335657599.xml")
    assert (report.format, report.version, report.issues) == (ReportFormat.DRAFT, None, ())
    (record,) = report.records
    # Empty <human_result/> is absent; a missing selector is normal outside RFC 9990.
    assert record.dkim_results == (DkimResult("example.com", None, "fail", None),)
    assert (record.count, record.dmarc_pass) == (2, True)


# ---------------------------------------------------------------------------------------
# Quirks: each is normalised and flagged, with exact values


def _first(report):
    return report.records[0]


QUIRKS = [
    # (fixture, issue codes, what to look at, expected value)
    (
        "uppercase_tokens.xml",
        {"token-case"},
        lambda r: (
            r.policy.domain,
            r.policy.p,
            r.policy.sp,
            _first(r).disposition,
            _first(r).dkim,
            _first(r).spf,
            _first(r).header_from,
            _first(r).dkim_results,
            _first(r).spf_results,
        ),
        (
            "example.com",
            "reject",
            "none",
            "none",
            "pass",
            "pass",
            "example.com",
            (DkimResult("example.com", "S1", "pass"),),
            (SpfResult("example.com", "mfrom", "pass"),),
        ),
    ),
    (
        "whitespace.xml",
        {"whitespace"},
        lambda r: (
            r.metadata.org_name,
            r.metadata.report_id,
            r.metadata.begin,
            r.metadata.end,
            _first(r).source_ip,
            _first(r).count,
            _first(r).disposition,
            _first(r).header_from,
        ),
        (
            "reporter.example",
            "quirk-0002",
            1700006400,
            1700092799,
            "192.0.2.1",
            3,
            "none",
            "example.com",
        ),
    ),
    (
        "spf_hardfail.xml",
        {"spf-hardfail"},
        lambda r: _first(r).spf_results,
        (SpfResult("example.com", "mfrom", "fail"),),
    ),
    (
        "empty_reason_type.xml",
        {"empty-reason-type"},
        lambda r: _first(r).reasons,
        (OverrideReason("other", None), OverrideReason("other", "arc=pass")),
    ),
    (
        "identities_alias.xml",
        {"identities-alias"},
        lambda r: (_first(r).header_from, _first(r).envelope_from),
        ("example.com", "example.com"),
    ),
    (
        "bracketed_report_id.xml",
        {"bracketed-report-id"},
        lambda r: (r.metadata.report_id, r.identity.report_id),
        ("<20231115.abc@reporter.example>", "20231115.abc@reporter.example"),
    ),
    (
        "timestamps_milliseconds.xml",
        {"timestamp-milliseconds"},
        lambda r: (r.metadata.begin, r.metadata.end),
        (1700006400, 1700092799),
    ),
    (
        "timestamps_fraction.xml",
        {"timestamp-fraction"},
        lambda r: (r.metadata.begin, r.metadata.end),
        (1700006400, 1700092799),
    ),
    ("bom_leading_whitespace.xml", {"leading-bytes"}, lambda r: len(r.records), 1),
    ("bom_only.xml", set(), lambda r: len(r.records), 1),
    ("no_xml_declaration.xml", set(), lambda r: (r.format, len(r.records)), ("rfc7489", 1)),
    (
        "empty_sp_fo.xml",
        set(),
        lambda r: (
            r.policy.sp,
            r.policy.effective_sp,
            r.policy.fo,
            r.policy.effective_fo,
            _first(r).dkim_results[0].human_result,
            _first(r).spf_results[0].human_result,
        ),
        (None, "quarantine", None, "0", None, None),
    ),
    (
        "missing_selector_rfc9990.xml",
        {"missing-dkim-selector"},
        lambda r: (r.format, [d.selector for d in _first(r).dkim_results]),
        ("rfc9990", [None, None]),
    ),
    (
        "missing_selector_rfc7489.xml",
        set(),
        lambda r: [d.selector for d in _first(r).dkim_results],
        [None],
    ),
    (
        "invalid_source_ip.xml",
        {"invalid-source-ip", "ipv4-mapped-ip"},
        lambda r: [(x.source_ip, x.count) for x in r.records],
        [("192.0.2.300", 2), ("not-an-ip", 1), ("010.0.0.1", 1), ("192.0.2.1", 1)],
    ),
    (
        "empty_record.xml",
        {"empty-record-skipped"},
        lambda r: (r.records, r.message_count, r.policy.domain),
        ((), 0, "example.com"),
    ),
    (
        "multi_day_span.xml",
        {"multi-day-span"},
        lambda r: (r.spans_multiple_days, r.metadata.end - r.metadata.begin),
        (True, 7 * 86400 - 1),
    ),
    (
        "inverted_date_range.xml",
        {"inverted-date-range"},
        lambda r: (r.metadata.begin, r.metadata.end),
        (1700092799, 1700006400),
    ),
    (
        "date_before_dmarc.xml",
        {"date-before-dmarc"},
        lambda r: (r.metadata.begin_utc.isoformat(), r.issues[0].severity, r.message_count),
        ("1979-08-07T00:00:00+00:00", "warning", 1),
    ),
    (
        "domain_trailing_dot.xml",
        {"domain-trailing-dot"},
        lambda r: (r.policy.domain, _first(r).header_from, _first(r).envelope_from),
        ("example.com", "example.com", "bounce.example.com"),
    ),
    (
        "unknown_tokens.xml",
        {"unknown-token"},
        lambda r: (
            r.policy.p,
            r.policy.effective_p,
            _first(r).disposition,
            _first(r).dkim,
            _first(r).reasons,
            _first(r).dkim_results[0].result,
            _first(r).spf_results[0].scope,
        ),
        (
            "monitor",
            "monitor",
            "deliver",
            "neutral",
            (OverrideReason("arc_override"),),
            "invalid",
            "pra",
        ),
    ),
    (
        "disposition_pass_rfc7489.xml",
        set(),
        lambda r: (r.format, _first(r).disposition, _first(r).dmarc_pass),
        ("rfc7489", "pass", True),
    ),
    (
        "empty_org_name.xml",
        {"empty-org-name"},
        lambda r: (r.metadata.org_name, r.identity.org_name),
        ("", ""),
    ),
    (
        "wrapped_feedback.xml",
        {"wrapped-feedback"},
        lambda r: (r.partial, len(r.records)),
        (False, 1),
    ),
    (
        "recovered_raw_lt.xml",
        {"recovered-xml"},
        lambda r: (r.partial, len(r.records), r.message_count, _first(r).reasons[0].type),
        (True, 2, 10, "local_policy"),
    ),
    (
        "recovered_unclosed_wrapper.xml",
        {"recovered-xml"},
        lambda r: (r.partial, len(r.records), r.message_count),
        (True, 1, 5),
    ),
    (
        "recovered_truncated.xml",
        {"recovered-xml", "damaged-record-skipped"},
        lambda r: (r.partial, [x.count for x in r.records]),
        (True, [2]),
    ),
]


@pytest.mark.parametrize(
    ("name", "issue_codes", "look", "expected"), QUIRKS, ids=[q[0] for q in QUIRKS]
)
def test_quirk_is_normalised_and_flagged(name, issue_codes, look, expected):
    report = parse_fixture(f"quirks/{name}")
    assert codes(report) == issue_codes
    assert look(report) == expected


@pytest.mark.parametrize(
    ("name", "code", "severity", "message"),
    [
        (
            "whitespace.xml",
            "whitespace",
            "info",
            "Removed whitespace around values (8 values, first at report_metadata/org_name "
            '"  reporter.example \\n")',
        ),
        (
            "unknown_tokens.xml",
            "unknown-token",
            "warning",
            "Kept values outside the RFC's set as reported (6 values, first at "
            'policy_published/p "monitor")',
        ),
        (
            "invalid_source_ip.xml",
            "invalid-source-ip",
            "warning",
            "Kept source IPs that are not valid IP addresses (3 records, first at "
            'record[1]/row/source_ip "192.0.2.300")',
        ),
        (
            "missing_selector_rfc9990.xml",
            "missing-dkim-selector",
            "warning",
            "DKIM results without the selector that RFC 9990 requires (2 results, first at "
            "record[1]/auth_results/dkim/selector)",
        ),
        (
            "empty_record.xml",
            "empty-record-skipped",
            "warning",
            "Skipped records with no data (no source IP) (1 record, first at record[1]/row)",
        ),
        (
            "bom_leading_whitespace.xml",
            "leading-bytes",
            "info",
            "Ignored 5 whitespace bytes before the XML document",
        ),
        (
            "multi_day_span.xml",
            "multi-day-span",
            "info",
            "The report covers 7.0 days (2023-11-15 to 2023-11-21), more than one day",
        ),
        (
            "recovered_unclosed_wrapper.xml",
            "recovered-xml",
            "warning",
            "The XML is not well-formed (Premature end of data in tag schema line 1, line 48, "
            "column 1); the report was read in recovery mode and may be incomplete",
        ),
    ],
)
def test_issue_messages_count_occurrences_and_name_the_first(name, code, severity, message):
    found = issue(parse_fixture(f"quirks/{name}"), code)
    assert (found.severity, found.message) == (severity, message)


def test_every_issue_is_one_line_with_a_known_severity():
    for path in sorted(FIXTURES.glob("*/*")):
        if path.parent.name == "invalid":
            continue
        report = parse_report(path.read_bytes())
        for found in report.issues:
            assert found.severity in SEVERITIES, (path.name, found)
            assert "\n" not in found.message and found.message, (path.name, found)


# ---------------------------------------------------------------------------------------
# Refused inputs


INVALID = [
    ("xxe_doctype.xml", UnsafeXmlError, "DOCTYPE or entity declaration", {}),
    ("billion_laughs.xml", UnsafeXmlError, "DOCTYPE or entity declaration", {}),
    ("doctype_after_long_comment.xml", UnsafeXmlError, "refused for safety", {}),
    (
        "not_feedback_root.xml",
        NotAggregateReport,
        "XML document with root element <report>, not a DMARC aggregate report",
        {},
    ),
    ("smtp_tls_report.json", NotAggregateReport, "SMTP TLS report", {}),
    ("unused.xml", NotAggregateReport, '"unused"', {}),
    ("missing_report_metadata.xml", ParseError, "feedback/report_metadata", {}),
    ("missing_policy_published.xml", ParseError, "feedback/policy_published", {}),
    ("missing_policy_domain.xml", ParseError, "policy_published/domain", {}),
    ("missing_report_id.xml", ParseError, "report_metadata/report_id", {}),
    (
        "begin_not_integer.xml",
        ParseError,
        "report_metadata/date_range/begin is not a whole number of seconds",
        {},
    ),
    (
        "non_integer_count.xml",
        ParseError,
        'record[2]/row/count is not a whole number: "many"',
        {},
    ),
    ("negative_count.xml", ParseError, 'record[1]/row/count is negative: "-3"', {}),
    (
        "count_too_large.xml",
        ParseError,
        'record[1]/row/count "2147483648" is more than 2,147,483,647 messages',
        {},
    ),
    ("count_5000_digits.xml", ParseError, 'count "999999999', {}),
    ("missing_count.xml", ParseError, "record[1]/row/count is missing", {}),
    ("three_records.xml", LimitExceeded, "more than 2 records", {"max_records": 2}),
    ("broken_beyond_recovery.xml", ParseError, "report_metadata", {}),
    ("garbage_bytes.xml", ParseError, "Not readable as XML", {}),
]


@pytest.mark.parametrize(
    ("name", "error", "words", "options"), INVALID, ids=[i[0] for i in INVALID]
)
def test_invalid_input_is_refused_with_a_clear_one_line_message(name, error, words, options):
    with pytest.raises(error) as raised:
        parse_fixture(f"invalid/{name}", **options)
    message = str(raised.value)
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (
            b"<html><body><p>Error<br></body></html>",
            NotAggregateReport,
            "XML document with root element <html>, not a DMARC aggregate report (and not "
            "well-formed: Opening and ending tag mismatch: br line 1 and body, line 1, column 32)",
        ),
        (
            b"<feedback><report_metadata><org_name>x</org_name>",
            ParseError,
            "The report has no <policy_published> section (feedback/policy_published is "
            "required); the XML is broken and only partly recoverable",
        ),
    ],
)
def test_broken_xml_without_a_usable_report(data, error, message):
    with pytest.raises(error) as raised:
        parse_report(data)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "end",
    [b"9" * 20, b"7258118400", b"7258118400000", b"253402300799999"],  # last: ms in 9999
)
def test_a_timestamp_after_the_year_2199_is_refused(end):
    # A begin in 9999 once made the rollup refresh fail on every later run.
    data = minimal_report().replace(b"<end>1700092799</end>", b"<end>" + end + b"</end>")
    with pytest.raises(ParseError, match="date_range/end is not a plausible timestamp"):
        parse_report(data)


def test_a_period_that_begins_after_it_was_read_is_flagged(monkeypatch):
    from dmarc_analytics import fastpath, parse
    from dmarc_analytics.flatten import TableBuilder

    data = minimal_report().replace(b"<begin>1700006400</begin>", b"<begin>4102444800</begin>")
    data = data.replace(b"<end>1700092799</end>", b"<end>4102531199</end>")  # 2100-01-01
    report = parse_report(data)
    assert [(i.code, i.severity) for i in report.issues] == [("date-in-future", "warning")]
    assert report.issues[0].message.startswith("The report period begins on 2100-01-01, after")
    # The same on the fast path, and nothing once the clock has reached the period.
    assert fastpath.add_clean_report(TableBuilder(), data, "", "", "x", 100) is not None
    monkeypatch.setattr(parse.time, "time", lambda: 4_102_444_800.0)
    assert parse_report(data).issues == ()


def test_the_last_second_of_2199_is_still_read():
    data = minimal_report().replace(b"<end>1700092799</end>", b"<end>7258118399000</end>")
    assert parse_report(data).metadata.end == 7_258_118_399


def test_a_number_of_thousands_of_digits_is_refused_like_a_long_one():
    # Python's int() refuses more than 4,300 digits with an error no rule expected.
    long_begin = minimal_report().replace(b"<begin>1700006400<", b"<begin>" + b"1" * 5000 + b"<")
    with pytest.raises(ParseError, match="date_range/begin is not a plausible timestamp"):
        parse_report(long_begin)
    report = parse_report(minimal_report(policy="<pct>" + "1" * 5000 + "</pct>"))
    assert report.policy.pct is None
    assert issue(report, "invalid-value").path == "policy_published/pct"
    assert parse_report(minimal_report(policy="<pct>0050</pct>")).policy.pct == 50


@pytest.mark.parametrize("record", ["<record/>", "<record />", "<d:record/>"])
def test_a_flood_of_empty_records_is_refused_before_the_tree_is_built(record):
    data = minimal_report(records=record * 2_000_000)
    start = time.perf_counter()
    with pytest.raises(LimitExceeded, match="more than 1,000 records"):
        parse_report(data, max_records=1000)
    assert time.perf_counter() - start < 0.5


def test_internationalised_domain_names_are_stored_in_their_ascii_form():
    # One name, two spellings: the Unicode header_from and the DKIM d= in ASCII align.
    records = (
        "<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>"
        "</row><identifiers><header_from>Bücher.example</header_from></identifiers>"
        "<auth_results><dkim><domain>xn--bcher-kva.example</domain><result>pass</result>"
        "</dkim><spf><domain>mail.bücher.example</domain><result>pass</result></spf>"
        "</auth_results></record>"
    )
    report = parse_report(minimal_report(records=records))
    (record,) = report.records
    assert record.header_from == "xn--bcher-kva.example"
    assert record.spf_results[0].domain == "mail.xn--bcher-kva.example"
    assert issue(report, "idn-ascii").path == "record[1]/identifiers/header_from"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("bad_byte\u2018", "bad_byte\u2018"),  # damaged bytes: no made-up xn-- name
        ("a b.example", "a b.example"),  # nor a space
        # characters IDNA allows in context: a joiner (Persian), a middle dot (Catalan l·l)
        ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.ir", "xn--mgbn2ecje63g.ir"),
        ("l\u00b7l.cat", "xn--ll-0ea.cat"),
        ("i\u2764.ws", "xn--i-7iq.ws"),  # emoji domains exist
        ("例え。jp", "xn--r8jz45g.jp"),  # an ideographic full stop is IDNA's "."
        ("Bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_punctuation_spaces_and_controls_make_no_internationalised_name(raw, stored):
    records = (
        "<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>"
        f"</row><identifiers><header_from>{raw}</header_from></identifiers></record>"
    )
    (record,) = parse_report(minimal_report(records=records)).records
    assert record.header_from == stored


def test_a_flood_of_any_element_is_refused_before_the_tree_is_built():
    # 2M empty extension elements: the tree would take about 30 times the XML's size.
    data = minimal_report().replace(b"<email>", b"<x>" + b"<y/>" * 2_000_000 + b"</x><email>")
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as raised:
        parse_report(data, max_tags=1_000_000)
    assert time.perf_counter() - start < 0.5
    assert str(raised.value) == (
        "The report has 2,000,054 XML tags, more than the limit of 1,000,000 (max_xml_tags; "
        "about 25,000 records); reading it would take about 0.3 GB of memory"
    )
    assert parse_report(minimal_report(), max_tags=52).message_count == 2  # the limit itself


@pytest.mark.parametrize(
    ("bulk", "detail"),
    [
        (b"<x>" * 300 + b"</x>" * 300, "Excessive depth in document: 256, line 1"),
        (b"<x>" + b"y" * (11 << 20) + b"</x>", "Resource limit exceeded: Text node too long"),
    ],
)
def test_xml_past_the_parser_safety_limits_is_refused_as_such(bulk, detail):
    # Recovery used to read such a report partly and blame a missing section.
    data = minimal_report().replace(b"<email>", bulk + b"<email>")
    with pytest.raises(LimitExceeded) as raised:
        parse_report(data)
    assert str(raised.value).startswith(f"The XML goes past the parser's safety limits ({detail}")
    assert "XML_PARSE_HUGE" not in str(raised.value)


def test_a_reference_to_a_character_xml_forbids_is_replaced_and_flagged():
    # libxml2's recovery keeps &#xD800; as bytes that are not UTF-8, on which lxml raised.
    data = minimal_report().replace(b"<org_name>r.example", b"<org_name>Evil &#xD800; Org")
    report = parse_report(data)
    assert report.partial
    assert report.metadata.org_name.startswith("Evil \ufffd")
    assert issue(report, "undecodable-bytes").path == "report_metadata/org_name"
    assert report.message_count == 2


def test_unsafe_error_is_a_parse_error_and_limits_are_not():
    assert issubclass(UnsafeXmlError, ParseError)
    assert not issubclass(LimitExceeded, ParseError)


def test_billion_laughs_is_refused_fast_even_without_the_head_check():
    data = (FIXTURES / "invalid/billion_laughs.xml").read_bytes()
    padded = data.replace(b"<!DOCTYPE", b"<!--" + b" " * 5000 + b"-->\n<!DOCTYPE", 1)
    for payload in (data, padded):
        start = time.perf_counter()
        with pytest.raises(UnsafeXmlError):
            parse_report(payload)
        assert time.perf_counter() - start < 1.0


def test_doctype_in_utf16_is_caught_by_the_parser_level_check():
    text = (FIXTURES / "invalid/xxe_doctype.xml").read_text()
    text = text.replace('version="1.0"', 'version="1.0" encoding="UTF-16"', 1)
    with pytest.raises(UnsafeXmlError):
        parse_report(text.encode("utf-16"))


def test_utf16_report_is_read():
    declaration = '<?xml version="1.0" encoding="UTF-16"?>\n'
    text = declaration + minimal_report().decode()
    assert parse_report(text.encode("utf-16")).message_count == 2


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        (b"\x00\x00--\r\n", "Ignored 6 stray bytes before the XML document"),
        (b"\xef\xbb\xbf \n", "Ignored 2 whitespace bytes before the XML document"),
    ],
)
def test_a_little_junk_before_the_document_is_skipped_and_flagged(prefix, message):
    report = parse_report(prefix + minimal_report())
    assert (report.message_count, issue(report, "leading-bytes").message) == (2, message)


def test_junk_far_from_the_document_start_is_not_skipped():
    with pytest.raises(ParseError):
        parse_report(b"x" * 100 + minimal_report())


@pytest.mark.parametrize("data", [b"", b"  \r\n ", b"\xef\xbb\xbf"])
def test_empty_input_is_a_parse_error(data):
    with pytest.raises(ParseError, match="empty"):
        parse_report(data)


def test_max_records_is_the_largest_allowed_count():
    data = (FIXTURES / "invalid/three_records.xml").read_bytes()
    assert len(parse_report(data, max_records=3).records) == 3
    with pytest.raises(LimitExceeded):
        parse_report(data, max_records=0)


def test_origin_is_not_repeated_in_messages():
    with pytest.raises(ParseError) as raised:
        parse_report(b"", origin="mail.mbox/message 3/report.xml")
    assert "mail.mbox" not in str(raised.value)


# ---------------------------------------------------------------------------------------
# Structure: namespaces, extensions, recovery details


def test_prefixed_namespace_and_extension_elements_are_read_by_local_name():
    plain = parse_report(minimal_report())
    record = (
        '<d:record><d:row><d:source_ip>192.0.2.1</d:source_ip><x:note xmlns:x="urn:x">'
        "<x:count>9</x:count></x:note><d:count>2</d:count><d:policy_evaluated>"
        "<d:disposition>none</d:disposition><d:dkim>pass</d:dkim><d:spf>pass</d:spf>"
        "</d:policy_evaluated></d:row><d:identifiers><d:header_from>example.com</d:header_from>"
        "</d:identifiers><d:auth_results><d:spf><d:domain>example.com</d:domain>"
        "<d:result>pass</d:result></d:spf></d:auth_results></d:record>"
    )
    data = minimal_report(
        records=record, feedback='<d:feedback xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0">'
    )
    text = data.decode()
    for name in (
        "version",
        "report_metadata",
        "org_name",
        "email",
        "report_id",
        "date_range",
        "begin",
        "end",
        "policy_published",
        "domain",
        "p",
    ):
        text = text.replace(f"<{name}>", f"<d:{name}>").replace(f"</{name}>", f"</d:{name}>")
    namespaced = parse_report(text.encode())
    assert namespaced.format == ReportFormat.RFC9990
    assert namespaced.records == plain.records
    assert (namespaced.metadata, namespaced.policy) == (plain.metadata, plain.policy)


def test_recovered_entity_reference_damages_only_its_value():
    # An undefined entity (no DTD) breaks strict parsing; recovery keeps the report.
    data = minimal_report().replace(b"r.example</org_name>", b"AT&nbsp;T</org_name>")
    report = parse_report(data)
    assert report.partial
    assert codes(report) == {"recovered-xml", "damaged-value", "empty-org-name"}
    assert report.metadata.org_name == ""
    assert report.message_count == 2


def _record(ip: str, count: str, close_count: bool = True) -> str:
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{count}"
        f"{'</count>' if close_count else ''}<policy_evaluated><disposition>none</disposition>"
        "<dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers>"
        "<header_from>example.com</header_from></identifiers></record>"
    )


def test_records_that_broken_markup_nests_in_a_value_are_read():
    # libxml2's recovery closes <draft> only where <feedback> ends: every record after it
    # lands inside <version>. Dropping the broken value must not drop the records with it.
    records = "<version>1.0 <draft></version>" + _record("192.0.2.1", "5") + _record(
        "192.0.2.2", "7"
    )
    report = parse_report(minimal_report(records=records).replace(b"<version>1.0</version>", b""))
    assert [(r.source_ip, r.count) for r in report.records] == [("192.0.2.1", 5), ("192.0.2.2", 7)]
    assert codes(report) == {"recovered-xml", "damaged-value", "nested-record"}
    assert issue(report, "nested-record").message == (
        "Read records that broken markup had put inside another element "
        "(2 records, first at record[1])"
    )


def test_a_record_after_a_broken_one_is_read_and_the_broken_one_counted():
    # An unclosed <count> puts the next record inside the broken one.
    records = (
        _record("192.0.2.1", "5")
        + _record("192.0.2.2", "7", close_count=False)
        + _record("192.0.2.3", "9")
    )
    report = parse_report(minimal_report(records=records))
    assert [(r.source_ip, r.count) for r in report.records] == [("192.0.2.1", 5), ("192.0.2.3", 9)]
    assert {"damaged-record-skipped", "nested-record"} <= codes(report)


def test_a_broken_end_tag_in_a_value_before_the_records_does_not_crash_recovery():
    # "<version>1.0\x94/version>": the end tag is lost, the records land inside <version>,
    # and the value has an undecodable byte (this raised AttributeError).
    records = "<version>1.0\x94/version>" + _record("192.0.2.1", "5") + _record("192.0.2.2", "7")
    data = minimal_report(records=records).replace(b"<version>1.0</version>", b"")
    data = data.replace("\x94".encode(), b"\x94")
    report = parse_report(data)
    assert [(r.source_ip, r.count) for r in report.records] == [("192.0.2.1", 5), ("192.0.2.2", 7)]
    assert report.partial


def test_record_without_source_ip_but_with_messages_is_kept_and_flagged():
    record = (
        "<record><row><count>4</count><policy_evaluated><disposition>none</disposition>"
        "<dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers>"
        "<header_from>example.com</header_from></identifiers></record>"
    )
    report = parse_report(minimal_report(records=record))
    assert [(r.source_ip, r.count) for r in report.records] == [("", 4)]
    assert issue(report, "missing-source-ip").severity == "error"


@pytest.mark.parametrize(("pct", "expected"), [("100", 100), ("0", 0), ("150", None), ("x", None)])
def test_pct_outside_0_to_100_is_ignored_and_flagged(pct, expected):
    report = parse_report(minimal_report(policy=f"<pct>{pct}</pct>"))
    assert report.policy.pct == expected
    assert ("invalid-value" in codes(report)) is (expected is None)


def test_fast_record_constructor_equals_the_dataclass_constructor():
    values = (
        "192.0.2.1",
        3,
        "none",
        "pass",
        None,
        "example.com",
        None,
        "example.net",
        (OverrideReason("other"),),
        (DkimResult("a.example", "s", "pass"),),
        (),
    )
    built = new_record(*values)
    assert type(built) is Record
    assert built == Record(*values)
    assert hash(built) == hash(Record(*values))


def synthetic_report(records: int, namespace: str = "") -> bytes:
    """A report with ``records`` varied records (IPv4 and IPv6, repeated auth results)."""
    rows = []
    for i in range(records):
        ipv6 = f"2001:db8:{i % 65536:x}::{i % 7 + 1}"
        ip = ipv6 if i % 5 == 0 else f"10.0.{i // 256 % 256}.{i % 256}"
        verdict = "pass" if i % 3 else "fail"
        rows.append(
            f"<record><row><source_ip>{ip}</source_ip><count>{i % 17 + 1}</count>"
            f"<policy_evaluated><disposition>none</disposition><dkim>{verdict}</dkim>"
            "<spf>pass</spf></policy_evaluated></row><identifiers><header_from>example.com"
            "</header_from></identifiers><auth_results><dkim><domain>example.com</domain>"
            f"<selector>s{i % 4}</selector><result>{verdict}</result></dkim><spf><domain>"
            "example.com</domain><scope>mfrom</scope><result>pass</result></spf>"
            "</auth_results></record>"
        )
    feedback = f'<feedback xmlns="{namespace}">' if namespace else "<feedback>"
    return minimal_report(records="".join(rows), feedback=feedback)


def test_large_synthetic_report_plain_and_namespaced_agree():
    count = 20_000
    plain = parse_report(synthetic_report(count))
    namespaced = parse_report(synthetic_report(count, "urn:ietf:params:xml:ns:dmarc-2.0"))
    assert len(plain.records) == count
    assert plain.message_count == sum(i % 17 + 1 for i in range(count))
    assert plain.records[0].source_ip == "2001:db8::1"
    assert namespaced.records == plain.records
    assert plain.issues == () and namespaced.issues == ()


# ---------------------------------------------------------------------------------------
# The real-report corpus, compared with parsedmarc


def corpus_files() -> list[str]:
    try:
        corpus = require_corpus()
    except (pytest.skip.Exception, pytest.fail.Exception):  # the test itself reports it
        return ["(corpus missing)"]
    return sorted(
        str(path.relative_to(corpus))
        for folder in ("aggregate", "invalid")
        for path in (corpus / folder).glob("*.xml")
    )


def oracle() -> dict[str, dict]:
    path = require_corpus() / "parsedmarc-oracle.jsonl"
    return {entry["file"]: entry for entry in map(json.loads, path.read_text().splitlines())}


@pytest.mark.parametrize("name", corpus_files())
def test_corpus_record_and_message_counts_match_parsedmarc(name):
    corpus = require_corpus()
    data = (corpus / name).read_bytes()
    expected = oracle()[name]
    if name == "invalid/empty.xml":  # zero bytes: both refuse it
        with pytest.raises(ParseError):
            parse_report(data)
        return
    report = parse_report(data, name)
    if name == "aggregate/test_empty.xml":
        # parsedmarc rejects the whole report because its one record has an empty source
        # IP; the report itself is valid, so we keep it with no records and say so.
        assert not expected["ok"]
        assert (len(report.records), codes(report) >= {"empty-record-skipped"}) == (0, True)
        return
    # "unsplit" counts: parsedmarc also splits multi-day reports into per-day pieces.
    assert len(report.records) == expected["record_count_unsplit"]
    assert report.message_count == expected["message_count_unsplit"]
    assert report.policy.domain == expected["policy_domain"]
    assert (report.metadata.begin, report.metadata.end) == (
        expected["begin_epoch"],
        expected["end_epoch"],
    )


@pytest.mark.parametrize(
    ("name", "report_format", "partial", "issue_codes"),
    [
        ("aggregate/old_draft_from_wiki.xml", ReportFormat.DRAFT, False, set()),
        # The RFC's own sample is dated 1979, long before DMARC: kept, and flagged.
        ("aggregate/rfc9990-sample.xml", ReportFormat.RFC9990, False, {"date-before-dmarc"}),
        # parsedmarc calls this Google report "draft"; it has no <version> but carries <np>,
        # an RFC 9990-only element (RFC 9091's tag, adopted by RFC 9989), so it is 9990-shaped.
        ("aggregate/nice-input.xml", ReportFormat.RFC9990, False, set()),
        (
            "aggregate/ikea.com!example.de!1538690400!1538776800.xml",
            ReportFormat.DRAFT,
            True,
            {"recovered-xml"},
        ),
        (
            "invalid/invalid_xml.xml",
            ReportFormat.DRAFT,
            True,
            # the mangled <email> is one damaged value, not also a missing field
            {"recovered-xml", "damaged-value"},
        ),
        (
            "invalid/invalid_utf_8.xml",
            ReportFormat.DRAFT,
            True,
            {"recovered-xml", "undecodable-bytes", "empty-org-name"},
        ),
        (
            "invalid/report_with_upper_cased_pass.xml",
            ReportFormat.DRAFT,
            False,
            {"token-case", "whitespace", "multi-day-span"},
        ),
        ("aggregate/test2.xml", ReportFormat.DRAFT, False, {"whitespace", "multi-day-span"}),
    ],
)
def test_corpus_shapes_and_flags(name, report_format, partial, issue_codes):
    report = parse_report((require_corpus() / name).read_bytes(), name)
    assert (report.format, report.partial, codes(report)) == (report_format, partial, issue_codes)


def test_corpus_broken_values_are_dropped_not_guessed():
    corpus = require_corpus()
    # parsedmarc turns the mangled <header_from>bad<xml.net</header_from> into ""; the
    # recovered email is just as broken. Both are dropped (None) and flagged, not guessed.
    (broken,) = parse_report((corpus / "invalid/invalid_xml.xml").read_bytes()).records
    report = parse_report((corpus / "invalid/invalid_xml.xml").read_bytes())
    assert (report.metadata.email, broken.header_from) == (None, None)
    # parsedmarc silently drops the raw 0x91 byte ("bad_byte"); we keep the replacement
    # character so the damage stays visible, and flag it.
    (odd,) = parse_report((corpus / "invalid/invalid_utf_8.xml").read_bytes()).records
    assert odd.header_from == "bad_byte\ufffd"


def test_corpus_empty_org_name_is_kept_empty():
    # parsedmarc replaces an empty <org_name> with the e-mail's domain (accurateplastics.com);
    # we keep the reporter's (empty) word and flag it, leaving display fallbacks to the UI.
    name = "aggregate/!example.com!1538204542!1538463818.xml"
    report = parse_report((require_corpus() / name).read_bytes())
    assert report.metadata.org_name == ""
    assert issue(report, "empty-org-name").severity == "warning"


def test_many_damaged_records_are_located_in_linear_time():
    # Each damaged value's path counted the records before it: quadratic in records.
    record = "<record><row><source_ip>1.2.3.4<x/></source_ip><count>1</count></row></record>"
    data = minimal_report(records=record * 20_000) + b"<broken"
    start = time.perf_counter()
    report = parse_report(data)
    assert report.partial and len(report.records) == 20_000
    assert issue(report, "damaged-value").path == "record[1]/row/source_ip"
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("fast", [False, True], ids=["reference", "fastpath"])
def test_a_record_with_very_many_results_is_read_in_linear_time(fast):
    # Reasons and auth results were collected by growing a tuple: quadratic in their number
    # (one record with 100,000 <reason> elements took 36 s, 46 s on the fast path).
    n = 50_000
    reason = "<reason><type>other</type></reason>"
    dkim = "<dkim><domain>example.com</domain><selector>s</selector><result>pass</result></dkim>"
    record = (
        "<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated>"
        f"<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>{reason * n}"
        "</policy_evaluated></row><identifiers><header_from>example.com</header_from>"
        f"</identifiers><auth_results>{dkim * n}</auth_results></record>"
    )
    data = minimal_report(records=record)
    start = time.perf_counter()
    if fast:
        builder = TableBuilder()
        assert add_clean_report(builder, data, "c", "i", "o", 10) is not None
        tables = builder.tables()
        assert (tables["override_reasons"].num_rows, tables["dkim_results"].num_rows) == (n, n)
    else:
        found = parse_report(data).records[0]
        assert (len(found.reasons), len(found.dkim_results)) == (n, n)
    assert time.perf_counter() - start < 5.0


def test_recovery_removes_entity_nodes_keeping_the_text_around_them_in_linear_time():
    # Each removed node's tail was appended to the text before it in turn: quadratic
    # (40,000 references in one text took 50 s).
    data = minimal_report().replace(
        b"</feedback>",
        b"<extra>a&e;b&e;c<x/>d&e;e"
        + (b"&e;" + b"-" * 20) * 20_000
        + b"</extra></feedback><broken",
    )
    start = time.perf_counter()
    feedback, _ = read_feedback(data, IssueLog())
    extra = feedback.find("extra")
    assert (extra.text, extra[0].tail) == ("abc", "de" + "-" * 20 * 20_000)
    assert all(isinstance(node.tag, str) for node in feedback.iter())
    assert time.perf_counter() - start < 5.0


EXT_ROW = (
    '<ext:row xmlns:ext="urn:vendor:ext"><ext:source_ip>203.0.113.9</ext:source_ip>'
    "<ext:count>1000</ext:count><ext:policy_evaluated><ext:disposition>reject</ext:disposition>"
    "<ext:dkim>fail</ext:dkim><ext:spf>fail</ext:spf></ext:policy_evaluated></ext:row>"
)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("</auth_results>", "</auth_results>" + EXT_ROW),  # a record-level extension
        (
            "</auth_results>",
            '</auth_results><x:identifiers xmlns:x="urn:x"><x:header_from>other.example'
            "</x:header_from></x:identifiers>",
        ),
        ("<count>2</count>", '<count>2</count><x:count xmlns:x="urn:x">99</x:count>'),
        ("<count>2</count>", '<count>2</count><count xmlns="urn:x">99</count>'),
        (
            "<p>none</p>",
            '<p>none</p><x:p xmlns:x="urn:x">reject</x:p><x:domain xmlns:x="urn:x">x.example'
            "</x:domain>",
        ),
    ],
    ids=["row", "identifiers", "count", "count-default-namespace", "policy"],
)
@pytest.mark.parametrize("namespace", ["", ' xmlns="urn:ietf:params:xml:ns:dmarc-2.0"'])
def test_an_extension_named_like_a_dmarc_element_does_not_replace_it(old, new, namespace):
    # Elements are read by local name and the last one counts: an extension element in
    # another namespace replaced the record's count, disposition and verdicts.
    plain = parse_report(minimal_report(feedback=f"<feedback{namespace}>"))
    data = minimal_report(feedback=f"<feedback{namespace}>").replace(old.encode(), new.encode())
    report = parse_report(data)
    assert report.records == plain.records
    assert (report.policy, report.issues) == (plain.policy, plain.issues)
    # The fast path does not look for such elements in the bytes: it meets them (in the
    # report head or in a record) and leaves the report to the reference path above.
    builder = TableBuilder()
    assert add_clean_report(builder, data, "c", "i", "o", 10) is None
    assert builder.count == 0


def test_a_section_in_a_namespace_of_its_own_is_still_read():
    # No DMARC namesake beside it: a careless writer's namespace, not an extension.
    data = minimal_report().replace(b"<auth_results>", b'<auth_results xmlns="urn:x">')
    (record,) = parse_report(data).records
    assert [(s.domain, s.result) for s in record.spf_results] == [("example.com", "pass")]


def test_many_extension_elements_are_dropped_in_linear_time():
    # Each foreign element looked at all its siblings for a DMARC namesake: quadratic.
    n = 20_000
    data = minimal_report().replace(
        b"<count>2</count>", b'<count>2</count>' + b'<x:other xmlns:x="urn:x">9</x:other>' * n
    )
    start = time.perf_counter()
    (record,) = parse_report(data).records
    assert record.count == 2
    assert time.perf_counter() - start < 5.0
