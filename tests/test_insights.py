"""Page queries (dmarc_analytics.insights) on a real DuckDB file with known reports.

The data set, written through TableBuilder + write_batch like an ingest:

=====  ===========  ===========  ==========  =========================================
key    reporter     domain       day (UTC)   records (ip, count, disposition, dkim/spf)
=====  ===========  ===========  ==========  =========================================
1  A   Google.com   example.com  2025-12-01  192.0.2.1 10 none p/p; 192.0.2.2 5 reject f/f
                                             (unaligned dkim+spf spoof.test);
                                             2001:db8::1 3 none p/f (esp.net, bounce.esp.net)
2  B   Yahoo        example.com  2025-12-02  192.0.2.1 20 none p/p; 192.0.2.2 7 quarantine
                                             f/f (From mail.example.com);
                                             198.51.100.7 4 none f/f, overridden, spf
                                             fwd.example.net
3  C   Google.com   example.org  2025-12-03  192.0.2.1 6 none p/f; 2001:db8::1 2 quarantine
                                             f/f (mailing_list); one issue
4  D   Outlook.com  example.com  2025-12-05  192.0.2.3 1 none p/p (verdict mismatch);
                                             partial, spans 2 days
5  E   Yahoo        example.org  2025-12-02  no records
=====  ===========  ===========  ==========  =========================================

Then a changed copy of A arrives: a conflict, A stays. 58 messages, 40 pass DMARC.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime

import pandas as pd
import pytest

from dmarc_analytics import insights as ins
from dmarc_analytics.errors import Issue
from dmarc_analytics.export import (
    RECORD_EXPORT_COLUMNS,
    UTF8_BOM,
    frame_to_csv_bytes,
    records_csv_bytes,
    spreadsheet_safe,
    spreadsheet_safe_sql,
)
from dmarc_analytics.filters import Filter
from dmarc_analytics.flatten import TableBuilder
from dmarc_analytics.model import (
    AggregateReport,
    DkimResult,
    OverrideReason,
    PolicyPublished,
    Record,
    ReportFormat,
    ReportMetadata,
    SpfResult,
)
from dmarc_analytics.outcomes import ChunkResult, FileResult, PartResult
from dmarc_analytics.queries import summary
from dmarc_analytics.store import open_store
from dmarc_analytics.writer import write_batch

DAY = 86400
DEC1 = 1764547200  # 2025-12-01T00:00:00Z
T1 = datetime(2026, 11, 28, 12, 0, 0)
T2 = datetime(2026, 11, 28, 13, 0, 0)
T3 = datetime(2026, 11, 28, 14, 0, 0)
CONFLICT_REASON = (
    "a-changed.xml/0: conflict: a report with the same identity but different data is "
    "already stored (report 1, from batch1.zip/0); the earlier one is kept and counted: 18 "
    "messages, against 19 in this copy"
)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def d(text: str) -> date:
    return date.fromisoformat(text)


def rec(ip, count, disposition, dkim, spf, header_from, envelope_from=None, dkim_results=(),
        spf_results=(), reasons=()):  # fmt: skip
    return Record(
        source_ip=ip, count=count, disposition=disposition, dkim=dkim, spf=spf,
        header_from=header_from, envelope_from=envelope_from,
        dkim_results=tuple(DkimResult(*x) for x in dkim_results),
        spf_results=tuple(SpfResult(*x) for x in spf_results),
        reasons=tuple(OverrideReason(*x) for x in reasons),
    )  # fmt: skip


def report(org, report_id, policy, day, records, *, days=1, issues=(), partial=False):
    begin = DEC1 + day * DAY
    return AggregateReport(
        format=ReportFormat.RFC7489,
        metadata=ReportMetadata(
            org, f"dmarc@{org.lower()}", report_id, begin, begin + days * DAY - 1
        ),  # fmt: skip
        policy=policy,
        records=tuple(records),
        issues=tuple(issues),
        partial=partial,
    )


def report_a(first_count=10):
    return report("Google.com", "r-a", PolicyPublished("example.com", "reject", "quarantine",
                                                       pct=100), 0, [  # fmt: skip
        rec("192.0.2.1", first_count, "none", "pass", "pass", "example.com", "example.com",
            [("example.com", "s1", "pass")], [("example.com", "mfrom", "pass")]),
        rec("192.0.2.2", 5, "reject", "fail", "fail", "example.com", "spoof.test",
            [("spoof.test", "x", "pass"), ("spoof.test", "x", "pass")],
            [("spoof.test", "mfrom", "pass")]),
        rec("2001:db8::1", 3, "none", "pass", "fail", "example.com", "bounce.esp.net",
            [("example.com", "s1", "pass"), ("esp.net", "k1", "pass")],
            [("bounce.esp.net", "mfrom", "pass")]),
    ])  # fmt: skip


REPORT_B = report("Yahoo", "r-b", PolicyPublished("example.com", "reject"), 1, [
    rec("192.0.2.1", 20, "none", "pass", "pass", "example.com", "example.com",
        [("example.com", "s1", "pass")], [("example.com", "mfrom", "pass")]),
    rec("192.0.2.2", 7, "quarantine", "fail", "fail", "mail.example.com", "spoof.test",
        (), [("spoof.test", "mfrom", "softfail")]),
    rec("198.51.100.7", 4, "none", "fail", "fail", "example.com", "fwd.example.net",
        [("example.com", "s1", "fail")], [("fwd.example.net", "mfrom", "pass")],
        [("forwarded",), ("local_policy", "trusted list")]),
])  # fmt: skip
REPORT_C = report(
    "Google.com", "r-c", PolicyPublished("example.org", "quarantine", pct=50, testing="y"), 2, [
        rec("192.0.2.1", 6, "none", "pass", "fail", "example.org", "example.org",
            [("example.org", "s2", "pass")], [("example.org", "mfrom", "fail")]),
        rec("2001:db8::1", 2, "quarantine", "fail", "fail", "example.org", None,
            [("example.org", "s2", "fail")], (), [("mailing_list", "list.example.org")]),
    ],
    issues=[Issue("token-case", "Lower-cased values not written in lower case", "info",
                  "policy_published/p")],
)  # fmt: skip
REPORT_D = report("Outlook.com", "r-d", PolicyPublished("example.com", "reject"), 4, [
    rec("192.0.2.3", 1, "none", "pass", "pass", "example.com", "example.com", (),
        [("example.com", "mfrom", "pass")]),
], days=2, partial=True)  # fmt: skip
REPORT_E = report("Yahoo", "r-e", PolicyPublished("example.org", "none"), 1, [])


def file_result(name, sha, size, *reports):
    """One input holding ``reports``, as a parse worker hands it to the writer."""
    builder = TableBuilder()
    parts = []
    for i, item in enumerate(reports):
        content = hashlib.sha256(repr(item).encode()).hexdigest()
        origin = f"{name}/{i}"
        parts.append(PartResult(origin, report=builder.add(item, content, sha * 64, origin)))
    return ChunkResult([FileResult(name, sha * 64, size, parts)], builder.tables())


def load(con, demo=False):
    junk = FileResult("junk.bin", "2" * 64, 10,
                      [PartResult("junk.bin", kind="not-a-report",
                                  reason="not a DMARC aggregate report")])  # fmt: skip
    write_batch(con, [file_result("batch1.zip", "1", 2048, report_a(), REPORT_B),
                      ChunkResult([junk])], "cli", T1, demo=demo)  # fmt: skip
    write_batch(con, [file_result("c.xml", "3", 300, REPORT_C),
                      file_result("d-partial.xml.gz", "4", 200, REPORT_D),
                      file_result("e.xml", "5", 100, REPORT_E)], "upload", T2)  # fmt: skip
    write_batch(con, [file_result("a-changed.xml", "6", 500, report_a(11))], "cli", T3)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    with open_store(tmp_path_factory.mktemp("insights") / "t.duckdb") as connection:
        load(connection)
        yield connection


def plain(value):
    """A cell as a user sees it: None for missing, Python scalars, datetimes."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def rows(df):
    return [tuple(plain(v) for v in row) for row in df.itertuples(index=False, name=None)]


