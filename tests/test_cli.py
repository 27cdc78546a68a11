"""`python -m dmarc_analytics` as a user runs it: separate processes on a real database."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmarc_analytics import __version__
from dmarc_analytics.store import open_store
from dmarc_analytics.synth import write_corpus
from tests.builders import CANONICAL_XML, WRAPPERS
from tests.support import back_to_before_rollups

REPO = Path(__file__).resolve().parents[1]
JSON_KEYS = [
    "path", "sha256", "outcome", "reason", "reports", "records", "messages", "duplicates",
    "conflicts", "partial", "rejected_parts", "removed",
]  # fmt: skip
EVIL_ORG = b"=HYPERLINK(&quot;http://x&quot;)"


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dmarc_analytics", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "a.xml").write_bytes(CANONICAL_XML)
    evil = CANONICAL_XML.replace(b"<org_name>google.com", b"<org_name>" + EVIL_ORG)
    (folder / "b.xml.gz").write_bytes(WRAPPERS["gzip"](evil))
    (folder / "c.txt").write_bytes(b"unused")
    return folder


def test_version():
    out = cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"dmarc-analytics, version {__version__}"


def test_ingest_json_lines_and_exit_code(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    out = cli("ingest", str(inputs), "--db", db, "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [list(line) for line in lines] == [JSON_KEYS] * 3
    assert [(Path(x["path"]).name, x["outcome"], x["reports"], x["records"], x["messages"])
            for x in lines] == [
        ("a.xml", "inserted", 1, 2, 7),
        ("b.xml.gz", "inserted", 1, 2, 7),
        ("c.txt", "rejected", 0, 0, 0),
    ]  # fmt: skip
    assert "unused" in lines[2]["reason"]
    assert "3 inputs: 2 inserted, 0 duplicate, 1 rejected" in out.stderr
    again = cli("ingest", str(inputs / "a.xml"), "--db", db, "--json")
    assert json.loads(again.stdout)["outcome"] == "duplicate"


def test_a_conflict_names_its_input_and_the_report_kept(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    assert cli("ingest", str(inputs / "a.xml"), "--db", db).returncode == 0
    changed = tmp_path / "changed.xml.gz"
    changed.write_bytes(WRAPPERS["gzip"](CANONICAL_XML.replace(b"<count>", b"<count>1")))
    out = cli("ingest", str(changed), "--db", db)
    assert out.returncode == 0
    assert (
        f"conflict  {changed} (changed.xml.gz/changed.xml): a report with the same identity but "
        "different data is already stored (report 1, from a.xml); the earlier one is kept"
    ) in out.stderr


def test_ingest_plain_output_names_rejected_inputs(tmp_path, inputs):
    out = cli("ingest", str(inputs), "--db", str(tmp_path / "x.duckdb"))
    assert out.returncode == 0
    assert out.stdout == ""
    assert f"rejected  {inputs / 'c.txt'}: text, not a DMARC report" in out.stderr


def test_a_missing_path_is_said_and_the_other_inputs_are_still_ingested(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    missing = [str(tmp_path / "typo.xml"), str(tmp_path / "nothing-*.xml")]
    out = cli("ingest", missing[0], str(inputs / "a.xml"), missing[1], "--db", db, "--json")
    assert out.returncode == 1
    assert [json.loads(line)["outcome"] for line in out.stdout.splitlines()] == ["inserted"]
    assert out.stderr.strip().splitlines()[-2:] == [
        f"Error: no such file or folder: {spec}" for spec in missing
    ]
    assert json.loads(cli("summary", "--db", db, "--json").stdout)["reports"] == 1


def test_a_broken_link_named_or_matched_is_a_rejected_input(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    link = inputs / "gone.xml"
    link.symlink_to(tmp_path / "nowhere.xml")
    for spec in (str(link), str(inputs / "*.xml")):
        out = cli("ingest", spec, "--db", db, "--json")
        assert out.returncode == 0, out.stderr
        lines = [json.loads(line) for line in out.stdout.splitlines()]
        gone = next(line for line in lines if line["path"] == str(link))
        assert (gone["outcome"], gone["reason"]) == (
            "rejected", "broken link: what it points to does not exist"
        )  # fmt: skip


def test_a_database_path_naming_a_file_of_other_data_is_refused(tmp_path, inputs):
    # DuckDB opens such a file as a database in memory: an ingest would have "added" reports
    # that vanished at exit.
    notes = tmp_path / "notes.csv"
    notes.write_text("a,b\n" * 1000)
    for command in (["ingest", str(inputs / "a.xml")], ["summary"]):
        out = cli(*command, "--db", str(notes))
        assert (out.returncode, out.stderr.strip().splitlines()) == (1, [
            f"Error: {notes} is not a DuckDB database (it holds other data): give the "
            "database file, such as data/dmarc.duckdb"
        ])  # fmt: skip
    assert notes.read_text() == "a,b\n" * 1000


def test_errors_are_one_line_and_non_zero(tmp_path):
    out = cli("ingest", str(tmp_path / "missing"), "--db", str(tmp_path / "x.duckdb"))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"Error: no such file or folder: {tmp_path / 'missing'}"
    ]
    # A mistyped database path is an error, not an empty database made on the spot.
    for command in (["summary"], ["export", "-o", str(tmp_path / "o.csv")], ["reparse"],
                    ["purge", "--demo"]):  # fmt: skip
        typo = cli(*command, "--db", str(tmp_path / "typo" / "x.duckb"))
        assert (typo.returncode, typo.stderr.strip().splitlines()) == (1, [
            f"Error: no database at {tmp_path / 'typo' / 'x.duckb'}: check the path (--db or "
            "DMARC_ANALYTICS_DB), or ingest reports first"
        ])  # fmt: skip
    assert not (tmp_path / "typo").exists()
    bad = cli("summary", "--db", str(tmp_path / "x.duckdb"), "--dmarc", "maybe")
    assert bad.returncode != 0
    assert "'maybe' is not one of pass, fail" in bad.stderr


def test_summary_json_and_filters(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    cli("ingest", str(inputs), "--db", db)
    everything = json.loads(cli("summary", "--db", db, "--json").stdout)
    assert everything == {
        "reports": 2,
        "records": 4,
        "messages": 14,
        "dmarc_pass_messages": 6,
        "by_disposition": {"none": 14},
        "begin": "2023-11-15T00:00:00Z",
        "end": "2023-11-15T23:59:59Z",
    }
    failing = json.loads(cli("summary", "--db", db, "--json", "--dmarc", "fail").stdout)
    assert (failing["records"], failing["messages"], failing["by_disposition"]) == (
        2, 8, {"none": 8},
    )  # fmt: skip
    by_ip = json.loads(cli("summary", "--db", db, "--json", "--source-ip", "192.0.2.0/28").stdout)
    assert (by_ip["records"], by_ip["messages"]) == (2, 6)
    none = json.loads(cli("summary", "--db", db, "--json", "--since", "2030-01-01").stdout)
    assert none == {
        "reports": 0, "records": 0, "messages": 0, "dmarc_pass_messages": 0,
        "by_disposition": {}, "begin": None, "end": None,
    }  # fmt: skip
    env_db = json.loads(cli("summary", "--json", env={"DMARC_ANALYTICS_DB": db}).stdout)
    assert env_db == everything


def test_export_to_a_place_it_cannot_write_is_one_line_and_to_dash_is_standard_output(
    tmp_path, inputs
):
    db = str(tmp_path / "x.duckdb")
    cli("ingest", str(inputs), "--db", db)
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "file").write_text("x")
    for target, reason in ((folder, "it is a folder"), (tmp_path / "file" / "x.csv", "")):
        out = cli("export", "--db", db, "-o", str(target))
        assert out.returncode == 1
        assert out.stderr.startswith(f"Error: cannot write {target}: {reason}")
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr  # no traceback
    assert list(folder.iterdir()) == []  # nothing left behind
    # A link (or a device, a pipe) is written through, never replaced by a file.
    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    link.symlink_to(real)
    assert cli("export", "--db", db, "-o", str(link)).returncode == 0
    assert link.is_symlink() and len(real.read_text(encoding="utf-8").splitlines()) == 5
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    assert cli("export", "--db", db, "-o", str(fifo)).returncode == 0
    assert len(reader.communicate(timeout=60)[0].splitlines()) == 5 and fifo.is_fifo()
    piped = cli("export", "--db", db, "-o", "-", "--dmarc", "fail")
    assert piped.returncode == 0, piped.stderr
    rows = list(csv.DictReader(io.StringIO(piped.stdout)))
    assert [r["dmarc"] for r in rows] == ["fail", "fail"]
    assert "wrote 2 records to standard output" in piped.stderr
    named = cli("export", "--db", db, "-o", "/dev/stdout", "--dmarc", "fail")  # a link to a pipe
    assert named.returncode == 0, named.stderr
    assert named.stdout == piped.stdout
    assert not (REPO / "-").exists()


def test_output_is_whole_and_the_exit_code_kept_when_the_command_ends(tmp_path):
    """The command line leaves without Python's teardown (``__main__``): what it wrote
    must still all arrive, and its exit code stay the command's."""
    corpus = tmp_path / "corpus"
    stats = write_corpus(corpus, 60, seed=5, records_mean=40)
    db = str(tmp_path / "x.duckdb")
    ingested = cli("ingest", "--json", str(corpus), "--db", db)
    assert ingested.returncode == 0, ingested.stderr
    lines = ingested.stdout.splitlines()
    assert len(lines) == 60 and all(json.loads(line)["outcome"] == "inserted" for line in lines)
    exported = cli("export", "--db", db, "-o", "-")
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.splitlines()) == stats.records + 1  # and the header
    assert exported.stdout.endswith("\n")
    assert cli("summary", "--db", str(tmp_path / "none.duckdb")).returncode == 1
    assert cli("summary", "--no-such-option", "--db", db).returncode == 2  # a usage error


