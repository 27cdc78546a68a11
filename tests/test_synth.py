"""The synthetic report generator: determinism, realistic shape, and honest totals."""

from __future__ import annotations

import gzip
import re
import statistics
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dmarc_analytics.synth import (
    DEFAULT_START,
    DOMAINS,
    MAX_RECORDS,
    SyntheticReport,
    generate_reports,
    write_corpus,
)

FILE_NAME = re.compile(r"^[a-z0-9.-]+!example\.(com|org|co\.jp)![0-9]+![0-9]+![0-9A-Za-z]+\.xml$")
POLICY = {d.name: d for d in DOMAINS}
SEVERITY = {"none": 0, "pass": 0, "quarantine": 1, "reject": 2}


@pytest.fixture(scope="module")
def reports() -> list[SyntheticReport]:
    return list(generate_reports(500, seed=0))


def parse(xml: bytes) -> tuple[ET.Element, str]:
    root = ET.fromstring(xml)
    return root, root.tag[: -len("feedback")]


def text(element: ET.Element, ns: str, path: str) -> str | None:
    found = element.find("/".join(ns + part for part in path.split("/")))
    return None if found is None else found.text


def records(xml: bytes) -> list[tuple[ET.Element, str]]:
    root, ns = parse(xml)
    return [(record, ns) for record in root.iter(ns + "record")]


def is_aligned(domain: str, policy_domain: str) -> bool:
    return domain == policy_domain or domain.endswith("." + policy_domain)


def test_same_seed_gives_same_reports_and_another_seed_does_not() -> None:
    first = list(generate_reports(40, seed=7))
    assert first == list(generate_reports(40, seed=7))
    assert [r.xml for r in first] != [r.xml for r in generate_reports(40, seed=8)]


def test_fixed_seed_gives_known_totals(reports: list[SyntheticReport]) -> None:
    assert sum(r.records for r in reports) == 10395
    assert sum(r.messages for r in reports) == 305132
    assert reports[0].file_name == (
        "zoho.com!example.org!1789842600!1789928999!38640293162823619669.xml")


def test_record_counts_are_bounded_and_average_about_the_mean(
    reports: list[SyntheticReport],
) -> None:
    counts = [r.records for r in reports]
    assert min(counts) == 1 and max(counts) <= MAX_RECORDS
    assert statistics.mean(counts) == pytest.approx(20, rel=0.15)
    assert statistics.median(counts) < statistics.mean(counts)  # skewed: many small reports
    other_mean = [r.records for r in generate_reports(300, seed=2, records_mean=5)]
    assert statistics.mean(other_mean) == pytest.approx(5, rel=0.2)


def test_totals_equal_what_the_xml_says(reports: list[SyntheticReport]) -> None:
    for report in reports:
        rows = records(report.xml)
        assert len(rows) == report.records
        assert sum(int(text(r, ns, "row/count") or 0) for r, ns in rows) == report.messages


def test_file_names_follow_the_rfc_convention_and_are_unique(
    reports: list[SyntheticReport],
) -> None:
    for report in reports:
        assert FILE_NAME.match(report.file_name), report.file_name
        _, domain, begin, end, _ = report.file_name.split("!")
        root, ns = parse(report.xml)
        assert text(root, ns, "policy_published/domain") == domain
        assert text(root, ns, "report_metadata/date_range/begin") == begin
        assert int(end) - int(begin) in (86399, 86400)
    assert len({r.file_name for r in reports}) == len(reports)


def test_reports_cover_the_date_range_oldest_first() -> None:
    start = date(2026, 3, 1)
    days = [datetime.fromtimestamp(int(r.file_name.split("!")[2]) + 12 * 3600, UTC).date()
            for r in generate_reports(200, seed=1, start=start, days=10)]
    assert days == sorted(days)
    assert (days[0] - start).days == 0 and (days[-1] - start).days == 9
    default_midnight = datetime.combine(DEFAULT_START, datetime.min.time(), UTC).timestamp()
    first_begin = int(next(generate_reports(1, seed=1)).file_name.split("!")[2])
    assert default_midnight - 9 * 3600 <= first_begin <= default_midnight