ALL = Filter()
DEC_2_3 = Filter(since=d("2025-12-02"), until=d("2025-12-03"))
GOOGLE = Filter(reporter=("google.com",))
NET_V4 = Filter(source_ip=("192.0.2.0/24",))
NET_V6 = Filter(source_ip=("2001:db8::/32",))
FAIL = Filter(dmarc="fail")
ENFORCED = Filter(disposition=("quarantine", "reject"))
YAHOO_FAIL = Filter(reporter=("yahoo",), dmarc="fail")
ORG = Filter(policy_domain=("example.org",))
SUBDOMAIN = Filter(header_from=("mail.example.com",))
LATE = Filter(since=d("2025-12-04"))
NOTHING = Filter(until=d("2025-11-01"))

END1, END2, END3 = ts("2025-12-01 23:59:59"), ts("2025-12-02 23:59:59"), ts("2025-12-03 23:59:59")
END_D = ts("2025-12-06 23:59:59")
B1, B2, B3, B5 = (ts(f"2025-12-0{n} 00:00:00") for n in (1, 2, 3, 5))

# filter: messages, dmarc pass, reports, reporters, source IPs, domains, begin, end
OVERVIEWS = [
    (ALL, 58, 40, 5, 3, 5, 2, B1, END_D),
    (DEC_2_3, 39, 26, 3, 2, 4, 2, B2, END3),
    (GOOGLE, 26, 19, 2, 1, 3, 2, B1, END3),
    (Filter(reporter=("Google.com.",)), 26, 19, 2, 1, 3, 2, B1, END3),  # a final dot: the same
    (NET_V4, 49, 37, 4, 3, 3, 2, B1, END_D),
    (NET_V6, 5, 3, 2, 1, 1, 2, B1, END3),
    (FAIL, 18, 0, 3, 2, 3, 2, B1, END3),
    (ENFORCED, 14, 0, 3, 2, 2, 2, B1, END3),
    (YAHOO_FAIL, 11, 0, 1, 1, 2, 1, B2, END2),
    (ORG, 8, 6, 2, 2, 2, 1, B2, END3),
    (SUBDOMAIN, 7, 0, 1, 1, 1, 1, B2, END2),
    (LATE, 1, 1, 1, 1, 1, 1, B5, END_D),
    (NOTHING, 0, 0, 0, 0, 0, 0, None, None),
]


@pytest.mark.parametrize("flt, messages, passed, reports, reporters, ips, domains, begin, end",
                         OVERVIEWS)  # fmt: skip
def test_overview(con, flt, messages, passed, reports, reporters, ips, domains, begin, end):
    rate = passed / messages if messages else None
    assert ins.overview(con, flt) == ins.Overview(
        messages, passed, rate, reports, reporters, ips, domains, begin, end
    )


@pytest.mark.parametrize("flt", [row[0] for row in OVERVIEWS])
def test_overview_agrees_with_summary_and_counts(con, flt):
    view, totals = ins.overview(con, flt), summary(con, flt)
    assert (view.reports, view.messages, view.dmarc_pass_messages, view.begin, view.end) == (
        totals.reports, totals.messages, totals.dmarc_pass_messages, totals.begin, totals.end
    )  # fmt: skip
    assert ins.count_reports(con, flt) == view.reports == len(ins.report_list(con, flt))
    assert ins.count_sources(con, flt) == view.source_ips == len(ins.top_sources(con, flt))
    reporters = ins.reporters(con, flt)
    assert int(reporters.reports.sum()) == view.reports
    assert int(reporters.messages.sum()) == view.messages
    assert len(reporters) == view.reporters


