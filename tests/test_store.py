"""The store: schema, idempotence, conflicts, ledger, summary — on a real DuckDB file."""

import hashlib
from datetime import datetime

import duckdb
import pyarrow as pa
import pytest

from dmarc_analytics.filters import Filter
from dmarc_analytics.flatten import TableBuilder
from dmarc_analytics.model import (
    AggregateReport,
    DkimResult,
    PolicyPublished,
    Record,
    ReportFormat,
    ReportMetadata,
    SpfResult,
)
from dmarc_analytics.outcomes import ChunkResult, FileResult, PartResult
from dmarc_analytics.queries import summary
from dmarc_analytics.schema import MIGRATIONS, applied_migrations, ensure_schema
from dmarc_analytics.store import bulk_writes, data_version, initialise_store, open_store
from dmarc_analytics.writer import write_batch
from tests.support import back_to_before_rollups

NOW = datetime(2026, 11, 28, 12, 0, 0)


def make_report(report_id="r1", org="Google.com", counts=(3, 4), header_from="example.com"):
    records = tuple(
        Record(
            source_ip=f"192.0.2.{i + 1}",
            count=count,
            disposition="none",
            dkim="pass" if i == 0 else "fail",
            spf="fail",
            header_from=header_from,
            dkim_results=(DkimResult("example.com", "s1", "pass"),) if i == 0 else (),
            spf_results=(SpfResult("bounce.esp.net", "mfrom", "pass"),),
        )
        for i, count in enumerate(counts)
    )
    return AggregateReport(
        format=ReportFormat.RFC7489,
        metadata=ReportMetadata(org, "dmarc@google.com", report_id, 1764547200, 1764633599),
        policy=PolicyPublished("example.com", "none"),
        records=records,
    )


def file_result(name, sha, *reports):
    """One input holding ``reports``, as a parse worker hands it to the writer."""
    builder = TableBuilder()
    parts = []
    for i, report in enumerate(reports):
        content = hashlib.sha256(repr(report).encode()).hexdigest()
        origin = f"{name}/{i}"
        parts.append(PartResult(origin, report=builder.add(report, content, sha * 64, origin)))
    tables = builder.tables() if builder.count else {}
    return ChunkResult([FileResult(name, sha * 64, 100, parts)], tables)


@pytest.fixture
def con(tmp_path):
    with open_store(tmp_path / "t.duckdb") as connection:
        yield connection


def test_ensure_schema_twice_is_harmless(con):
    assert ensure_schema(con) == len(MIGRATIONS)
    assert [name for _, name, _ in applied_migrations(con)] == [m.name for m in MIGRATIONS]


def test_pending_migrations_are_listed_without_being_applied(tmp_path):
    from dmarc_analytics.store import pending_migrations

    path = tmp_path / "p.duckdb"
    assert pending_migrations(path) == []  # nothing to upgrade: a new file is created quickly
    assert not path.exists()
    with open_store(path) as con:
        back_to_before_rollups(con)
    assert pending_migrations(path) == ["005_rollups"]
    assert pending_migrations(path) == ["005_rollups"]  # listing applied nothing
    with open_store(path):
        pass
    assert pending_migrations(path) == []


def test_data_digests_tell_values_apart_whatever_characters_they_hold(con):
    # Report data may contain the separators the digest text uses: values are written with
    # their lengths, so ("x", "y<US>=z") and ("x<US>=y", "z") are different data.
    from dmarc_analytics.digests import digest_text

    rows = con.execute(
        f"SELECT {digest_text(('a', 'b'), 't')} FROM (VALUES ('x', 'y' || chr(31) || '=z'), "
        "('x' || chr(31) || '=y', 'z'), (NULL, ''), ('', NULL)) t(a, b)"
    ).fetchall()
    assert len({row[0] for row in rows}) == 4


def test_insert_then_duplicate_then_conflict(con):
    first = write_batch(con, [file_result("a.xml", "a", make_report())], "cli", NOW)
    assert [(o.outcome, o.reports, o.records, o.messages) for o in first] == [("inserted", 1, 2, 7)]
    again = write_batch(con, [file_result("b.xml", "b", make_report())], "cli", NOW)
    assert [(o.outcome, o.duplicates, o.records, o.messages) for o in again] == [
        ("duplicate", 1, 0, 0)
    ]
    changed = write_batch(con, [file_result("c.xml", "c", make_report(counts=(3, 5)))], "cli", NOW)
    assert changed[0].outcome == "duplicate"
    assert changed[0].conflicts == 1
    assert "conflict" in changed[0].reason
    totals = summary(con, Filter())
    assert (totals.reports, totals.records, totals.messages) == (1, 2, 7)
    assert con.execute("SELECT count(*) FROM conflicts").fetchone() == (1,)
    ledger = con.execute("SELECT name, outcome FROM ingest_ledger ORDER BY ledger_id").fetchall()
    assert ledger == [("a.xml", "inserted"), ("b.xml", "duplicate"), ("c.xml", "duplicate")]


def test_identity_ignores_case_whitespace_and_brackets(con):
    write_batch(con, [file_result("a.xml", "a", make_report(report_id="<r1>"))], "cli", NOW)
    out = write_batch(
        con, [file_result("b.xml", "b", make_report(report_id=" r1 ", org=" google.COM"))],
        "cli", NOW,
    )  # fmt: skip
    # Same identity; content differs only in how org_name/report_id were written.
    assert out[0].outcome == "duplicate"


