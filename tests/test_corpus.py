"""The real-report corpus in ../shared/corpus, compared with parsedmarc 11.1.0's reading.

Where we differ from parsedmarc on purpose:
- parsedmarc splits reports longer than 24 h into per-day pieces (test2.xml: 2 records become
  12); we keep one row per <record> and flag the report `multi_day`, so we compare with the
  oracle's `record_count_unsplit` / `message_count_unsplit`.
- parsedmarc rewrites org_name (`Outlook.com` -> `outlook.com`, empty -> the e-mail's domain);
  we keep the reporter's words and fall back to the e-mail domain only for display.
- parsedmarc rejects `test.xml.gz.gz` (gzip inside gzip is a real-world shape) and
  `test_empty.xml` (a valid report whose one record is empty); we ingest both, the latter as a
  report with no records and an `empty-record-skipped` issue.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dmarc_analytics.config import Limits
from dmarc_analytics.decode import decode_file
from dmarc_analytics.model import Payload, RejectedPart
from dmarc_analytics.parse import parse_report
from tests.support import corpus_dir

ORACLE_FILE = "parsedmarc-oracle.jsonl"


def oracle_lines() -> list[dict]:
    path = corpus_dir(required=False)
    if path is None:
        return [{"file": "corpus-missing"}]
    return [json.loads(line) for line in (path / ORACLE_FILE).read_text().splitlines() if line]


def parsed(path: Path):
    reports, rejected = [], []
    for item in decode_file(path, Limits()):
        if isinstance(item, RejectedPart):
            rejected.append(item)
        else:
            assert isinstance(item, Payload)
            reports.append(parse_report(item.data, item.origin))
    return reports, rejected


AGGREGATE = [o for o in oracle_lines() if o["file"].startswith("aggregate/") and o.get("ok")]


@pytest.mark.parametrize("entry", AGGREGATE, ids=[o["file"] for o in AGGREGATE])
def test_aggregate_files_agree_with_parsedmarc(entry):
    reports, rejected = parsed(corpus_dir() / entry["file"])
    assert rejected == []
    assert len(reports) == 1
    report = reports[0]
    assert len(report.records) == entry["record_count_unsplit"]
    assert report.message_count == entry["message_count_unsplit"]
    assert sum(r.count for r in report.records if r.dmarc_pass) == entry["dmarc_pass_messages"]
    assert report.policy.domain == entry["policy_domain"]
    assert (report.metadata.begin, report.metadata.end) == (
        entry["begin_epoch"],
        entry["end_epoch"],
    )
    assert sorted({r.disposition for r in report.records}) == entry["dispositions"]


@pytest.mark.parametrize(
    ("name", "records", "messages", "issue"),
    [
        ("aggregate/test.xml.gz.gz", 2, 7, "whitespace"),
        ("aggregate/test_empty.xml", 0, 0, "empty-record-skipped"),
    ],
)
def test_valid_reports_parsedmarc_rejects_are_read(name, records, messages, issue):
    (report,), rejected = parsed(corpus_dir() / name)
    assert rejected == []
    assert (len(report.records), report.message_count) == (records, messages)
    assert issue in {i.code for i in report.issues}


@pytest.mark.parametrize(
    ("name", "records", "messages", "partial", "issue"),
    [
        # Recovery keeps the one record (count 1); the damaged values are flagged.
        ("invalid/invalid_xml.xml", 1, 1, True, "recovered-xml"),
        ("invalid/invalid_utf_8.xml", 1, 1, True, "recovered-xml"),
        ("invalid/report_with_upper_cased_pass.xml", 1, 1, False, "token-case"),
    ],
)
def test_invalid_files_are_kept_and_flagged(name, records, messages, partial, issue):
    (report,), rejected = parsed(corpus_dir() / name)
    assert (len(report.records), report.message_count, report.partial) == (
        records,
        messages,
        partial,
    )
    assert issue in {i.code for i in report.issues}


@pytest.mark.parametrize(
    ("folder", "kind", "words"),
    [
        ("failure", "failure-report", "failure"),
        ("smtp_tls", "tls-report", "TLS"),
    ],
)
def test_other_report_kinds_are_rejected_with_a_reason(folder, kind, words):
    files = sorted((corpus_dir() / folder).iterdir())
    assert files
    for path in files:
        reports, rejected = parsed(path)
        assert reports == [], path.name
        assert [r.kind for r in rejected] == [kind], path.name
        assert words in rejected[0].reason


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dmarc_analytics", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_whole_corpus_ingests_exactly_and_again_adds_nothing(tmp_path):
    corpus = corpus_dir()
    db = str(tmp_path / "corpus.duckdb")
    first = run_cli("ingest", str(corpus), "--db", db, "--json")
    assert first.returncode == 0, first.stderr
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    inputs = sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith("."))
    # Every input is accounted for, one line each (the corpus' own docs and scripts too).
    assert sorted(line["path"] for line in lines) == sorted(str(p) for p in inputs)
    by_name = {Path(line["path"]).relative_to(corpus).as_posix(): line for line in lines}
    assert by_name["invalid/empty.xml"]["outcome"] == "rejected"
    assert by_name["invalid/empty.xml"]["reason"] == "empty file"
    assert by_name["aggregate/test.xml.gz.gz"]["outcome"] in ("inserted", "duplicate")
    assert by_name["smtp_tls/rfc8460.json"]["outcome"] == "rejected"
    # The expected totals: one copy of each distinct report found in aggregate/ and invalid/.
    distinct = {}
    for sub in ("aggregate", "invalid"):
        for path in sorted((corpus / sub).iterdir()):
            for report in parsed(path)[0]:
                distinct.setdefault(report.identity, report)
    expected_messages = sum(r.message_count for r in distinct.values())
    expected_records = sum(len(r.records) for r in distinct.values())
    assert sum(line["messages"] for line in lines) == expected_messages
    assert sum(line["records"] for line in lines) == expected_records
    summary = json.loads(run_cli("summary", "--db", db, "--json").stdout)
    assert (summary["reports"], summary["records"], summary["messages"]) == (
        len(distinct),
        expected_records,
        expected_messages,
    )
    again = run_cli("ingest", str(corpus), "--db", db, "--json")
    assert again.returncode == 0, again.stderr
    second = [json.loads(line) for line in again.stdout.splitlines()]
    assert len(second) == len(lines)
    assert sum(line["records"] for line in second) == 0
    assert all(line["outcome"] in ("duplicate", "rejected") for line in second)
    assert json.loads(run_cli("summary", "--db", db, "--json").stdout) == summary