def test_daily_messages_by_dmarc(con):
    assert rows(ins.daily_messages(con, ALL)) == [
        (d("2025-12-01"), "fail", 5), (d("2025-12-01"), "pass", 13),
        (d("2025-12-02"), "fail", 11), (d("2025-12-02"), "pass", 20),
        (d("2025-12-03"), "fail", 2), (d("2025-12-03"), "pass", 6),
        (d("2025-12-05"), "pass", 1),
    ]  # fmt: skip
    assert rows(ins.daily_messages(con, GOOGLE)) == [
        (d("2025-12-01"), "fail", 5), (d("2025-12-01"), "pass", 13),
        (d("2025-12-03"), "fail", 2), (d("2025-12-03"), "pass", 6),
    ]  # fmt: skip
    assert rows(ins.daily_messages(con, NOTHING)) == []


def test_daily_messages_by_disposition_and_zone(con):
    assert rows(ins.daily_messages(con, ALL, by="disposition")) == [
        (d("2025-12-01"), "none", 13), (d("2025-12-01"), "reject", 5),
        (d("2025-12-02"), "none", 24), (d("2025-12-02"), "quarantine", 7),
        (d("2025-12-03"), "none", 6), (d("2025-12-03"), "quarantine", 2),
        (d("2025-12-05"), "none", 1),
    ]  # fmt: skip
    # Midnight UTC is 19:00 the day before in New York, 09:00 the same day in Tokyo.
    assert rows(ins.daily_messages(con, NET_V6, tz="America/New_York")) == [
        (d("2025-11-30"), "pass", 3), (d("2025-12-02"), "fail", 2),
    ]  # fmt: skip
    assert rows(ins.daily_messages(con, NET_V6, tz="Asia/Tokyo")) == [
        (d("2025-12-01"), "pass", 3), (d("2025-12-03"), "fail", 2),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="time zone"):
        ins.daily_messages(con, ALL, tz="Mars/Olympus")
    with pytest.raises(ValueError, match="by must be"):
        ins.daily_messages(con, ALL, by="reporter")


def test_disposition_over_time(con):
    df = ins.disposition_over_time(con, FAIL)
    assert list(df.columns) == ["day", "disposition", "messages"]
    assert rows(df) == [
        (d("2025-12-01"), "reject", 5), (d("2025-12-02"), "none", 4),
        (d("2025-12-02"), "quarantine", 7), (d("2025-12-03"), "quarantine", 2),
    ]  # fmt: skip
    assert rows(ins.disposition_over_time(con, FAIL, tz="America/New_York")) == [
        (d("2025-11-30"), "reject", 5), (d("2025-12-01"), "none", 4),
        (d("2025-12-01"), "quarantine", 7), (d("2025-12-02"), "quarantine", 2),
    ]  # fmt: skip


SOURCES_ALL = [
    ("192.0.2.1", 36, 1.0, 30 / 36, 1.0, "none 36", "example.com, example.org",
     "Google.com, Yahoo", B1, B3),
    ("192.0.2.2", 12, 0.0, 0.0, 0.0, "quarantine 7; reject 5", "example.com, mail.example.com",
     "Google.com, Yahoo", B1, B2),
    ("2001:db8::1", 5, 0.6, 0.0, 0.6, "none 3; quarantine 2", "example.com, example.org",
     "Google.com", B1, B3),
    ("198.51.100.7", 4, 0.0, 0.0, 0.0, "none 4", "example.com", "Yahoo", B2, B2),
    ("192.0.2.3", 1, 1.0, 1.0, 1.0, "none 1", "example.com", "Outlook.com", B5, B5),
]  # fmt: skip


def test_top_sources(con):
    df = ins.top_sources(con, ALL)
    assert list(df.columns) == [
        "source_ip", "messages", "dmarc_pass_rate", "spf_aligned_rate", "dkim_aligned_rate",
        "dispositions", "header_from", "reporters", "first_seen", "last_seen",
    ]  # fmt: skip
    assert rows(df) == SOURCES_ALL
    assert rows(ins.top_sources(con, ALL, limit=2)) == SOURCES_ALL[:2]
    assert rows(ins.top_sources(con, FAIL)) == [
        ("192.0.2.2", 12, 0.0, 0.0, 0.0, "quarantine 7; reject 5",
         "example.com, mail.example.com", "Google.com, Yahoo", B1, B2),
        ("198.51.100.7", 4, 0.0, 0.0, 0.0, "none 4", "example.com", "Yahoo", B2, B2),
        ("2001:db8::1", 2, 0.0, 0.0, 0.0, "quarantine 2", "example.org", "Google.com", B3, B3),
    ]  # fmt: skip
    assert rows(ins.top_sources(con, NET_V6, limit=5)) == [
        ("2001:db8::1", 5, 0.6, 0.0, 0.6, "none 3; quarantine 2", "example.com, example.org",
         "Google.com", B1, B3),
    ]  # fmt: skip
    assert rows(ins.top_sources(con, NOTHING, limit=10)) == []
    with pytest.raises(ValueError, match="limit"):
        ins.top_sources(con, ALL, limit=-1)


@pytest.mark.parametrize("flt, expected", [
    (ALL, 5), (FAIL, 3), (NET_V4, 3), (NET_V6, 1), (DEC_2_3, 4), (NOTHING, 0),
])  # fmt: skip
def test_count_sources(con, flt, expected):
    assert ins.count_sources(con, flt) == expected


RECORD_COLUMNS = [
    "begin_utc", "reporter", "policy_domain", "header_from", "envelope_from", "count",
    "disposition", "dkim", "spf", "dkim_recomputed", "spf_recomputed", "doubtful",
    "dkim_results", "spf_results", "override_reasons",
]  # fmt: skip