def test_reporters_have_their_own_shapes(reports: list[SyntheticReport]) -> None:
    by_receiver = {r.file_name.split("!")[0]: r for r in reports}
    assert len(by_receiver) == 10
    google, ns = parse(by_receiver["google.com"].xml)
    assert text(google, ns, "report_metadata/email") == "noreply-dmarc-support@google.com"
    begin = int(text(google, ns, "report_metadata/date_range/begin") or 0)
    assert begin % 86400 == 0
    assert int(text(google, ns, "report_metadata/date_range/end") or 0) == begin + 86399
    outlook, ns = parse(by_receiver["protection.outlook.com"].xml)
    assert text(outlook, ns, "report_metadata/org_name") == "Outlook.com"
    assert int(text(outlook, ns, "report_metadata/date_range/end") or 0) % 86400 == 0
    assert b"xmlns:xsi=" in by_receiver["protection.outlook.com"].xml
    bis, ns = parse(by_receiver["fastmail.com"].xml)
    assert ns == "{urn:ietf:params:xml:ns:dmarc-2.0}"
    assert text(bis, ns, "report_metadata/generator")
    assert text(bis, ns, "policy_published/pct") is None
    docomo, ns = parse(by_receiver["docomo.ne.jp"].xml)
    assert re.fullmatch(r"<[0-9a-f]{16}\.[0-9]+@docomo\.ne\.jp>",
                        text(docomo, ns, "report_metadata/report_id") or "")
    assert b"<envelope_from>" not in by_receiver["zoho.com"].xml
    namespaces = Counter(parse(r.xml)[1] for r in reports)
    assert namespaces[""] > 0.85 * len(reports)


def test_verdicts_and_dispositions_follow_the_published_policy(
    reports: list[SyntheticReport],
) -> None:
    seen = Counter()
    for report in reports:
        root, ns = parse(report.xml)
        policy = POLICY[text(root, ns, "policy_published/domain") or ""]
        is_bis = bool(ns)
        for record, _ in records(report.xml):
            header_from = text(record, ns, "identifiers/header_from") or ""
            dkim_pass = any(
                text(d, ns, "result") == "pass" and is_aligned(text(d, ns, "domain") or "",
                                                               policy.name)
                for d in record.iter(ns + "dkim") if d.find(ns + "result") is not None)
            assert (text(record, ns, "row/policy_evaluated/dkim") == "pass") == dkim_pass
            disposition = text(record, ns, "row/policy_evaluated/disposition") or ""
            passed = "pass" in (text(record, ns, "row/policy_evaluated/dkim"),
                                text(record, ns, "row/policy_evaluated/spf"))
            requested = policy.p if header_from == policy.name else policy.sp
            if passed:
                assert disposition == ("pass" if is_bis and requested != "none" else "none")
            elif requested == "none":
                assert disposition == "none"
            else:
                assert SEVERITY[disposition] <= SEVERITY[requested] or is_bis
                lowered = SEVERITY[disposition] < SEVERITY[requested]
                if lowered and is_bis:
                    assert record.find(f"{ns}row/{ns}policy_evaluated/{ns}reason") is not None
            seen[disposition] += 1
            seen[text(record, ns, "row/policy_evaluated/reason/type")] += 1
    for expected in ("none", "quarantine", "reject", "pass", "forwarded", "mailing_list",
                     "sampled_out", "local_policy", "trusted_forwarder"):
        assert seen[expected] > 0, expected


def test_the_same_senders_reappear(reports: list[SyntheticReport]) -> None:
    ips = Counter(
        text(record, ns, "row/source_ip") for report in reports for record, ns in
        records(report.xml)
    )
    assert len(ips) < sum(ips.values()) / 3
    assert ips["192.0.2.10"] > 20 and ips["198.51.100.16"] > 10
    assert any(":" in (ip or "") for ip in ips)


def read_container(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            (member,) = archive.namelist()
            assert member == path.name.removesuffix(".zip") + ".xml"
            return archive.read(member)
    return path.read_bytes()


def test_write_corpus_writes_every_container_deterministically(tmp_path: Path) -> None:
    stats = write_corpus(tmp_path / "a", 30, seed=3)
    again = write_corpus(tmp_path / "b", 30, seed=3)
    assert stats == again
    files = sorted((tmp_path / "a").iterdir())
    assert stats.files == stats.reports == len(files) == 30
    assert Counter(f.name.rsplit("!", 1)[1].split(".", 1)[1] for f in files) == {
        "xml": 10, "xml.gz": 10, "zip": 10}
    assert [f.read_bytes() for f in files] == [
        f.read_bytes() for f in sorted((tmp_path / "b").iterdir())]
    assert stats.bytes == sum(f.stat().st_size for f in files)
    rows = [row for f in files for row in records(read_container(f))]
    assert len(rows) == stats.records
    assert sum(int(text(r, ns, "row/count") or 0) for r, ns in rows) == stats.messages


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mix"):
        write_corpus(tmp_path, 3, mix=("xml", "tar"))
    with pytest.raises(ValueError):
        next(generate_reports(3, days=0))