def test_export_csv_is_safe_for_spreadsheets(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    cli("ingest", str(inputs), "--db", db)
    target = tmp_path / "out.csv"
    out = cli("export", "--db", db, "--format", "csv", "-o", str(target), "--bom")
    assert out.returncode == 0, out.stderr
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 4
    assert sum(int(r["count"]) for r in rows) == 14
    assert {r["reporter"] for r in rows} == {
        "google.com",
        "'" + EVIL_ORG.decode().replace("&quot;", '"'),
    }
    assert rows[0]["dkim_results"] == "example.com/s1=pass"
    # UTC times as Excel reads them (it keeps "2023-11-15T00:00:00Z" as text)
    assert (rows[0]["report_begin_utc"], rows[0]["report_end_utc"]) == (
        "2023-11-15 00:00:00", "2023-11-15 23:59:59"
    )
    filtered = tmp_path / "fail.csv"
    cli("export", "--db", db, "-o", str(filtered), "--dmarc", "fail")
    failing = list(csv.DictReader(filtered.open(encoding="utf-8")))
    assert [r["dmarc"] for r in failing] == ["fail", "fail"]
    assert not filtered.read_bytes().startswith(b"\xef\xbb\xbf")
    # In a time zone: the times move, and the column names say where.
    tokyo = tmp_path / "tokyo.csv"
    assert cli("export", "--db", db, "-o", str(tokyo), "--tz", "Asia/Tokyo").returncode == 0
    first = next(csv.DictReader(tokyo.open(encoding="utf-8")))
    assert list(first)[:2] == ["report_begin_asia_tokyo", "report_end_asia_tokyo"]
    assert (first["report_begin_asia_tokyo"], first["report_end_asia_tokyo"]) == (
        "2023-11-15 09:00:00", "2023-11-16 08:59:59"
    )
    # A zone typed in another case is the zone.
    assert cli("export", "--db", db, "-o", str(tokyo), "--tz", "asia/TOKYO").returncode == 0
    assert list(next(csv.DictReader(tokyo.open(encoding="utf-8"))))[0] == (
        "report_begin_asia_tokyo"
    )
    # The time_zone setting is the default; --tz still wins.
    tokyo_env = {"DMARC_ANALYTICS_TIME_ZONE": "Asia/Tokyo"}
    assert cli("export", "--db", db, "-o", str(tokyo), env=tokyo_env).returncode == 0
    assert list(next(csv.DictReader(tokyo.open(encoding="utf-8"))))[0] == "report_begin_asia_tokyo"
    assert cli("export", "--db", db, "-o", str(tokyo), "--tz", "UTC", env=tokyo_env).returncode == 0
    assert list(next(csv.DictReader(tokyo.open(encoding="utf-8"))))[0] == "report_begin_utc"
    for zone in ("Mars/Olympus", "localtime"):  # Python knows localtime, DuckDB does not
        bad = cli("export", "--db", db, "-o", str(tokyo), "--tz", zone)
        assert bad.returncode == 2 and f"'{zone}' is not a time zone name" in bad.stderr


def test_watch_ingests_dropped_files(tmp_path):
    db, inbox = tmp_path / "x.duckdb", tmp_path / "inbox"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "dmarc_analytics", "ingest", "--watch", str(inbox), "--db", str(db)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not inbox.is_dir() and time.monotonic() < deadline:
            time.sleep(0.1)
        # A hidden folder is skipped, as a folder ingest skips it.
        (inbox / ".cache").mkdir()
        (inbox / ".cache" / "hidden.xml").write_bytes(CANONICAL_XML.replace(b"17000064", b"9"))
        (inbox / "dropped.xml").write_bytes(CANONICAL_XML)
        reports = 0
        while reports == 0 and time.monotonic() < deadline + 10:
            time.sleep(0.5)
            out = cli("summary", "--db", str(db), "--json")
            if out.returncode == 0:
                reports = json.loads(out.stdout)["reports"]
        assert reports == 1
        time.sleep(2.5)  # a round or two later: still only the visible file
        assert json.loads(cli("summary", "--db", str(db), "--json").stdout)["reports"] == 1
    finally:
        watcher.terminate()
        watcher.wait(10)


def test_watch_does_not_take_again_what_the_ledger_has_seen(tmp_path):
    from dmarc_analytics.config import Settings
    from dmarc_analytics.ingest_cli import _not_seen
    from dmarc_analytics.maintenance import purge
    from dmarc_analytics.pipeline import Ingestor
    from dmarc_analytics.sources import InputFile

    settings = Settings(db=tmp_path / "x.duckdb", archive=False, workers=1)
    purged, rejected, new = (tmp_path / n for n in ("purged.xml", "bad.xml", "new.xml"))
    purged.write_bytes(CANONICAL_XML)
    rejected.write_bytes(b"<html/>")
    new.write_bytes(CANONICAL_XML.replace(b"17000064", b"27000064"))
    Ingestor(settings).ingest_paths([InputFile(purged, "p.xml"), InputFile(rejected, "b.xml")])
    assert purge(settings, policy_domain="example.com") == 1
    candidates = [InputFile(p, p.name) for p in (purged, rejected, new)]
    assert [i.display for i in _not_seen(settings, candidates)] == ["new.xml"]
    # An entry with nothing to read (a broken link) is rejected once, not at every start.
    gone = InputFile(tmp_path / "gone.xml", "gone.xml", "broken link: what it points to "
                     "does not exist")  # fmt: skip
    assert _not_seen(settings, [gone]) == [gone]
    Ingestor(settings).ingest_paths([gone])
    assert _not_seen(settings, [gone]) == []


@pytest.mark.slow
def test_ingest_while_other_processes_read_and_write(tmp_path):
    big, small = tmp_path / "big", tmp_path / "small"
    stats = write_corpus(big, 3000, seed=3)
    write_corpus(small, 30, seed=4)
    db = str(tmp_path / "x.duckdb")
    cli("ingest", str(small / next(iter(sorted(os.listdir(small))))), "--db", db)
    writer = subprocess.Popen(
        [sys.executable, "-m", "dmarc_analytics", "ingest", str(big), "--db", db],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    errors, reads, overlapped = [], 0, []
    small_files = sorted(small.iterdir())
    while writer.poll() is None:
        read = cli("summary", "--db", db, "--json")
        reads += 1
        if read.returncode != 0:
            errors.append(read.stderr)
        if small_files:
            wrote = cli("ingest", str(small_files.pop()), "--db", db)
            if wrote.returncode != 0:
                errors.append(wrote.stderr)
        overlapped.append(writer.poll() is None)  # the big ingest outlived a read and a write
    assert writer.returncode == 0, writer.stderr.read()
    assert errors == []
    assert reads >= 1 and overlapped[0]
    final = json.loads(cli("summary", "--db", db, "--json").stdout)
    small_stats = json.loads(cli("summary", "--db", db, "--json", "--reporter", "none").stdout)
    assert small_stats["reports"] == 0
    assert final["reports"] >= stats.reports + 1


def test_a_write_to_a_database_of_an_older_version_says_it_upgrades(tmp_path, inputs):
    import duckdb

    db = str(tmp_path / "old.duckdb")
    first = cli("ingest", str(inputs / "a.xml"), "--db", db)
    assert first.returncode == 0
    assert "upgrading" not in first.stderr  # creating a database is not an upgrade
    con = duckdb.connect(db)
    back_to_before_rollups(con)
    con.close()
    out = cli("ingest", str(inputs), "--db", db)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("upgrading the database for this version")
    again = cli("ingest", str(inputs), "--db", db)
    assert "upgrading" not in again.stderr
    assert "005_rollups" in cli("schema", "--db", db).stdout
    # A mistyped path is said, not answered with a new, empty database.
    typo = tmp_path / "typo" / "old.duckdb"
    missing = cli("schema", "--db", str(typo))
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"Error: no database at {typo}")
    assert not typo.parent.exists()


def test_reparse_names_what_it_could_not_rebuild_and_keeps_it(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    assert cli("ingest", str(inputs / "a.xml"), "--db", db, "--no-archive").returncode == 0
    assert cli("ingest", str(inputs / "b.xml.gz"), "--db", db).returncode == 0
    before = json.loads(cli("summary", "--db", db, "--json").stdout)
    assert before["reports"] == 2
    out = cli("reparse", "--db", db)
    assert out.returncode == 0
    assert "1 input: 1 inserted" in out.stderr
    assert (
        f"reparse: 1 report left unchanged: the archive {tmp_path / 'archive'} has no "
        f"original of {inputs / 'a.xml'} (ingested with archiving off, or the archive was "
        "moved or damaged)"
    ) in out.stderr
    assert json.loads(cli("summary", "--db", db, "--json").stdout) == before


def test_reparse_says_what_a_purge_keeps_out(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    cli("ingest", str(inputs / "a.xml"), "--db", db)
    assert cli("purge", "--policy-domain", "example.com", "--db", db).returncode == 0
    out = cli("reparse", "--db", db)
    assert out.returncode == 0, out.stderr
    assert ("1 report found, 0 duplicate reports, 0 conflicts, 0 partial, 0 rejected parts, "
            "1 kept out (removed earlier by purge); added 0 reports") in out.stderr  # fmt: skip
    assert json.loads(cli("summary", "--db", db, "--json").stdout)["reports"] == 0


def test_summary_and_export_say_when_a_reparse_has_not_finished(tmp_path, inputs):
    db = str(tmp_path / "x.duckdb")
    assert cli("ingest", str(inputs / "a.xml"), "--db", db).returncode == 0
    with open_store(Path(db)) as con:  # as a reparse stopped half-way leaves it
        con.execute("INSERT INTO state VALUES ('reparse_started', 1795000000)")
    warning = (
        "warning: a reparse started at 2026-11-18 11:06 UTC has not finished, so reports are "
        "missing until it does; if it was stopped, run `reparse` again"
    )
    summary = cli("summary", "--db", db, "--json")
    assert (summary.returncode, summary.stderr.strip()) == (0, warning)
    assert json.loads(summary.stdout)["reports"] == 1  # the JSON itself is unchanged
    export = cli("export", "--db", db, "-o", str(tmp_path / "x.csv"))
    assert export.returncode == 0 and warning in export.stderr
    assert cli("reparse", "--db", db).returncode == 0
    assert cli("summary", "--db", db).stderr == ""


def test_purge_reads_dates_and_domains_as_the_filter_does(tmp_path):
    db = str(tmp_path / "x.duckdb")
    policy = b"<domain>example.com</domain>"  # the first <domain>: the published policy's
    idn = CANONICAL_XML.replace(policy, "<domain>bücher.example</domain>".encode(), 1)
    other = CANONICAL_XML.replace(policy, b"<domain>example.org</domain>", 1)
    for name, data in (("a.xml", CANONICAL_XML), ("b.xml", idn), ("c.xml", other)):
        (tmp_path / name).write_bytes(data)
        assert cli("ingest", str(tmp_path / name), "--db", db).returncode == 0
    reversed_dates = cli("purge", "--db", db, "--since", "2024-01-02", "--until", "2024-01-01")
    bad_date = cli("purge", "--db", db, "--since", "2024-13-01")
    assert (reversed_dates.returncode, reversed_dates.stderr.strip()) == (
        1, "Error: since (2024-01-02) is after until (2024-01-01)"
    )  # fmt: skip
    assert bad_date.returncode == 1 and len(bad_date.stderr.strip().splitlines()) == 1
    # The Unicode spelling finds the report stored under its ASCII form; several domains.
    assert cli("purge", "--db", db, "--policy-domain", "Bücher.example.").stdout == (
        "removed 1 report\n"
    )
    # A blank domain is an error, never "every domain" for the dates given.
    blank = cli("purge", "--db", db, "--policy-domain", " ", "--since", "2000-01-01")
    assert (blank.returncode, blank.stderr) == (1, "Error: policy_domain: no domain given\n")
    out = cli("purge", "--db", db, "--policy-domain", "example.com,example.org")
    assert out.stdout == "removed 2 reports\n"
    assert json.loads(cli("summary", "--db", db, "--json").stdout)["reports"] == 0