def test_source_records(con):
    df = ins.source_records(con, ALL, "192.0.2.1")
    assert list(df.columns) == RECORD_COLUMNS
    # The receiver's verdicts (dkim, spf), then ours recomputed and whether they disagree.
    assert rows(df) == [
        (B3, "Google.com", "example.org", "example.org", "example.org", 6, "none", "pass",
         "fail", True, False, False, "example.org/s2=pass", "mfrom:example.org=fail", None),
        (B2, "Yahoo", "example.com", "example.com", "example.com", 20, "none", "pass", "pass",
         True, True, False, "example.com/s1=pass", "mfrom:example.com=pass", None),
        (B1, "Google.com", "example.com", "example.com", "example.com", 10, "none", "pass",
         "pass", True, True, False, "example.com/s1=pass", "mfrom:example.com=pass", None),
    ]  # fmt: skip
    assert [r[5] for r in rows(ins.source_records(con, ALL, "192.0.2.1", limit=2))] == [6, 20]
    assert rows(ins.source_records(con, ALL, "198.51.100.7")) == [
        (B2, "Yahoo", "example.com", "example.com", "fwd.example.net", 4, "none", "fail",
         "fail", False, False, False, "example.com/s1=fail", "mfrom:fwd.example.net=pass",
         "forwarded; local_policy: trusted list"),
    ]  # fmt: skip
    assert rows(ins.source_records(con, ALL, "2001:db8::1")) == [
        (B3, "Google.com", "example.org", "example.org", None, 2, "quarantine", "fail", "fail",
         False, False, False, "example.org/s2=fail", None, "mailing_list: list.example.org"),
        (B1, "Google.com", "example.com", "example.com", "bounce.esp.net", 3, "none", "pass",
         "fail", True, False, False, "example.com/s1=pass; esp.net/k1=pass",
         "mfrom:bounce.esp.net=pass", None),
    ]  # fmt: skip


@pytest.mark.parametrize("flt, ip, counts", [
    (ALL, "2001:DB8:0::1", [2, 3]),  # another spelling of the same address
    (FAIL, "192.0.2.2", [7, 5]),
    (GOOGLE, "198.51.100.7", []),
    (ALL, "not-an-ip", []),
])  # fmt: skip
def test_source_records_filtered(con, flt, ip, counts):
    df = ins.source_records(con, flt, ip)
    assert list(df.columns) == RECORD_COLUMNS
    assert list(df["count"]) == counts


def test_source_auth(con):
    dkim, spf = ins.source_auth(con, ALL, "192.0.2.1")
    assert list(dkim.columns) == ["domain", "selector", "result", "aligned", "messages"]
    assert list(spf.columns) == ["domain", "scope", "result", "aligned", "messages"]
    assert rows(dkim) == [("example.com", "s1", "pass", True, 30),
                          ("example.org", "s2", "pass", True, 6)]  # fmt: skip
    assert rows(spf) == [("example.com", "mfrom", "pass", True, 30),
                         ("example.org", "mfrom", "fail", True, 6)]  # fmt: skip
    dkim, spf = ins.source_auth(con, ALL, "2001:db8::1")
    assert rows(dkim) == [("esp.net", "k1", "pass", False, 3),
                          ("example.com", "s1", "pass", True, 3),
                          ("example.org", "s2", "fail", True, 2)]  # fmt: skip
    assert rows(spf) == [("bounce.esp.net", "mfrom", "pass", False, 3)]
    # The same signature listed twice counts the record's messages once.
    dkim, spf = ins.source_auth(con, ALL, "192.0.2.2")
    assert rows(dkim) == [("spoof.test", "x", "pass", False, 5)]
    assert rows(spf) == [("spoof.test", "mfrom", "softfail", False, 7),
                         ("spoof.test", "mfrom", "pass", False, 5)]  # fmt: skip
    dkim, spf = ins.source_auth(con, ENFORCED, "192.0.2.1")
    assert (rows(dkim), rows(spf)) == ([], [])
    assert list(dkim.columns) == ["domain", "selector", "result", "aligned", "messages"]


@pytest.mark.parametrize("flt, ip, expected", [
    (ALL, "192.0.2.1", [("dkim_only", 6, None), ("dkim_and_spf", 30, None)]),
    # A: 5 messages authenticated as spoof.test only; B: 7 with nothing but a softfail.
    (ALL, "192.0.2.2", [("nothing", 7, None), ("unaligned", 5, "dkim:spoof.test, spf:spoof.test")]),
    (ALL, "198.51.100.7", [("unaligned", 4, "spf:fwd.example.net")]),
    (ALL, "2001:db8::1", [("nothing", 2, None), ("dkim_only", 3, None)]),
    (GOOGLE, "192.0.2.2", [("unaligned", 5, "dkim:spoof.test, spf:spoof.test")]),
    (ALL, "203.0.113.99", []),
])  # fmt: skip
def test_source_summary_says_what_each_part_of_its_mail_shows(con, flt, ip, expected):
    df = ins.source_summary(con, flt, ip)
    assert list(df.columns) == ["category", "messages", "share", "domains"]
    assert [(r[0], r[1], r[3]) for r in rows(df)] == expected
    total = sum(m for _, m, _ in expected)
    assert [round(r[2], 6) for r in rows(df)] == [round(m / total, 6) for _, m, _ in expected]


def test_source_timeline(con):
    assert rows(ins.source_timeline(con, ALL, "192.0.2.1")) == [
        (d("2025-12-01"), "pass", 10), (d("2025-12-02"), "pass", 20), (d("2025-12-03"), "pass", 6),
    ]  # fmt: skip
    assert rows(ins.source_timeline(con, ALL, "2001:db8::1")) == [
        (d("2025-12-01"), "pass", 3), (d("2025-12-03"), "fail", 2),
    ]  # fmt: skip
    assert rows(ins.source_timeline(con, DEC_2_3, "192.0.2.2")) == [(d("2025-12-02"), "fail", 7)]
    # Days in the chosen zone, as on the Overview: midnight UTC is the day before in New York.
    assert rows(ins.source_timeline(con, ALL, "2001:db8::1", tz="America/New_York")) == [
        (d("2025-11-30"), "pass", 3), (d("2025-12-02"), "fail", 2),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="time zone"):
        ins.source_timeline(con, ALL, "2001:db8::1", tz="Mars/Olympus")


REPORTER_COLUMNS = [
    "reporter", "reports", "messages", "dmarc_pass_rate", "spf_aligned_rate",
    "dkim_aligned_rate", "dispositions", "first_day", "last_day", "days_covered", "gap_days",
    "avg_records", "max_records",
]  # fmt: skip