def test_summary_and_version(con):
    before = data_version(con)
    write_batch(
        con,
        [file_result("a.xml", "a", make_report(), make_report("r2", counts=(10,)))],
        "cli",
        NOW,
    )
    assert data_version(con) == before + 1
    totals = summary(con, Filter())
    assert totals.as_json() == {
        "reports": 2,
        "records": 3,
        "messages": 17,
        "dmarc_pass_messages": 13,
        "by_disposition": {"none": 17},
        "begin": "2025-12-01T00:00:00Z",
        "end": "2025-12-01T23:59:59Z",
    }
    failing = summary(con, Filter(dmarc="fail"))
    assert (failing.reports, failing.messages, failing.dmarc_pass_messages) == (1, 4, 0)


def test_recomputed_alignment_is_stored_beside_the_verdict(con):
    write_batch(con, [file_result("a.xml", "a", make_report())], "cli", NOW)
    rows = con.execute(
        "SELECT dkim, dkim_aligned_calc, spf, spf_aligned_calc, verdict_mismatch, "
        "auth_unaligned_domains FROM records ORDER BY ordinal"
    ).fetchall()
    assert rows == [
        ("pass", True, "fail", False, False, "spf:bounce.esp.net"),
        ("fail", False, "fail", False, False, "spf:bounce.esp.net"),
    ]


def test_rejected_input_is_in_the_ledger(con):
    bad = FileResult("x.bin", "d" * 64, 5, [PartResult("x.bin", kind="corrupt", reason="junk")])
    out = write_batch(con, [ChunkResult([bad])], "cli", NOW)
    assert (out[0].outcome, out[0].reason, out[0].rejected_parts) == ("rejected", "junk", 1)
    assert con.execute("SELECT outcome, reason FROM ingest_ledger").fetchall() == [
        ("rejected", "junk")
    ]


def test_a_failing_batch_leaves_nothing(tmp_path):
    path = tmp_path / "t.duckdb"
    broken = file_result("a.xml", "a", make_report())
    records = broken.tables["records"]
    broken.tables["records"] = records.set_column(
        records.schema.get_field_index("count"), "count", pa.array(["many"] * records.num_rows)
    )
    with open_store(path) as con, pytest.raises(duckdb.Error):
        write_batch(con, [broken], "cli", NOW)
    with open_store(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM reports").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM ingest_ledger").fetchone() == (0,)


def test_a_busy_database_names_the_process_that_holds_it(tmp_path):
    import subprocess
    import sys

    from dmarc_analytics.errors import StoreBusyError

    db = tmp_path / "held.duckdb"
    initialise_store(db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusyError) as caught, open_store(db, timeout=0.3):
            pass
    finally:
        holder.kill()
        holder.wait()
    message = str(caught.value)
    assert message.startswith(f"database {db} is busy: another process held its lock for ")
    assert f"(PID {holder.pid}))" in message and "lock held by /" in message
    assert caught.value.key == "error.store_busy_held"  # the app words it from the catalogue
    assert caught.value.values["pid"] == str(holder.pid)


def test_bulk_writes_puts_the_settings_back_also_after_a_failed_write(tmp_path):
    """The app shares one DuckDB instance between its pages and its writers: a batch's
    settings must not outlive the batch."""
    db = tmp_path / "x.duckdb"
    initialise_store(db)
    with open_store(db) as con:
        settings = "SELECT current_setting('threads'), current_setting('checkpoint_threshold')"
        before = con.execute(settings).fetchall()
        with bulk_writes(con):
            assert con.execute(settings).fetchall() == [(1, "976.5 KiB")]
        assert con.execute(settings).fetchall() == before
        with pytest.raises(duckdb.Error), bulk_writes(con):
            con.execute("SELECT * FROM no_such_table")
        assert con.execute(settings).fetchall() == before


@pytest.mark.parametrize("arrow", [False, True])
def test_rows_the_writer_inserts_come_back_as_they_were(tmp_path, arrow):
    from dmarc_analytics.inserts import insert_rows as _insert

    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute(
        "CREATE TABLE t (id BIGINT, name VARCHAR, note VARCHAR, size BIGINT, flag BOOLEAN, "
        "path BLOB, inode UBIGINT)"
    )
    columns = ("id", "name", "note", "size", "flag", "path", "inode")
    rows = [
        (7, "a.xml", "same", 0, True, b"/in/a.xml", 1),
        (8, "", "same", -5, False, b"/in/\xff.xml", 2),  # an empty text is a value
        (9, "報告 ,\n;.xml", "same", 2**62, True, b"", 3),
        (10, "z.zip", "same", 3, True, b"/in/z.zip", 4),
    ]  # consecutive ids (bound as a range), a column of one value (bound once), lists
    odd = [
        (1, "nul\0inside", None, 1, True, None, 5),
        (3, None, "x", 2, False, b"p", 2**64 - 1),  # beyond 64-bit signed: not for Arrow
        (2, "b", "y", 2, None, b"q", 6),  # ids out of order, NULLs
    ]
    for batch in (rows, odd, rows[:1]):
        con.execute("DELETE FROM t")
        _insert(con, "t", columns, batch, arrow=arrow)
        assert con.execute("SELECT * FROM t").fetchall() == batch
    # replacing: the rows with the same key go first, the others stay
    con.execute("DELETE FROM t")
    _insert(con, "t", columns, rows, arrow=arrow)
    _insert(con, "t", columns, [(11, "a2", None, 1, True, b"/in/a.xml", 9)], arrow=arrow,
            replacing="path")  # fmt: skip
    assert con.execute("SELECT id, path FROM t ORDER BY id").fetchall() == [
        (8, b"/in/\xff.xml"), (9, b""), (10, b"/in/z.zip"), (11, b"/in/a.xml")
    ]  # fmt: skip