@pytest.mark.parametrize("flt, expected", [
    (ALL, [
        ("Yahoo", 2, 31, 20 / 31, 20 / 31, 20 / 31, "none 24; quarantine 7",
         d("2025-12-02"), d("2025-12-02"), 1, 0, 1.5, 3),
        ("Google.com", 2, 26, 19 / 26, 10 / 26, 19 / 26, "none 19; reject 5; quarantine 2",
         d("2025-12-01"), d("2025-12-03"), 2, 1, 2.5, 3),
        ("Outlook.com", 1, 1, 1.0, 1.0, 1.0, "none 1",
         d("2025-12-05"), d("2025-12-05"), 1, 0, 1.0, 1),
    ]),
    (FAIL, [  # record-level: reports with a failing record, and only those records
        ("Yahoo", 1, 11, 0.0, 0.0, 0.0, "quarantine 7; none 4",
         d("2025-12-02"), d("2025-12-02"), 1, 0, 2.0, 2),
        ("Google.com", 2, 7, 0.0, 0.0, 0.0, "reject 5; quarantine 2",
         d("2025-12-01"), d("2025-12-03"), 2, 1, 1.0, 1),
    ]),
    (ORG, [  # report-level: the empty report counts
        ("Google.com", 1, 8, 0.75, 0.0, 0.75, "none 6; quarantine 2",
         d("2025-12-03"), d("2025-12-03"), 1, 0, 2.0, 2),
        ("Yahoo", 1, 0, 0.0, 0.0, 0.0, "", d("2025-12-02"), d("2025-12-02"), 1, 0, 0.0, 0),
    ]),
    (NOTHING, []),
])  # fmt: skip
def test_reporters(con, flt, expected):
    df = ins.reporters(con, flt)
    assert list(df.columns) == REPORTER_COLUMNS
    assert rows(df) == expected


def test_alignment_matrix(con):
    df = ins.alignment_matrix(con, ALL)
    assert list(df.columns) == ["spf_aligned", "dkim_aligned", "messages", "share"]
    assert rows(df) == [
        (True, True, 31, 31 / 58), (False, False, 18, 18 / 58), (False, True, 9, 9 / 58),
        (True, False, 0, 0.0),
    ]  # fmt: skip
    assert rows(ins.alignment_matrix(con, NET_V6)) == [
        (False, True, 3, 0.6), (False, False, 2, 0.4), (True, False, 0, 0.0), (True, True, 0, 0.0),
    ]  # fmt: skip
    assert rows(ins.alignment_matrix(con, NOTHING)) == [
        (False, False, 0, 0.0), (False, True, 0, 0.0), (True, False, 0, 0.0), (True, True, 0, 0.0),
    ]  # fmt: skip


UNALIGNED_ALL = [  # failing DMARC first: the senders to fix
    ("192.0.2.2", "example.com", "dkim", "spoof.test", 5, 5),  # listed twice, counted once
    ("192.0.2.2", "example.com", "spf", "spoof.test", 5, 5),
    ("198.51.100.7", "example.com", "spf", "fwd.example.net", 4, 4),
    ("2001:db8::1", "example.com", "dkim", "esp.net", 3, 0),  # passed by aligned DKIM
    ("2001:db8::1", "example.com", "spf", "bounce.esp.net", 3, 0),
]


@pytest.mark.parametrize("flt, limit, expected", [
    (ALL, None, UNALIGNED_ALL),
    (ALL, 2, UNALIGNED_ALL[:2]),
    (GOOGLE, None, [UNALIGNED_ALL[i] for i in (0, 1, 3, 4)]),
    (YAHOO_FAIL, None, [UNALIGNED_ALL[2]]),
    (ENFORCED, None, UNALIGNED_ALL[:2]),
    (LATE, None, []),
])  # fmt: skip
def test_authenticated_unaligned(con, flt, limit, expected):
    df = ins.authenticated_unaligned(con, flt, limit)
    assert list(df.columns) == [
        "source_ip", "header_from", "mechanism", "domain", "messages", "dmarc_fail"
    ]  # fmt: skip
    assert rows(df) == expected


def test_authenticated_unaligned_matches_the_auth_result_tables(con):
    """The per-record list used for speed says the same as dkim_results/spf_results."""
    expected = con.execute(
        """
        SELECT r.source_ip, r.header_from, a.mechanism, a.domain, sum(r.count)::BIGINT,
               coalesce(sum(r.count) FILTER (WHERE NOT r.dmarc_pass), 0)::BIGINT
        FROM records r JOIN (
            SELECT DISTINCT 'dkim' AS mechanism, report_key, record_ordinal, domain
            FROM dkim_results WHERE result = 'pass' AND aligned = false
            UNION
            SELECT DISTINCT 'spf', report_key, record_ordinal, domain
            FROM spf_results WHERE result = 'pass' AND aligned = false
        ) a ON a.report_key = r.report_key AND a.record_ordinal = r.ordinal
        GROUP BY ALL ORDER BY 6 DESC, 5 DESC, 1, 2, 3, 4
        """
    ).fetchall()
    assert rows(ins.authenticated_unaligned(con, ALL)) == expected


@pytest.mark.parametrize("flt, expected", [
    (ALL, [("forwarded", None, 1, 4), ("local_policy", "trusted list", 1, 4),
           ("mailing_list", "list.example.org", 1, 2)]),
    (GOOGLE, [("mailing_list", "list.example.org", 1, 2)]),
    (ENFORCED, [("mailing_list", "list.example.org", 1, 2)]),
    (NET_V4, []),
])  # fmt: skip
def test_override_reasons(con, flt, expected):
    df = ins.override_reasons(con, flt)
    assert list(df.columns) == ["type", "comment", "records", "messages"]
    assert rows(df) == expected


REPORT_ROWS = {
    "D": (4, "Outlook.com", "example.com", B5, END_D, 1, 1, None, "p=reject", 0, True, True,
          False),
    "C": (3, "Google.com", "example.org", B3, END3, 2, 8, "token-case",
          "p=quarantine pct=50 t=y", 1, False, False, False),
    "E": (5, "Yahoo", "example.org", B2, END2, 0, 0, None, "p=none", 0, False, False, False),
    "B": (2, "Yahoo", "example.com", B2, END2, 3, 31, None, "p=reject", 0, False, False, False),
    "A": (1, "Google.com", "example.com", B1, END1, 3, 18, None,
          "p=reject sp=quarantine pct=100", 0, False, False, False),
}  # fmt: skip


def test_report_list(con):
    df = ins.report_list(con, ALL)
    assert list(df.columns) == [
        "report_key", "reporter", "policy_domain", "begin_utc", "end_utc", "records", "messages",
        "issue_codes", "policy", "issues", "partial", "multi_day", "demo",
    ]  # fmt: skip
    assert rows(df) == [REPORT_ROWS[k] for k in "DCEBA"]  # newest first
    assert rows(ins.report_list(con, ALL, limit=2)) == [REPORT_ROWS[k] for k in "DC"]
    assert rows(ins.report_list(con, ORG)) == [REPORT_ROWS[k] for k in "CE"]
    # Record-level filter: reports with a matching record, counting only those records.
    assert [(r[0], r[5], r[6]) for r in rows(ins.report_list(con, FAIL))] == [
        (3, 1, 2),
        (2, 2, 11),
        (1, 1, 5),
    ]
    assert [(r[0], r[5], r[6]) for r in rows(ins.report_list(con, NET_V6, limit=1))] == [(3, 1, 2)]
    assert rows(ins.report_list(con, NOTHING)) == []


@pytest.mark.parametrize("flt, expected", [
    (ALL, 5), (FAIL, 3), (ORG, 2), (NET_V6, 2), (YAHOO_FAIL, 1), (NOTHING, 0),
])  # fmt: skip
def test_count_reports(con, flt, expected):
    assert ins.count_reports(con, flt) == expected


@pytest.mark.parametrize("flt, expected", [
    (ALL, {"issues": [3], "partial": [4], "conflicts": [1], "multi_day": [4], "doubtful": [4]}),
    (GOOGLE, {"issues": [3], "partial": [], "conflicts": [1], "multi_day": [], "doubtful": []}),
    (FAIL, {"issues": [3], "partial": [], "conflicts": [1], "multi_day": [], "doubtful": []}),
    (LATE, {"issues": [], "partial": [4], "conflicts": [], "multi_day": [4], "doubtful": [4]}),
    (NOTHING, dict.fromkeys(ins.REPORT_KINDS, [])),
])  # fmt: skip
def test_the_reports_behind_each_data_quality_count(con, flt, expected):
    quality = ins.data_quality(con, flt)
    for kind in ins.REPORT_KINDS:
        listed = ins.report_list(con, flt, kind=kind)["report_key"].tolist()
        assert listed == expected[kind], kind
        assert ins.count_reports(con, flt, kind=kind) == len(listed)
    # Each count of reports leads to exactly the reports it counts.
    assert quality.reports_with_issues == len(expected["issues"])
    assert quality.partial_reports == len(expected["partial"])
    assert quality.multi_day_reports == len(expected["multi_day"])
    assert quality.conflicts == len(expected["conflicts"])
    assert quality.doubtful_reports == len(expected["doubtful"])
    with pytest.raises(ValueError, match="kind must be one of"):
        ins.report_list(con, flt, kind="bogus")


def test_policy_applied_judges_what_receivers_did_with_failing_mail(con):
    df = ins.policy_applied(con, ALL)
    assert list(df.columns) == ["verdict", "requested", "tag", "applied", "reasons", "sampled",
                                "messages", "records", "reporters"]  # fmt: skip
    assert rows(df) == [
        # B: From mail.example.com, sp not published so it is p's reject; no reason given.
        ("unexplained", "reject", "sp", "quarantine", None, False, 7, 1, 1),
        ("overridden", "reject", "p", "none", "forwarded; local_policy", False, 4, 1, 1),
        ("as_requested", "reject", "p", "reject", None, False, 5, 1, 1),
        # C: p=quarantine pct=50 t=y, applied as asked (with a mailing_list note).
        ("as_requested", "quarantine", "p", "quarantine", "mailing_list", True, 2, 1, 1),
    ]
    assert [r[0] for r in rows(ins.policy_applied(con, GOOGLE))] == ["as_requested"] * 2
    assert rows(ins.policy_applied(con, LATE)) == []  # D's one record passes DMARC


def _policy_report(report_id: str, policy: str, header_from: str, disposition: str) -> bytes:
    return (
        "<feedback><report_metadata><org_name>rx.test</org_name><email>d@rx.test</email>"
        f"<report_id>{report_id}</report_id><date_range><begin>1764547200</begin>"
        "<end>1764633599</end></date_range></report_metadata><policy_published>"
        f"<domain>example.com</domain>{policy}</policy_published><record><row>"
        "<source_ip>192.0.2.9</source_ip><count>3</count><policy_evaluated>"
        f"<disposition>{disposition}</disposition><dkim>fail</dkim><spf>fail</spf>"
        f"</policy_evaluated></row><identifiers><header_from>{header_from}</header_from>"
        "</identifiers><auth_results><spf><domain>spoof.test</domain><result>fail</result>"
        "</spf></auth_results></record></feedback>"
    ).encode()


def test_policy_applied_uses_sp_for_subdomains_and_knows_sampling(tmp_path):
    from dmarc_analytics.config import Settings
    from dmarc_analytics.pipeline import Ingestor

    reports = [
        ("sub", "<p>reject</p><sp>none</sp>", "news.example.com", "none"),  # sp asked none
        # np differs from sp and was applied: the name may not exist; np asked it.
        ("ghost", "<p>none</p><sp>none</sp><np>reject</np>", "ghost.example.com", "reject"),
        # No header_from at all: judged by p.
        ("nofrom", "<p>reject</p><sp>none</sp>", "", "none"),
        # For a subdomain the tag that explains the disposition best: np's reject sampled...
        ("npsampled", "<p>none</p><sp>none</sp><np>reject</np><pct>50</pct>",
         "ghost.example.com", "quarantine"),
        # ...np's none as asked (rather than an unexplained downgrade from sp's reject)...
        ("npnone", "<p>reject</p><sp>reject</sp><np>none</np>", "www.example.com", "none"),
        # ...and stricter than either.
        ("npstrict", "<p>none</p><sp>none</sp><np>quarantine</np>", "ghost.example.com",
         "reject"),
        ("pct", "<p>reject</p><pct>50</pct>", "example.com", "quarantine"),  # sampled out
        ("test", "<p>reject</p><testing>y</testing>", "example.com", "none"),  # two levels: no
        ("strict", "<p>quarantine</p>", "example.com", "reject"),
        ("none", "<p>reject</p>", "example.com", "none"),
    ]
    settings = Settings(db=tmp_path / "p.duckdb", archive=False, workers=1)
    Ingestor(settings).ingest_blobs(
        (f"{name}.xml", _policy_report(name, *rest)) for name, *rest in reports
    )
    with open_store(settings.db) as db:
        found = rows(ins.policy_applied(db, ALL))
    # (requested, tag, applied, sampled) → (verdict, messages)
    assert {(r[1], r[2], r[3], r[5]): (r[0], r[6]) for r in found} == {
        ("none", "sp", "none", False): ("as_requested", 3),
        ("reject", "np", "reject", False): ("as_requested", 3),
        ("reject", "p", "none", False): ("unexplained", 6),  # "none" and "nofrom"
        ("reject", "p", "quarantine", True): ("sampling", 3),
        ("reject", "p", "none", True): ("unexplained", 3),  # t=y allows one level, not two
        ("quarantine", "p", "reject", False): ("stricter", 3),
        ("reject", "np", "quarantine", True): ("sampling", 3),
        ("none", "np", "none", False): ("as_requested", 3),
        ("none", "sp", "reject", False): ("stricter", 3),
    }


def test_report_detail(con):
    detail = ins.report_detail(con, 2)
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'reports' "
        "ORDER BY ordinal_position").fetchall()]  # fmt: skip
    assert list(detail.report) == columns
    report = detail.report
    assert (report["report_key"], report["reporter"], report["report_id"]) == (2, "Yahoo", "r-b")
    assert (report["p"], report["sp"], report["effective_sp"]) == ("reject", None, "reject")
    assert (report["records"], report["messages"], report["begin_utc"]) == (3, 31, B2)
    assert (report["day"], report["errors"], report["demo"]) == (d("2025-12-02"), [], False)
    assert (detail.origin, detail.input_sha256) == ("batch1.zip/1", "1" * 64)
    assert list(detail.records.columns) == [
        "ordinal", "source_ip", "count", "disposition", "dkim", "spf", "dkim_recomputed",
        "spf_recomputed", "doubtful", "header_from", "envelope_from", "envelope_to",
        "dkim_results", "spf_results", "override_reasons",
    ]  # fmt: skip
    assert rows(detail.records) == [  # numbered from 1, as issue paths (record[1]) are
        (1, "192.0.2.1", 20, "none", "pass", "pass", True, True, False, "example.com",
         "example.com", None, "example.com/s1=pass", "mfrom:example.com=pass", None),
        (2, "192.0.2.2", 7, "quarantine", "fail", "fail", False, False, False,
         "mail.example.com", "spoof.test", None, None, "mfrom:spoof.test=softfail", None),
        (3, "198.51.100.7", 4, "none", "fail", "fail", False, False, False, "example.com",
         "fwd.example.net", None, "example.com/s1=fail", "mfrom:fwd.example.net=pass",
         "forwarded; local_policy: trusted list"),
    ]  # fmt: skip
    # D: the receiver says DKIM and SPF aligned; the DKIM result does not bear that out.
    doubtful = ins.report_detail(con, 4).records
    assert rows(doubtful[["dkim", "spf", "dkim_recomputed", "spf_recomputed", "doubtful"]]) == [
        ("pass", "pass", False, True, True)
    ]
    assert list(detail.issues.columns) == ["code", "severity", "message", "path"]
    assert rows(detail.issues) == []
    issues = ins.report_detail(con, 3).issues
    assert rows(issues) == [("token-case", "info", "Lower-cased values not written in lower case",
                             "policy_published/p")]  # fmt: skip
    empty = ins.report_detail(con, 5)
    assert (empty.report["records"], rows(empty.records)) == (0, [])
    assert ins.report_detail(con, 999) is None


@pytest.mark.parametrize("flt, expected", [
    (ALL, ins.DataQuality(1, 1, 1, 1, 1)),
    (GOOGLE, ins.DataQuality(1, 0, 1, 0, 0)),
    (LATE, ins.DataQuality(0, 1, 0, 1, 1)),
    (FAIL, ins.DataQuality(1, 0, 1, 0, 0)),
    (YAHOO_FAIL, ins.DataQuality(0, 0, 0, 0, 0)),
    (NOTHING, ins.DataQuality(0, 0, 0, 0, 0)),
])  # fmt: skip
def test_data_quality(con, flt, expected):
    assert ins.data_quality(con, flt) == expected


def test_filter_choices(con):
    assert ins.filter_choices(con) == ins.FilterChoices(
        ["example.com", "example.org"], ["example.com", "example.org", "mail.example.com"],
        ["Google.com", "Outlook.com", "Yahoo"], d("2025-12-01"), d("2025-12-05"),
    )  # fmt: skip


PARTIAL_REASON = (
    "partial: 1 report read from broken XML in recovery mode, and may miss records (the "
    "report's issues say what was dropped)"
)
LEDGER_ROWS = {
    "a-changed.xml": (T3, "cli", "a-changed.xml", "duplicate", CONFLICT_REASON, 0, 0, 0, 0, 1, 0,
                      0, "6" * 64),  # added no report: one conflict
    "e.xml": (T2, "upload", "e.xml", "inserted", None, 1, 0, 0, 0, 0, 0, 0, "5" * 64),
    "d-partial.xml.gz": (T2, "upload", "d-partial.xml.gz", "inserted", PARTIAL_REASON, 1, 1, 1,
                         0, 0, 1, 0, "4" * 64),
    "c.xml": (T2, "upload", "c.xml", "inserted", None, 1, 2, 8, 0, 0, 0, 0, "3" * 64),
    "junk.bin": (T1, "cli", "junk.bin", "rejected", "not a DMARC aggregate report", 0, 0, 0, 0,
                 0, 0, 1, "2" * 64),
    "batch1.zip": (T1, "cli", "batch1.zip", "inserted", None, 2, 6, 49, 0, 0, 0, 0, "1" * 64),
}  # fmt: skip


def test_ledger(con):
    df = ins.ledger(con)
    assert list(df.columns) == [
        "ingested_at", "via", "name", "outcome", "reason", "reports", "records", "messages",
        "duplicates", "conflicts", "partial", "rejected_parts", "sha256",
    ]  # fmt: skip
    # newest first; the reason beside the outcome (the table's columns are in ledger order)
    assert rows(df) == list(LEDGER_ROWS.values())


@pytest.mark.parametrize("outcome, search, limit, names", [
    (None, None, 2, ["a-changed.xml", "e.xml"]),
    ("rejected", None, None, ["junk.bin"]),
    ("inserted", None, None, ["e.xml", "d-partial.xml.gz", "c.xml", "batch1.zip"]),
    (None, "CONFLICT", None, ["a-changed.xml"]),  # in the reason, any case
    (None, "dmarc", None, ["junk.bin"]),
    (None, ".xml", None, ["a-changed.xml", "e.xml", "d-partial.xml.gz", "c.xml"]),
    ("duplicate", "xml", None, ["a-changed.xml"]),
    (None, "%", None, []),  # no wildcards
    (None, "", None, list(LEDGER_ROWS)),
])  # fmt: skip
def test_ledger_filters(con, outcome, search, limit, names):
    assert list(ins.ledger(con, outcome, search, limit)["name"]) == names
    if limit is None:
        assert ins.count_ledger(con, outcome, search) == len(names)


def test_ledger_rejects_an_unknown_outcome(con):
    with pytest.raises(ValueError, match="outcome"):
        ins.ledger(con, outcome="conflict")


def test_has_data_and_demo(con, tmp_path):
    assert (ins.has_data(con), ins.has_demo_data(con)) == (True, False)
    with open_store(tmp_path / "empty.duckdb") as empty:
        assert (ins.has_data(empty), ins.has_demo_data(empty)) == (False, False)
        assert ins.filter_choices(empty) == ins.FilterChoices([], [], [], None, None)
        assert ins.overview(empty, ALL) == ins.Overview(0, 0, None, 0, 0, 0, 0, None, None)
        assert rows(ins.top_sources(empty, ALL)) == rows(ins.reporters(empty, ALL)) == []
        assert rows(ins.ledger(empty)) == []
    with open_store(tmp_path / "demo.duckdb") as demo:
        load(demo, demo=True)
        assert (ins.has_data(demo), ins.has_demo_data(demo)) == (True, True)
        assert list(ins.report_list(demo, ALL)["demo"]) == [False, False, False, True, True]


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+31 6", "-2", "@SUM(A1)", "\tx", "\rx", "a=b", "", None, "é=", "'=x", "ー",
     "\U0001f600", " =x"],
)  # fmt: skip
def test_the_sql_and_python_spreadsheet_rules_agree(value):
    import duckdb

    sql = spreadsheet_safe_sql("v")
    query = f"SELECT {sql} FROM (SELECT $v::VARCHAR AS v)"
    (row,) = duckdb.sql(query, params={"v": value}).fetchall()
    assert row[0] == spreadsheet_safe(value)
    if value and value[0] in "=+-@\t\r":
        assert row[0] == "'" + value


def test_frame_to_csv_bytes():
    df = pd.DataFrame({
        "name": ["=cmd", "héllo ✓", "+1", "-x", "@sum", "plain", None, "a,b"],
        "count": [1, 2, 3, -4, 5, 6, 7, 8],
    })  # fmt: skip
    data = frame_to_csv_bytes(df)
    assert data.startswith(UTF8_BOM)
    assert data[len(UTF8_BOM) :].decode("utf-8") == (
        "name,count\n'=cmd,1\nhéllo ✓,2\n'+1,3\n'-x,-4\n'@sum,5\nplain,6\n,7\n\"a,b\",8\n"
    )
    assert list(df["name"])[0] == "=cmd"  # the caller's frame is left alone


def test_frame_to_csv_bytes_of_a_page_table(con):
    text = frame_to_csv_bytes(ins.top_sources(con, ALL, limit=1))[len(UTF8_BOM) :].decode()
    assert text.splitlines() == [
        "source_ip,messages,dmarc_pass_rate,spf_aligned_rate,dkim_aligned_rate,dispositions,"
        "header_from,reporters,first_seen,last_seen",
        '192.0.2.1,36,1.0,0.8333333333333334,1.0,none 36,"example.com, example.org",'
        '"Google.com, Yahoo",2025-12-01 00:00:00,2025-12-03 00:00:00',
    ]


@pytest.mark.parametrize("flt, expected", [(ALL, 9), (FAIL, 4), (NET_V6, 2), (NOTHING, 0)])
def test_records_csv_bytes(con, flt, expected):
    data = records_csv_bytes(con, flt)
    assert data.startswith(UTF8_BOM)
    lines = data[len(UTF8_BOM) :].decode("utf-8").splitlines()
    assert lines[0] == ",".join(name for name, _, _ in RECORD_EXPORT_COLUMNS)
    assert len(lines) - 1 == expected == summary(con, flt).records
    begins = [line.split(",", 1)[0] for line in lines[1:]]
    assert begins == sorted(begins)  # in report order
