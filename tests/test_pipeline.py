"""The whole ingest path on real files and a real DuckDB file: containers, outcomes, ledger."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dmarc_analytics import archive, maintenance, pipeline, recognise
from dmarc_analytics.config import Limits, Settings
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.filters import Filter
from dmarc_analytics.maintenance import purge, purged_count, reparse
from dmarc_analytics.parse import parse_report
from dmarc_analytics.pipeline import Ingestor
from dmarc_analytics.queries import summary
from dmarc_analytics.sources import Blob, InputFile, expand_inputs
from dmarc_analytics.store import open_store, reparse_started
from tests.builders import CANONICAL_XML, PAYLOAD_COUNTS, WRAPPERS, gzip_bomb, zip_archive

CANONICAL = parse_report(CANONICAL_XML)


def settings_for(tmp_path: Path, **changes) -> Settings:
    base = Settings(db=tmp_path / "db.duckdb", archive_dir=tmp_path / "archive", workers=1)
    return replace(base, **changes)


def ingest(settings: Settings, *paths: Path, via: str = "cli"):
    return Ingestor(settings, via=via).ingest_paths(expand_inputs([str(p) for p in paths]))


def totals(settings: Settings, flt: Filter | None = None):
    with open_store(settings.db, read_only=True) as con:
        return summary(con, flt or Filter())


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_canonical_report_in_every_container_ingests_the_same(tmp_path, wrapper):
    path = tmp_path / f"input.{wrapper}"
    path.write_bytes(WRAPPERS[wrapper](CANONICAL_XML))
    settings = settings_for(tmp_path)
    (outcome,) = ingest(settings, path)
    copies = PAYLOAD_COUNTS.get(wrapper, 1)
    # The same report in each payload: one added, the other copies duplicates.
    assert (outcome.outcome, outcome.reports, outcome.found, outcome.duplicates) == (
        "inserted",
        1,
        copies,
        copies - 1,
    )
    assert (outcome.records, outcome.messages) == (len(CANONICAL.records), CANONICAL.message_count)
    result = totals(settings)
    assert (result.reports, result.records, result.messages) == (
        1,
        len(CANONICAL.records),
        CANONICAL.message_count,
    )


def test_a_report_keeps_the_digest_of_its_xml_whatever_carried_it(tmp_path):
    # A plain XML file is its own payload: its digest is the input's, not hashed again.
    # Wrapped or not, the same XML is the same content: duplicates, never conflicts.
    paths = []
    for name, wrap in (("plain.xml", lambda x: x), ("packed.xml.gz", WRAPPERS["gzip"]),
                       ("zipped.zip", WRAPPERS["zip_one_member"])):  # fmt: skip
        paths.append(tmp_path / name)
        paths[-1].write_bytes(wrap(CANONICAL_XML))
    settings = settings_for(tmp_path)
    outcomes = ingest(settings, *paths)
    assert [o.outcome for o in outcomes] == ["inserted", "duplicate", "duplicate"]
    assert [o.conflicts for o in outcomes] == [0, 0, 0]
    with open_store(settings.db, read_only=True) as con:
        stored = con.execute("SELECT content_sha256, input_sha256 FROM reports").fetchall()
    digest = hashlib.sha256(CANONICAL_XML).hexdigest()
    assert stored == [(digest, digest)]


def _gzip_reports(folder: Path, numbers: range) -> Path:
    """One gzipped copy of the canonical report per number, each with its own report ID."""
    folder.mkdir(exist_ok=True)
    for i in numbers:
        xml = CANONICAL_XML.replace(b"17000064001234567890", f"id-{i}".encode())
        (folder / f"r{i:02}.xml.gz").write_bytes(WRAPPERS["gzip"](xml))
    return folder


def test_parallel_and_serial_ingest_store_the_same(tmp_path):
    folder = _gzip_reports(tmp_path / "in", range(40))
    serial = settings_for(tmp_path / "a", workers=1)
    parallel = settings_for(tmp_path / "b", workers=2)
    out_serial, out_parallel = ingest(serial, folder), ingest(parallel, folder)
    assert [o.as_json() for o in out_serial] == [o.as_json() for o in out_parallel]
    assert totals(serial) == totals(parallel)
    assert totals(parallel).reports == 40


def test_a_workers_results_come_back_from_pickling_as_they_were():
    import pickle

    from dmarc_analytics.outcomes import FileResult, PartResult, ReportMeta

    meta = ReportMeta(3, "identity", "c" * 64, 20, 400, False)
    result = FileResult(
        "a.zip", "s" * 64, 1234,
        [PartResult("a.zip/r.xml", report=meta), PartResult("a.zip/x", kind="corrupt",
                                                             reason="why")],
        known_conflicts=1, packed=("pack-1", 99), stat=(b"/in/a.zip", 1234, 1, 2, 3, 4),
    )  # fmt: skip
    back = pickle.loads(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == result and type(back.parts[0].report) is ReportMeta
    with pytest.raises(AttributeError):  # still frozen
        back.parts[0].report.records = 1  # type: ignore[misc]


@pytest.mark.parametrize("spool_writable", [True, False])
def test_workers_leave_results_in_a_private_folder_that_is_gone_afterwards(
    tmp_path, monkeypatch, spool_writable
):
    from dmarc_analytics import worker

    folder = _gzip_reports(tmp_path / "in", range(40))
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    if not spool_writable:  # the workers cannot write there: results come through the pipe
        real_init = worker.init_worker
        monkeypatch.setattr(
            worker, "init_worker", lambda context, spool: real_init(context, str(temp / "gone"))
        )
    received = []
    real_collect = worker.collect

    def collect(result):
        received.append(type(result).__name__)
        return real_collect(result)

    monkeypatch.setattr(worker, "collect", collect)
    settings = settings_for(tmp_path / "db", workers=2)
    outcomes = ingest(settings, folder)
    assert [o.outcome for o in outcomes] == ["inserted"] * 40
    assert totals(settings).reports == 40
    assert set(received) == ({"str"} if spool_writable else {"ChunkResult"})
    assert list(temp.iterdir()) == []  # no result and no folder left behind


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cycle_collector_rests_during_a_run_and_is_as_it_was_after(
    tmp_path, monkeypatch, enabled
):
    import gc

    from dmarc_analytics import worker

    folder = _gzip_reports(tmp_path / "in", range(40))
    seen = tmp_path / "seen"
    seen.mkdir()
    real = worker.process_chunk

    def process_chunk(items, context):
        (seen / f"{os.getpid()}-{time.monotonic_ns()}").write_text(str(gc.isenabled()))
        return real(items, context)

    monkeypatch.setattr(worker, "process_chunk", process_chunk)
    settings = settings_for(tmp_path / "db", workers=2)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        assert [o.outcome for o in ingest(settings, folder)] == ["inserted"] * 40
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    runs = list(seen.iterdir())
    assert {run.read_text() for run in runs} == {"False"}  # in every worker
    assert {run.name.split("-")[0] for run in runs} - {str(os.getpid())}  # workers did run


def _ledger_view(settings: Settings) -> dict[str, list]:
    """What a run left in the database, without the ids and times that differ by run."""
    with open_store(settings.db, read_only=True) as con:
        return {
            "ledger": con.execute(
                "SELECT name, sha256, outcome, reason, reports, records, messages, duplicates, "
                "conflicts, partial, rejected_parts FROM ingest_ledger ORDER BY name"
            ).fetchall(),
            "parts": con.execute(
                "SELECT l.name, p.ordinal, p.origin, p.outcome, p.kind, p.reason, "
                "r.identity FROM ingest_parts p JOIN ingest_ledger l USING (ledger_id) "
                "LEFT JOIN reports r USING (report_key) ORDER BY l.name, p.ordinal"
            ).fetchall(),
            "conflicts": con.execute(
                "SELECT c.identity, r.origin, c.content_sha256, c.input_sha256, c.origin "
                "FROM conflicts c JOIN reports r ON r.report_key = c.kept_report_key "
                "ORDER BY c.identity, c.origin"
            ).fetchall(),
            "reports": con.execute(
                "SELECT identity, content_sha256, reporter, origin, records, messages, "
                "issue_count FROM reports ORDER BY origin"
            ).fetchall(),
            "issues": con.execute(
                "SELECT r.origin, i.code FROM report_issues i JOIN reports r USING "
                "(report_key) ORDER BY r.origin, i.code"
            ).fetchall(),
            "inputs": con.execute(
                "SELECT sha256, reports, rejected_parts, first_name FROM inputs ORDER BY sha256"
            ).fetchall(),
        }


def test_the_last_batch_written_ahead_lands_as_one_written_at_once(tmp_path, monkeypatch):
    # The workers' last chunks go in after the rest of the batch, in the same transaction
    # (pipeline.WRITE_AHEAD_CHUNKS_PER_WORKER). Reports that repeat, conflict with or copy
    # one of the batch's first chunks must come out as when the batch is written at once.
    folder = _gzip_reports(tmp_path / "in", range(116))
    (folder / "z1-same-bytes.xml.gz").write_bytes((folder / "r03.xml.gz").read_bytes())
    (folder / "z2-same-report.xml").write_bytes(
        CANONICAL_XML.replace(b"17000064001234567890", b"id-4")
    )  # other bytes, the same data: a duplicate
    (folder / "z3-conflict.xml").write_bytes(_other_report("id-5", count="9"))
    (folder / "z4-renamed.xml").write_bytes(
        CANONICAL_XML.replace(b"17000064001234567890", b"id-6").replace(
            b"<org_name>google.com</org_name>", b"<org_name>Google LLC</org_name>"
        )
    )
    at_once = settings_for(tmp_path / "at-once", workers=1)
    ahead = settings_for(tmp_path / "ahead", workers=2)
    written = []
    real = pipeline.write_chunks

    def write_chunks(con, chunks, *args, **kwargs):
        written.append(sum(len(chunk.files) for chunk in chunks))
        return real(con, chunks, *args, **kwargs)

    monkeypatch.setattr(pipeline, "write_chunks", write_chunks)
    first, second = ingest(at_once, folder), ingest(ahead, folder)
    assert written == [60, 60]  # 8 chunks of 15: 4 ahead, 4 at the end
    assert [o.as_json() for o in first] == [o.as_json() for o in second]
    outcomes = {Path(o.path).name: (o.outcome, o.duplicates, o.conflicts) for o in second}
    assert outcomes["z1-same-bytes.xml.gz"] == ("duplicate", 1, 0)
    assert outcomes["z2-same-report.xml"] == ("duplicate", 1, 0)
    assert outcomes["z3-conflict.xml"] == ("duplicate", 0, 1)
    assert outcomes["z4-renamed.xml"] == ("inserted", 0, 0)
    view = _ledger_view(ahead)
    assert view == _ledger_view(at_once)
    assert ("z4-renamed.xml", "renamed-copy") in view["issues"]
    assert totals(ahead) == totals(at_once)


def test_a_failure_after_writing_ahead_leaves_nothing_of_the_batch(tmp_path, monkeypatch):
    folder = _gzip_reports(tmp_path / "in", range(120))
    settings = settings_for(tmp_path / "db", workers=2)
    real = pipeline.write_chunks
    calls = []

    def write_chunks(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the rest of the batch, after the part written ahead
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "write_chunks", write_chunks)
    with pytest.raises(OSError, match="disk full"):
        ingest(settings, folder)
    assert totals(settings).reports == 0  # rolled back, and the database let go
    with open_store(settings.db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ingest_ledger").fetchall() == [(0,)]
    monkeypatch.setattr(pipeline, "write_chunks", real)
    assert {o.outcome for o in ingest(settings, folder)} == {"inserted"}
    assert totals(settings).reports == 120


def test_a_batch_is_written_once_it_holds_batch_files_inputs(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(60):
        xml = CANONICAL_XML.replace(b"17000064001234567890", f"id-{i}".encode())
        (folder / f"r{i:02}.xml").write_bytes(xml)
    monkeypatch.setattr(pipeline, "BATCH_FILES", 10)
    batches = []
    real_write = pipeline.write_batch

    def write(con, chunks, *args, **kwargs):
        batches.append(sum(len(chunk.files) for chunk in chunks))
        return real_write(con, chunks, *args, **kwargs)

    monkeypatch.setattr(pipeline, "write_batch", write)
    settings = settings_for(tmp_path / "db", workers=1)
    assert len(ingest(settings, folder)) == 60
    assert batches == [15, 15, 15, 15]  # chunks of 15 inputs, each over the limit of 10
    assert totals(settings).reports == 60
    # Files ingested before cost a ledger row each: a run of them is one batch, and with no
    # report stored there are no rollups to rebuild.
    refreshes = []
    monkeypatch.setattr(pipeline, "refresh_rollups", lambda con: refreshes.append(1))
    batches.clear()
    assert {o.outcome for o in ingest(settings, folder)} == {"duplicate"}
    assert (batches, refreshes) == ([60], [])


def test_a_folder_ingested_again_opens_the_database_once(tmp_path, monkeypatch):
    folder = _gzip_reports(tmp_path / "in", range(30))
    settings = settings_for(tmp_path / "db", workers=1)
    ingest(settings, folder)
    opens = []
    real_open = pipeline.open_store

    def counted_open(*args, **kwargs):
        opens.append(1)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(pipeline, "open_store", counted_open)
    again = ingest(settings, folder)
    assert {o.outcome for o in again} == {"duplicate"}
    assert opens == [1]  # recognised and written on one connection
    # New files: opened to recognise, let go while parsing, opened again to write.
    _gzip_reports(folder, range(30, 35))
    assert [o.outcome for o in ingest(settings, folder)][-5:] == ["inserted"] * 5
    assert opens == [1, 1, 1]


def test_the_database_is_let_go_before_anything_is_parsed(tmp_path, monkeypatch):
    """Another process can write while this one parses (here: open it for writing)."""
    folder = _gzip_reports(tmp_path / "in", range(3))
    settings = settings_for(tmp_path / "db", workers=1)
    ingest(settings, _gzip_reports(tmp_path / "first", range(100, 101)))  # the file exists
    from dmarc_analytics import worker

    real_process = worker.process_chunk
    others = []

    def process_while_another_opens(items, context):
        probe = f"import duckdb; duckdb.connect({str(settings.db)!r}).close()"
        others.append(subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode)
        return real_process(items, context)

    monkeypatch.setattr(worker, "process_chunk", process_while_another_opens)
    assert [o.outcome for o in ingest(settings, folder)] == ["inserted"] * 3
    assert others and set(others) == {0}


def test_inputs_ingested_before_are_settled_without_parse_workers(tmp_path, monkeypatch):
    folder = _gzip_reports(tmp_path / "in", range(40))
    settings = settings_for(tmp_path / "db", workers=2)
    first = ingest(settings, folder)
    pools = []
    real_pool = Ingestor._pool

    def counted_pool(self, *args):
        pools.append(1)
        return real_pool(self, *args)

    monkeypatch.setattr(Ingestor, "_pool", counted_pool)
    again = ingest(settings, folder)
    assert pools == []  # a folder given again is hashed here, not in workers
    assert [o.path for o in again] == [o.path for o in first]
    assert {(o.outcome, o.reports, o.duplicates) for o in again} == {("duplicate", 0, 1)}
    # New files after known ones: the known lead is settled here, the rest parsed by the
    # pool, and the outcomes keep the order of the inputs.
    _gzip_reports(folder, range(40, 60))
    mixed = ingest(settings, folder)
    assert pools == [1]
    assert [o.path for o in mixed] == sorted(o.path for o in mixed)
    assert [o.outcome for o in mixed] == ["duplicate"] * 40 + ["inserted"] * 20
    assert totals(settings).reports == 60


def test_mixed_zip_counts_each_part(tmp_path):
    other = CANONICAL_XML.replace(b"17000064001234567890", b"other-id")
    path = tmp_path / "mixed.zip"
    path.write_bytes(
        zip_archive(
            {"a.xml": CANONICAL_XML, "b/c.xml": other, "notes.txt": b"hello", "tls.json": b"{}"}
        )
    )
    settings = settings_for(tmp_path)
    ingest(settings, tmp_path / "mixed.zip")
    (again,) = ingest(settings, path)
    # The same bytes again: recognised by hash without parsing, every part accounted for.
    assert again.as_json() | {"sha256": ""} == {
        "path": str(path),
        "sha256": "",
        "outcome": "duplicate",
        "reason": "this file was ingested before",
        "reports": 0,  # added none
        "records": 0,
        "messages": 0,
        "duplicates": 2,
        "conflicts": 0,
        "partial": 0,
        "rejected_parts": 2,
        "removed": 0,
    }


def test_ledger_accounts_for_every_input(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.xml").write_bytes(CANONICAL_XML)
    (folder / "copy.xml.gz").write_bytes(WRAPPERS["gzip"](CANONICAL_XML))
    (folder / "empty.xml").write_bytes(b"")
    (folder / "yahoo.xml").write_bytes(b"unused")
    (folder / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    settings = settings_for(tmp_path)
    outcomes = {Path(o.path).name: (o.outcome, o.reason) for o in ingest(settings, folder)}
    # Folders are read in path order, so the gzip copy comes first.
    assert outcomes["copy.xml.gz"] == ("inserted", None)
    assert outcomes["good.xml"] == ("duplicate", "all its reports were already stored")
    assert outcomes["empty.xml"] == ("rejected", "empty file")
    assert outcomes["yahoo.xml"][0] == "rejected"
    assert "unused" in outcomes["yahoo.xml"][1]
    assert outcomes["broken.gz"][0] == "rejected"
    assert "gzip" in outcomes["broken.gz"][1]
    with open_store(settings.db, read_only=True) as con:
        ledger = con.execute(
            "SELECT name, outcome FROM ingest_ledger ORDER BY ledger_id"
        ).fetchall()
        parts = con.execute("SELECT count(*) FROM ingest_parts").fetchall()[0][0]
    assert sorted(Path(n).name for n, _ in ledger) == sorted(outcomes)
    assert parts == 5


def test_gzip_bomb_is_rejected_and_the_batch_goes_on(tmp_path):
    (tmp_path / "bomb.xml.gz").write_bytes(gzip_bomb(64 << 20))
    (tmp_path / "good.xml").write_bytes(CANONICAL_XML)
    settings = settings_for(tmp_path, limits=Limits(max_decompressed_bytes=8 << 20))
    outcomes = {Path(o.path).name: o for o in ingest(settings, tmp_path / "bomb.xml.gz",
                                                      tmp_path / "good.xml")}  # fmt: skip
    assert outcomes["bomb.xml.gz"].outcome == "rejected"
    assert "decompression bomb" in outcomes["bomb.xml.gz"].reason
    assert outcomes["good.xml"].outcome == "inserted"


def _other_report(report_id: str, count: str = "3") -> bytes:
    return CANONICAL_XML.replace(b"17000064001234567890", report_id.encode()).replace(
        b"<count>3</count>", f"<count>{count}</count>".encode()
    )


def test_a_count_beyond_any_receiver_is_rejected_and_the_batch_goes_on(tmp_path):
    # Such a count once overflowed the Arrow conversion and stopped the whole run.
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.xml").write_bytes(CANONICAL_XML)
    (folder / "huge.xml").write_bytes(_other_report("huge", "9223372036854775808"))
    settings = settings_for(tmp_path)
    outcomes = {Path(o.path).name: (o.outcome, o.reason) for o in ingest(settings, folder)}
    assert outcomes == {
        "good.xml": ("inserted", None),
        "huge.xml": ("rejected", 'record[1]/row/count "9223372036854775808" is more than '
                     "2,147,483,647 messages, which no receiver reports for one row"),
    }  # fmt: skip
    result = totals(settings)
    assert (result.reports, result.messages) == (1, CANONICAL.message_count)


def _ingest_mixed(tmp_path: Path):
    """Ingest a zip of two reports (the second called trigger-fault) and a good file."""
    zipped = zip_archive({"a.xml": _other_report("zip-first"),
                          "b.xml": _other_report("trigger-fault")})  # fmt: skip
    (tmp_path / "mixed.zip").write_bytes(zipped)
    (tmp_path / "good.xml").write_bytes(CANONICAL_XML)
    settings = settings_for(tmp_path)
    outcomes = ingest(settings, tmp_path / "mixed.zip", tmp_path / "good.xml")
    return settings, {Path(o.path).name: o for o in outcomes}


def _fail_when(monkeypatch, owner, name: str, hit) -> None:
    """Make ``owner.name`` raise as a bug would whenever ``hit(*its arguments)`` holds."""
    real = getattr(owner, name)

    def faulty(*args):
        if hit(*args):
            raise RuntimeError("simulated bug")
        return real(*args)

    monkeypatch.setattr(owner, name, faulty)


def test_an_unforeseen_fault_in_parsing_costs_only_that_report(tmp_path, monkeypatch):
    # Fault injection: the real builder failing as a bug would, after the report's records
    # are already in it, on the second report of a zip (on both parse paths).
    from dmarc_analytics.flatten import TableBuilder

    def hit(builder, index, report):
        return report.metadata.report_id == "trigger-fault"

    _fail_when(monkeypatch, TableBuilder, "_add_issues", hit)
    settings, outcomes = _ingest_mixed(tmp_path)
    mixed = outcomes["mixed.zip"]
    assert (mixed.outcome, mixed.reports, mixed.rejected_parts) == ("inserted", 1, 1)
    assert outcomes["good.xml"].outcome == "inserted"
    result = totals(settings)  # the failed report's records were taken back out
    assert (result.reports, result.records, result.messages) == (
        2, 2 * len(CANONICAL.records), 2 * CANONICAL.message_count,
    )  # fmt: skip
    with open_store(settings.db, read_only=True) as con:
        parts = con.execute(
            "SELECT origin, outcome, kind, reason FROM ingest_parts WHERE outcome = 'rejected'"
        ).fetchall()
    reason = "unexpected error while reading it (RuntimeError: simulated bug)"
    assert parts == [("mixed.zip/b.xml", "rejected", "unexpected", reason)]


def test_an_unforeseen_fault_in_decoding_costs_only_its_input(tmp_path, monkeypatch):
    # Fault injection: the zip reader failing as a bug would, on the second member, after
    # the first member's report was parsed into the same builder as the other input's.
    from dmarc_analytics import decode_zip

    _fail_when(monkeypatch, decode_zip, "_read_member",
               lambda archive_file, member, cap: member.filename == "b.xml")  # fmt: skip
    settings, outcomes = _ingest_mixed(tmp_path)
    mixed = outcomes["mixed.zip"]
    assert (mixed.outcome, mixed.reason, mixed.reports) == (
        "rejected", "unexpected error while reading it (RuntimeError: simulated bug)", 0,
    )  # fmt: skip
    assert outcomes["good.xml"].outcome == "inserted"
    result = totals(settings)  # the zip's first report was taken back out with the rest
    assert (result.reports, result.records, result.messages) == (
        1, len(CANONICAL.records), CANONICAL.message_count,
    )  # fmt: skip
    with open_store(settings.db, read_only=True) as con:
        ledger = con.execute("SELECT outcome, reason FROM ingest_ledger ORDER BY name").fetchall()
        assert archive.has_original(con, settings.archive_dir, mixed.sha256)  # for a reparse
    assert ledger == [("inserted", None), ("rejected", mixed.reason)]


def test_oversized_input_is_rejected(tmp_path):
    (tmp_path / "big.xml").write_bytes(CANONICAL_XML + b" " * 4096)
    settings = settings_for(tmp_path, limits=Limits(max_input_bytes=2048))
    (outcome,) = ingest(settings, tmp_path / "big.xml")
    assert outcome.outcome == "rejected"
    assert "larger than the limit" in outcome.reason


def test_archive_reparse_and_purge(tmp_path):
    settings = settings_for(tmp_path)
    (tmp_path / "a.xml.gz").write_bytes(WRAPPERS["gzip"](CANONICAL_XML))
    ingest(settings, tmp_path / "a.xml.gz")
    original = (tmp_path / "a.xml.gz").read_bytes()
    sha = hashlib.sha256(original).hexdigest()
    with open_store(settings.db, read_only=True) as con:
        rows = con.execute("SELECT pack, position, size FROM originals").fetchall()
        assert archive.read_original(con, settings.archive_dir, sha) == original
    ((pack, position, size),) = rows
    assert (size, position) == (len(original), 0)
    assert (settings.archive_dir / "packs" / pack).read_bytes() == original
    assert not archive.archive_path(settings.archive_dir, sha).exists()  # packed, not a file
    (tmp_path / "a.xml.gz").unlink()  # the reparse needs only the archive
    before = totals(settings)
    done = reparse(settings)
    assert [(o.outcome, o.records) for o in done.outcomes] == [
        ("inserted", len(CANONICAL.records))
    ]
    assert done.kept == 0
    assert totals(settings) == before
    assert purge(settings, policy_domain="example.com") == 1
    assert totals(settings).reports == 0
    # Purged reports are forgotten: the same file ingests again instead of being a duplicate.
    (tmp_path / "a.xml.gz").write_bytes(original)
    (again,) = ingest(settings, tmp_path / "a.xml.gz")
    assert again.outcome == "inserted"


def test_a_stopped_reparse_is_remembered_until_one_finishes(tmp_path, monkeypatch):
    settings = settings_for(tmp_path)
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    ingest(settings, tmp_path / "a.xml")
    before = totals(settings)

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the reports were removed, before they are back

    with monkeypatch.context() as patched:
        patched.setattr(Ingestor, "ingest_pages", stopped)
        with pytest.raises(KeyboardInterrupt):
            reparse(settings)
    assert totals(settings).reports == 0
    with open_store(settings.db, read_only=True) as con:
        started = reparse_started(con)
    assert started is not None and abs(started - datetime.now(UTC).replace(tzinfo=None)) < (
        timedelta(minutes=5)
    )
    reparse(settings)  # run again: everything is back and nothing is said any more
    assert totals(settings) == before
    with open_store(settings.db, read_only=True) as con:
        assert reparse_started(con) is None


def test_purged_reports_stay_removed_through_a_reparse(tmp_path):
    settings = settings_for(tmp_path)
    other = CANONICAL_XML.replace(b"example.com<", b"example.org<").replace(
        b"17000064", b"27000064"
    )
    (tmp_path / "com.xml").write_bytes(CANONICAL_XML)
    (tmp_path / "org.xml").write_bytes(other)
    ingest(settings, tmp_path / "com.xml", tmp_path / "org.xml")
    assert purge(settings, policy_domain="example.com") == 1
    kept = totals(settings)
    assert kept.reports == 1

    done = {Path(o.path).name: o for o in reparse(settings).outcomes}
    assert totals(settings) == kept
    assert purged_count(settings) == 1
    # What the reparse says it did is what it did: the removed report was not added.
    assert (done["org.xml"].outcome, done["org.xml"].reports) == ("inserted", 1)
    removed = done["com.xml"]
    assert (removed.outcome, removed.reports, removed.messages) == ("duplicate", 0, 0)
    assert removed.reason == "removed earlier (purge); stays removed"
    assert (removed.as_json()["duplicates"], removed.as_json()["removed"]) == (0, 1)
    with open_store(settings.db, read_only=True) as con:
        parts = con.execute(
            "SELECT p.outcome, p.report_key FROM ingest_parts p JOIN ingest_ledger l "
            "USING (ledger_id) WHERE l.via = 'reparse' AND l.name LIKE '%com.xml'"
        ).fetchall()
    assert parts == [("removed", None)]

    # Given again by the user, the report is back, and a later reparse keeps it.
    (again,) = ingest(settings, tmp_path / "com.xml")
    assert again.outcome == "inserted"
    assert purged_count(settings) == 0
    reparse(settings)
    assert totals(settings).reports == 2


def test_a_reparse_keeps_a_purged_report_of_a_zip_out_and_the_zip_can_bring_it_back(tmp_path):
    settings = settings_for(tmp_path)
    other = CANONICAL_XML.replace(b"example.com<", b"example.org<").replace(
        b"17000064", b"27000064"
    )
    both = tmp_path / "both.zip"
    both.write_bytes(zip_archive({"com.xml": CANONICAL_XML, "org.xml": other}))
    ingest(settings, both)
    assert purge(settings, policy_domain="example.com") == 1
    kept = totals(settings)

    (outcome,) = reparse(settings).outcomes
    assert (outcome.outcome, outcome.reports, outcome.messages) == ("inserted", 1, kept.messages)
    assert [p.outcome for p in outcome.parts] == ["removed", "inserted"]
    assert totals(settings) == kept
    # The zip was not remembered as ingested: given again, its removed report comes back.
    (again,) = ingest(settings, both)
    assert (again.outcome, again.reports, again.duplicates) == ("inserted", 1, 1)
    assert totals(settings).reports == 2


def test_a_report_sent_again_under_another_reporter_name_is_stored_and_flagged(tmp_path):
    settings = settings_for(tmp_path)
    renamed = CANONICAL_XML.replace(b"<org_name>google.com", b"<org_name>fred.com")
    assert renamed != CANONICAL_XML
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    (tmp_path / "b.xml").write_bytes(renamed)
    first, second = ingest(settings, tmp_path / "a.xml", tmp_path / "b.xml")
    assert (first.outcome, second.outcome) == ("inserted", "inserted")  # two reporters
    with open_store(settings.db, read_only=True) as con:
        issues = con.execute(
            "SELECT r.reporter, r.issue_count, i.code, i.message FROM report_issues i "
            "JOIN reports r USING (report_key)"
        ).fetchall()
    assert issues == [("fred.com", 1, "renamed-copy",
        "the report ID, period, policy domain and e-mail are those of report 1 from "
        "google.com (a.xml): the same report sent again under another name? Both are counted")]
    # The same name in another case is the same reporter: a duplicate, not a renamed copy.
    (tmp_path / "c.xml").write_bytes(CANONICAL_XML.replace(b">google.com<", b">Google.COM<"))
    (third,) = ingest(settings, tmp_path / "c.xml")
    assert (third.outcome, third.reports) == ("duplicate", 0)
    with open_store(settings.db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM report_issues "
                           "WHERE code = 'renamed-copy'").fetchone() == (1,)  # fmt: skip


def test_a_container_with_nothing_usable_names_each_part_and_its_reason(tmp_path):
    settings = settings_for(tmp_path)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(zip_archive({"notes/b.txt": b"junk text", "tls.json": b'{"policies": []}'}))
    (outcome,) = ingest(settings, bad)
    assert outcome.outcome == "rejected" and outcome.rejected_parts == 2
    assert outcome.reason.startswith("nothing in its 2 parts is usable: notes/b.txt: text")
    assert "; tls.json: JSON document that is neither" in outcome.reason
    # A reparse names the parts alike (its parts carry the input's whole path).
    archived = maintenance.reparse(settings).outcomes
    assert [o.reason for o in archived if o.path.endswith("bad.zip")] == [outcome.reason]
    single = tmp_path / "one.zip"
    single.write_bytes(zip_archive({"b.txt": b"junk text"}))
    (one,) = ingest(settings, single)
    assert one.reason.startswith("text, not a DMARC report")  # its one part's reason


def test_demo_data_is_not_archived_and_not_brought_back_by_reparse(tmp_path):
    settings = settings_for(tmp_path)
    demo = Ingestor(settings, via="demo", demo=True)
    (outcome,) = demo.ingest_blobs([("demo.xml", CANONICAL_XML)])
    assert outcome.outcome == "inserted"
    assert not (tmp_path / "archive").exists()
    assert purge(settings, demo=True) == 1
    assert purged_count(settings) == 0  # nothing a reparse could bring back
    assert reparse(settings).outcomes == []
    assert totals(settings).reports == 0


def test_reparse_keeps_demo_data_it_cannot_rebuild(tmp_path):
    settings = settings_for(tmp_path)
    Ingestor(settings, via="demo", demo=True).ingest_blobs([("demo.xml", CANONICAL_XML)])
    before = totals(settings)
    done = reparse(settings)
    assert (done.outcomes, done.kept) == ([], 0)  # demo data is not counted as kept
    assert totals(settings) == before


def test_reparse_keeps_reports_whose_original_is_not_in_the_archive(tmp_path):
    """Inputs ingested with archiving off, and a damaged pack: their reports stay."""
    settings = settings_for(tmp_path)
    other = CANONICAL_XML.replace(b"example.com<", b"example.org<")
    (tmp_path / "kept.xml").write_bytes(CANONICAL_XML)
    (tmp_path / "other.xml").write_bytes(other)
    ingest(replace(settings, archive=False), tmp_path / "kept.xml")
    ingest(settings, tmp_path / "other.xml")
    before = totals(settings)
    assert before.reports == 2

    done = reparse(settings)
    assert [o.outcome for o in done.outcomes] == ["inserted"]
    assert (done.kept, done.kept_input_count) == (1, 1)
    assert done.kept_inputs == (str(tmp_path / "kept.xml"),)
    assert totals(settings) == before

    (pack,) = (settings.archive_folder / "packs").iterdir()
    pack.write_bytes(b"x" + pack.read_bytes()[1:])  # one byte of the archive damaged
    done = reparse(settings)
    assert (done.outcomes, done.kept, done.kept_input_count) == ([], 2, 2)
    assert totals(settings) == before


def test_reparse_names_an_unarchived_input_after_a_purge_of_one_of_its_reports(tmp_path):
    # A purge forgets the input that carried a purged report (in ``inputs``): the name of
    # the input of the report kept came out empty.
    settings = settings_for(tmp_path, archive=False)
    other = CANONICAL_XML.replace(b"example.com<", b"example.org<")
    (tmp_path / "two.xml").write_bytes(CANONICAL_XML + other)
    (outcome,) = ingest(settings, tmp_path / "two.xml")
    assert outcome.reports == 2
    assert purge(settings, policy_domain="example.org") == 1
    done = reparse(settings)
    assert (done.kept, done.kept_inputs) == (1, (str(tmp_path / "two.xml"),))


def test_the_archive_lies_beside_the_database_wherever_the_command_runs(tmp_path, monkeypatch):
    settings = Settings(db=tmp_path / "db" / "x.duckdb", workers=1)
    assert settings.archive_folder == tmp_path / "db" / "archive"
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    monkeypatch.chdir(tmp_path)
    ingest(settings, tmp_path / "a.xml")
    assert (tmp_path / "db" / "archive" / "packs").is_dir()
    assert not (tmp_path / "data").exists()
    before = totals(settings)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    done = reparse(settings)
    assert ([o.outcome for o in done.outcomes], done.kept) == (["inserted"], 0)
    assert totals(settings) == before


def test_a_reporter_keeps_one_spelling_whatever_the_case_of_its_name(tmp_path):
    settings = settings_for(tmp_path)

    def report(org: str, report_id: str) -> bytes:
        return CANONICAL_XML.replace(
            b"<org_name>google.com<", f"<org_name>{org}<".encode()
        ).replace(b"17000064001234567890", report_id.encode())

    # Greek: Python lower-cases a final capital sigma to "ς", DuckDB to "σ"; both spellings
    # were kept, and a filter by the stored name matched nothing.
    for name, org, report_id in [("a.xml", "Mail.Ru", "1"), ("b.xml", "mail.ru", "2"),
                                 ("c.xml", "MAIL.RU.", "3"), ("d.xml", "ΟΔΟΣ Mail", "4"),
                                 ("e.xml", "ΟΔΟΣ MAIL", "5")]:  # fmt: skip
        (tmp_path / name).write_bytes(report(org, report_id))
    ingest(settings, tmp_path / "a.xml", tmp_path / "d.xml")
    # a later batch, more spellings
    ingest(settings, tmp_path / "b.xml", tmp_path / "c.xml", tmp_path / "e.xml")
    with open_store(settings.db, read_only=True) as con:
        reports = con.execute(
            "SELECT org_name, reporter FROM reports ORDER BY report_id"
        ).fetchall()
        record_names = con.execute("SELECT DISTINCT reporter FROM records ORDER BY 1").fetchall()
    # a final dot too, as the filter reads it (the Reporters page had two rows)
    assert reports == [("Mail.Ru", "Mail.Ru"), ("mail.ru", "Mail.Ru"), ("MAIL.RU.", "Mail.Ru"),
                       ("ΟΔΟΣ Mail", "ΟΔΟΣ Mail"), ("ΟΔΟΣ MAIL", "ΟΔΟΣ Mail")]  # fmt: skip
    assert record_names == [("Mail.Ru",), ("ΟΔΟΣ Mail",)]
    for written in ("ΟΔΟΣ Mail", "οδοσ mail", "ΟΔΟΣ MAIL"):
        assert totals(settings, Filter.from_params({"reporter": written})).reports == 2
    assert totals(settings, Filter.from_params({"reporter": "İSTANBUL POSTA"})).reports == 0


def test_outcomes_can_be_streamed_without_being_kept(tmp_path):
    settings = settings_for(tmp_path)
    for n in range(3):
        (tmp_path / f"{n}.xml").write_bytes(CANONICAL_XML.replace(b"1234567890", str(n).encode()))
    seen = []
    ingestor = Ingestor(settings, on_outcome=seen.append, keep_outcomes=False)
    assert ingestor.ingest_paths(expand_inputs([str(tmp_path / "*.xml")])) == []
    assert [(o.outcome, o.reports) for o in seen] == [("inserted", 1)] * 3


def test_big_originals_are_kept_as_files_and_reparse_reads_both_homes(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "PACKED_MAX_BYTES", 2_000)
    settings = settings_for(tmp_path, workers=2)
    small = tmp_path / "small.xml"
    small.write_bytes(CANONICAL_XML.replace(b"<extra_contact_info>", b"<x/><extra_contact_info>"))
    big = tmp_path / "big.xml"
    big.write_bytes(CANONICAL_XML.replace(b"1234567890", b"2") + b" " * 2_000)
    ingest(settings, small, big)
    big_sha = hashlib.sha256(big.read_bytes()).hexdigest()
    assert archive.archive_path(settings.archive_dir, big_sha).read_bytes() == big.read_bytes()
    with open_store(settings.db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM originals").fetchall() == [(1,)]  # the small
        assert archive.read_original(con, settings.archive_dir, big_sha) == big.read_bytes()
    before = totals(settings)
    small.unlink()
    big.unlink()
    monkeypatch.setattr(maintenance, "PAGE_FILES", 1)  # one original per page
    outcomes = reparse(settings).outcomes
    assert [(Path(o.path).name, o.outcome) for o in outcomes] == [
        ("small.xml", "inserted"),
        ("big.xml", "inserted"),
    ]
    assert totals(settings) == before


def test_archive_off_keeps_nothing(tmp_path):
    settings = settings_for(tmp_path, archive=False)
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    ingest(settings, tmp_path / "a.xml")
    assert not (tmp_path / "archive").exists()


def test_mbox_is_streamed_not_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "takeout.mbox"
    path.write_bytes(WRAPPERS["mbox_of_mails"](CANONICAL_XML))
    read_whole = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read_whole.append(self) or original(self))
    (outcome,) = ingest(settings_for(tmp_path), path)
    assert read_whole == []
    assert (outcome.outcome, outcome.reports, outcome.duplicates) == ("inserted", 1, 2)


def test_a_broken_link_in_a_folder_is_in_the_ledger_not_skipped(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.xml").write_bytes(CANONICAL_XML)
    (folder / "gone.xml").symlink_to(tmp_path / "nowhere.xml")
    (folder / ".DS_Store").write_bytes(b"\0")  # hidden files are no one's reports: skipped
    outcomes = ingest(settings_for(tmp_path), folder)
    assert [(Path(o.path).name, o.outcome, o.reason) for o in outcomes] == [
        ("gone.xml", "rejected", "broken link: what it points to does not exist"),
        ("good.xml", "inserted", None),
    ]


def test_a_folder_that_could_not_be_listed_is_in_the_ledger_and_the_rest_goes_on(tmp_path):

    (tmp_path / "good.xml").write_bytes(CANONICAL_XML)
    locked = InputFile(tmp_path / "locked", "in/locked", "cannot read folder: Permission denied")
    settings = settings_for(tmp_path)
    outcomes = Ingestor(settings).ingest_paths([locked, InputFile(tmp_path / "good.xml", "good")])
    assert [(o.path, o.outcome, o.reason) for o in outcomes] == [
        ("in/locked", "rejected", "cannot read folder: Permission denied"),
        ("good", "inserted", None),
    ]
    with open_store(settings.db, read_only=True) as con:
        ledger = con.execute(
            "SELECT name, outcome FROM ingest_ledger ORDER BY ledger_id"
        ).fetchall()
    assert ledger == [("in/locked", "rejected"), ("good", "inserted")]


def test_a_file_name_that_is_not_utf8_is_shown_with_a_replacement_character(tmp_path):
    # Such a name once reached Arrow as lone surrogates and stopped the whole batch.
    folder = tmp_path / "in"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"r\xe9port.xml"), "wb") as latin1_named:
        latin1_named.write(_other_report("latin1-name"))
    (folder / "z.xml").write_bytes(CANONICAL_XML)
    settings = settings_for(tmp_path)
    outcomes = ingest(settings, folder)
    assert [(Path(o.path).name, o.outcome) for o in outcomes] == [
        ("r\ufffdport.xml", "inserted"), ("z.xml", "inserted"),
    ]  # fmt: skip
    with open_store(settings.db, read_only=True) as con:
        names = con.execute("SELECT name FROM ingest_ledger ORDER BY ledger_id").fetchall()
    assert [Path(n).name for (n,) in names] == ["r\ufffdport.xml", "z.xml"]
    assert totals(settings).reports == 2


def test_two_reports_wrapped_in_one_document_are_both_stored(tmp_path):
    second = _other_report("second-report")
    body = [xml.split(b"?>", 1)[1] for xml in (CANONICAL_XML, second)]
    (tmp_path / "two.xml").write_bytes(b"<reports>" + b"".join(body) + b"</reports>")
    settings = settings_for(tmp_path)
    (outcome,) = ingest(settings, tmp_path / "two.xml")
    assert (outcome.outcome, outcome.reports, outcome.partial) == ("inserted", 2, 0)
    result = totals(settings)
    assert (result.reports, result.messages) == (2, 2 * CANONICAL.message_count)


def _written_differently(xml: bytes) -> bytes:
    """The same report as another writer might lay it out: no indentation, CRLF line ends,
    a comment, and the declaration in single quotes."""
    body = re.sub(rb">\s+<", b"><", xml.split(b"?>", 1)[1].strip())
    body = body.replace(b"<feedback>", b"<feedback>\r\n<!-- re-sent -->\r\n", 1)
    return b"<?xml version='1.0' encoding='UTF-8'?>\r\n" + body + b"\r\n"


@pytest.mark.parametrize("same_run", [False, True])
def test_a_copy_written_differently_is_a_duplicate_not_a_conflict(tmp_path, same_run):
    # Found in the database (a later run) or among the reports of the same batch.
    variant = _written_differently(CANONICAL_XML)
    assert variant != CANONICAL_XML
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    (tmp_path / "b.xml").write_bytes(variant)
    settings = settings_for(tmp_path)
    if same_run:
        first, second = ingest(settings, tmp_path / "a.xml", tmp_path / "b.xml")
    else:
        (first,) = ingest(settings, tmp_path / "a.xml")
        (second,) = ingest(settings, tmp_path / "b.xml")
    assert (first.outcome, second.outcome, second.duplicates, second.conflicts) == (
        "inserted", "duplicate", 1, 0,
    )  # fmt: skip
    assert second.parts[0].reason == "report already stored (the same data, written differently)"
    result = totals(settings)
    assert (result.reports, result.messages) == (1, CANONICAL.message_count)
    # A count of 13 instead of 3 is other data: a conflict, and the first copy stays.
    (tmp_path / "c.xml").write_bytes(variant.replace(b"<count>", b"<count>1", 1))
    (third,) = ingest(settings, tmp_path / "c.xml")
    assert (third.outcome, third.conflicts) == ("duplicate", 1)
    assert totals(settings).messages == CANONICAL.message_count


def test_a_copy_differing_only_in_what_the_identity_normalises_is_a_duplicate(tmp_path):
    # The org name in another case, the report ID in spaces and <...>: the same report, and
    # the same identity; these were listed as conflicts.
    org = re.search(rb"<org_name>(.*?)</org_name>", CANONICAL_XML).group(1)
    rid = re.search(rb"<report_id>(.*?)</report_id>", CANONICAL_XML).group(1)
    variant = CANONICAL_XML.replace(b">" + org + b"<", b">" + org.upper() + b"<", 1).replace(
        b">" + rid + b"<", b"> &lt;" + rid + b"&gt; <", 1
    )
    assert variant.count(org.upper()) == 1 and variant.count(b"&lt;" + rid + b"&gt;") == 1
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    (tmp_path / "b.xml").write_bytes(variant)
    _first, second = ingest(settings_for(tmp_path), tmp_path / "a.xml", tmp_path / "b.xml")
    assert (second.outcome, second.duplicates, second.conflicts) == ("duplicate", 1, 0)


def test_the_same_records_in_another_order_are_the_same_report(tmp_path):
    records = re.findall(rb"<record>.*?</record>", CANONICAL_XML, re.S)
    assert len(records) > 1
    head, tail = CANONICAL_XML.split(records[0], 1)
    rest = tail.split(records[-1], 1)[1]
    reordered = head + b"".join(reversed(records)) + rest
    assert reordered != CANONICAL_XML
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    (tmp_path / "b.xml").write_bytes(reordered)
    _first, second = ingest(settings_for(tmp_path), tmp_path / "a.xml", tmp_path / "b.xml")
    assert (second.outcome, second.duplicates, second.conflicts) == ("duplicate", 1, 0)


def test_a_complete_copy_of_an_intact_partial_report_stays_a_conflict(tmp_path):
    # Recovered from broken XML with every record intact: the data compare equal, but a
    # partial report is never taken for a complete one, so the complete copy is reported.
    (tmp_path / "a-broken.xml").write_bytes(CANONICAL_XML.replace(b"</feedback>", b""))
    (tmp_path / "b-complete.xml").write_bytes(CANONICAL_XML)
    first, second = ingest(settings_for(tmp_path), tmp_path / "a-broken.xml",
                           tmp_path / "b-complete.xml")  # fmt: skip
    assert (first.partial, second.outcome, second.conflicts) == (1, "duplicate", 1)
    assert second.reason.endswith(  # the same messages: no totals to compare
        "the earlier one is kept; the kept one is partial, read from broken XML, and this "
        "copy is complete"
    )


def test_many_copies_written_differently_are_compared_in_one_go(tmp_path):
    # Compared one by one (a few queries each, inside the write transaction) 200 copies took
    # seconds; digests of all of them come from a few queries per batch.
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(200):
        report = _other_report(f"copy-{i}")
        (folder / f"{i:03}-a.xml").write_bytes(report)
        (folder / f"{i:03}-b.xml").write_bytes(_written_differently(report))
    settings = settings_for(tmp_path)
    started = time.monotonic()
    outcomes = ingest(settings, folder)
    elapsed = time.monotonic() - started
    assert [o.outcome for o in outcomes] == ["inserted", "duplicate"] * 200
    assert sum(o.conflicts for o in outcomes) == 0
    assert elapsed < 6, elapsed


def test_two_conflicting_copies_of_one_report_count_as_one_report_in_conflict(tmp_path):
    from dmarc_analytics import insights

    for name, count in (("a.xml", "3"), ("b.xml", "13"), ("c.xml", "23")):
        (tmp_path / name).write_bytes(_other_report("r1", count))
    settings = settings_for(tmp_path)
    outcomes = ingest(settings, *(tmp_path / n for n in ("a.xml", "b.xml", "c.xml")))
    assert [o.conflicts for o in outcomes] == [0, 1, 1]
    with open_store(settings.db, read_only=True) as con:
        # The Overview's count and the Reports page's list behind it agree.
        assert insights.data_quality(con, Filter()).conflicts == 1
        assert insights.count_reports(con, Filter(), kind="conflicts") == 1


def test_a_folder_given_again_is_recognised_without_reading_its_files(tmp_path, monkeypatch):
    # Files changed in the last two seconds are never remembered; these were just written.
    monkeypatch.setattr(recognise, "RACY_SECONDS", 0)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(CANONICAL_XML)
    (folder / "b.xml").write_bytes(_other_report("second"))
    settings = settings_for(tmp_path)
    assert [o.outcome for o in ingest(settings, folder)] == ["inserted", "inserted"]
    reads = []
    real_read = recognise.read_small
    monkeypatch.setattr(recognise, "read_small", lambda *a: reads.append(a[0]) or real_read(*a))
    again = ingest(settings, folder)
    known = ("duplicate", "this file was ingested before")
    assert [(o.outcome, o.reason) for o in again] == [known, known]
    assert reads == []  # same path, size and time: known without being read
    with open_store(settings.db, read_only=True) as con:
        ledger = con.execute(
            "SELECT l.outcome, l.duplicates, count(p.ledger_id) FROM ingest_ledger l "
            "LEFT JOIN ingest_parts p USING (ledger_id) "
            "GROUP BY l.ledger_id, l.outcome, l.duplicates ORDER BY l.ledger_id"
        ).fetchall()
    # Not read again, so no parts of their own; each ledger row counts the reports found.
    assert ledger == [("inserted", 0, 1), ("inserted", 0, 1), ("duplicate", 1, 0),
                      ("duplicate", 1, 0)]  # fmt: skip
    # Rewritten (a new time): read again; other bytes are another report.
    (folder / "b.xml").write_bytes(_other_report("third"))
    os.utime(folder / "b.xml", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    (first, second) = ingest(settings, folder)
    assert (first.outcome, second.outcome) == ("duplicate", "inserted")
    assert set(reads) == {str(folder / "b.xml")}
    # Touched only (a new time, the same bytes): read again, and a duplicate by its digest.
    os.utime(folder / "a.xml", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    reads.clear()
    assert [o.outcome for o in ingest(settings, folder)] == ["duplicate", "duplicate"]
    assert reads == [str(folder / "a.xml")]  # b.xml's new time was remembered
    assert totals(settings).reports == 3


def test_a_database_opened_ahead_is_let_go_whatever_the_ingest_did(tmp_path, capsys):
    # The CLI opens the database while it lists the inputs (Ingestor.opening_ahead).
    import json

    from dmarc_analytics import ingest_cli
    from dmarc_analytics.errors import InputError

    settings = settings_for(tmp_path)
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    ingest(settings, tmp_path / "a.xml")

    def another_process_can_write() -> bool:
        script = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"
        done = subprocess.run([sys.executable, "-c", script, str(settings.db)], check=False,
                              capture_output=True, text=True)  # fmt: skip
        return done.returncode == 0

    # Nothing to ingest: opened while looking, closed after.
    with pytest.raises(InputError):
        ingest_cli.run_ingest(settings, (str(tmp_path / "typo.xml"),), False)
    assert another_process_can_write()
    # The file again: recognised on the connection opened ahead, which is then let go.
    capsys.readouterr()
    ingest_cli.run_ingest(settings, (str(tmp_path / "a.xml"),), True)
    line = json.loads(capsys.readouterr().out)
    assert (line["outcome"], line["duplicates"]) == ("duplicate", 1)
    assert another_process_can_write()
    # Never taken, the block having failed: let go as well.
    ingestor = Ingestor(settings)
    with pytest.raises(RuntimeError), ingestor.opening_ahead():
        raise RuntimeError("while listing")
    assert another_process_can_write()


def test_a_signature_scan_takes_the_files_it_can_up_to_its_limit(tmp_path):
    for name in ("a.xml", "b.xml", "c.xml"):
        (tmp_path / name).write_bytes(CANONICAL_XML)
    a, b, c = (os.fsencode(tmp_path / name) for name in ("a.xml", "b.xml", "c.xml"))
    items = [
        InputFile(str(tmp_path / "a.xml"), "a.xml"),
        InputFile(str(tmp_path / "gone.xml"), "gone.xml"),  # examined again by its caller
        InputFile(str(tmp_path / "b.xml"), "b.xml", error="cannot read it"),
        Blob("upload.xml", CANONICAL_XML),
        InputFile(str(tmp_path / "c.xml"), "c.xml", absolute=c),
        InputFile(str(tmp_path / "b.xml"), "b.xml"),  # beyond the limit
    ]
    scan = recognise.SignatureScan(items, limit=5)
    scan._thread.join()
    assert scan.get(a) == recognise.file_signature(os.stat(a))
    assert scan.get(c) == recognise.file_signature(os.stat(c))
    assert scan.get(os.fsencode(tmp_path / "gone.xml")) is None
    assert scan.get(b) is None
    many = recognise.SignatureScan(items[:1] * 1_000_000, limit=1_000_000)
    many.stop()
    assert not many._thread.is_alive()


def test_a_file_replaced_by_one_of_the_same_size_and_time_is_read(tmp_path, monkeypatch):
    # cp -p, tar and unzip keep modification times, and one reporter's reports are often
    # the same size: the inode and change time still tell the files apart.
    monkeypatch.setattr(recognise, "RACY_SECONDS", 0)
    first, second = _other_report("first-one"), _other_report("other-one")
    assert len(first) == len(second)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(first)
    os.utime(folder / "a.xml", ns=(1_700_000_000_000_000_000,) * 2)
    settings = settings_for(tmp_path)
    assert [o.outcome for o in ingest(settings, folder)] == ["inserted"]
    (tmp_path / "new.xml").write_bytes(second)
    os.utime(tmp_path / "new.xml", ns=(1_700_000_000_000_000_000,) * 2)
    os.replace(tmp_path / "new.xml", folder / "a.xml")  # same path, size and mtime
    assert [o.outcome for o in ingest(settings, folder)] == ["inserted"]
    assert totals(settings).reports == 2


def test_a_file_that_just_changed_is_not_remembered(tmp_path, monkeypatch):
    # On a file system with coarse times, a second change in the same tick would keep them.
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(CANONICAL_XML)
    settings = settings_for(tmp_path)
    ingest(settings, folder)
    reads = []
    real_read = recognise.read_small
    monkeypatch.setattr(recognise, "read_small", lambda *a: reads.append(a[0]) or real_read(*a))
    assert [o.outcome for o in ingest(settings, folder)] == ["duplicate"]
    assert reads == [str(folder / "a.xml")]  # read again: it was written a moment ago


def test_a_file_ingested_again_is_still_a_conflict_where_it_was_one(tmp_path):
    # It had read "1 duplicate, 0 conflicts" the second time: the conflict was forgotten.
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    changed = CANONICAL_XML.replace(b"<count>", b"<count>1", 1)
    (tmp_path / "b.xml").write_bytes(changed)
    settings = settings_for(tmp_path)
    first = ingest(settings, tmp_path / "a.xml", tmp_path / "b.xml")
    assert [(o.duplicates, o.conflicts) for o in first] == [(0, 0), (0, 1)]
    again = ingest(settings, tmp_path / "a.xml", tmp_path / "b.xml")
    assert [(o.outcome, o.found, o.duplicates, o.conflicts) for o in again] == [
        ("duplicate", 1, 1, 0), ("duplicate", 1, 0, 1),
    ]  # fmt: skip
    assert again[1].reason == (
        "this file was ingested before; 1 of its reports conflicted with a stored report and "
        "is not counted (the first ingest's ledger line says why)"
    )


def test_two_conflicting_members_of_one_name_stay_two_conflicts_when_given_again(tmp_path):
    import io
    import warnings
    import zipfile

    (tmp_path / "a.xml").write_bytes(_other_report("first"))
    (tmp_path / "b.xml").write_bytes(_other_report("second"))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive_file:
        warnings.simplefilter("ignore")  # "Duplicate name": what some mailers really send
        archive_file.writestr("report.xml", _other_report("first", count="4"))
        archive_file.writestr("report.xml", _other_report("second", count="5"))
    (tmp_path / "c.zip").write_bytes(buffer.getvalue())
    settings = settings_for(tmp_path)
    ingest(settings, tmp_path / "a.xml", tmp_path / "b.xml")
    (first,) = ingest(settings, tmp_path / "c.zip")
    (again,) = ingest(settings, tmp_path / "c.zip")
    assert (first.conflicts, again.conflicts, again.duplicates) == (2, 2, 0)
    assert (first.seen_before, again.seen_before) == (False, True)


def test_a_complete_copy_of_a_partial_report_is_a_conflict_that_says_so(tmp_path):
    # The first copy stays (the identity rule); the reason says what the totals may miss.
    cut = CANONICAL_XML.rfind(b"<record>")
    (tmp_path / "a-truncated.xml").write_bytes(CANONICAL_XML[:cut] + b"<record><row>")
    (tmp_path / "b-complete.xml").write_bytes(CANONICAL_XML)
    settings = settings_for(tmp_path)
    first, second = ingest(settings, tmp_path / "a-truncated.xml", tmp_path / "b-complete.xml")
    assert (first.outcome, first.partial, second.outcome, second.conflicts) == (
        "inserted", 1, "duplicate", 1,
    )  # fmt: skip
    kept, whole = CANONICAL.records[:-1], CANONICAL.records
    assert second.reason == (
        "conflict: a report with the same identity but "
        "different data is already stored (report 1, from a-truncated.xml); the earlier one is "
        f"kept and counted: {sum(r.count for r in kept)} messages, against "
        f"{sum(r.count for r in whole)} in this copy; the kept one is partial, read from "
        "broken XML, and this copy is complete"
    )
    assert totals(settings).records == len(CANONICAL.records) - 1


def test_an_ipv4_mapped_source_is_its_ipv4_sender(tmp_path):
    # Reported as ::ffff:192.0.2.10 by a dual-stack receiver: the same sender as 192.0.2.10,
    # counted once and found by an IPv4 filter.
    plain, mapped = settings_for(tmp_path / "a"), settings_for(tmp_path / "b")
    (tmp_path / "plain.xml").write_bytes(CANONICAL_XML)
    (tmp_path / "mapped.xml").write_bytes(
        CANONICAL_XML.replace(b">192.0.2.10<", b">::FFFF:192.0.2.10<")
    )
    ingest(plain, tmp_path / "plain.xml")
    ingest(mapped, tmp_path / "mapped.xml")
    for text in ("192.0.2.10", "192.0.2.0/24", "::ffff:192.0.2.10"):
        flt = Filter.from_params({"source_ip": text})
        assert totals(mapped, flt) == totals(plain, flt)
    assert totals(mapped, Filter.from_params({"source_ip": "192.0.2.0/24"})).messages > 0


def test_bytes_left_after_a_gzip_stream_are_an_issue_of_the_report(tmp_path):
    settings = settings_for(tmp_path)
    (tmp_path / "r.xml.gz").write_bytes(WRAPPERS["gzip"](CANONICAL_XML) + b"GARBAGE")
    (outcome,) = ingest(settings, tmp_path / "r.xml.gz")
    assert (outcome.outcome, outcome.messages) == ("inserted", CANONICAL.message_count)
    with open_store(settings.db, read_only=True) as con:
        issues = con.execute("SELECT code, severity, message FROM report_issues").fetchall()
    assert issues == [
        ("trailing-bytes", "info", "Ignored 7 bytes after the end of the gzip data")
    ]


def test_sources_with_equal_counts_are_listed_in_address_order(tmp_path):
    from dmarc_analytics import insights

    settings = settings_for(tmp_path)
    xml = CANONICAL_XML.replace(b">198.51.100.7<", b">192.0.2.9<").replace(
        b"<count>4</count>", b"<count>3</count>"
    )
    (tmp_path / "r.xml").write_bytes(xml)
    ingest(settings, tmp_path / "r.xml")
    with open_store(settings.db, read_only=True) as con:
        top = insights.top_sources(con, Filter())
    assert top["source_ip"].tolist() == ["192.0.2.9", "192.0.2.10"]  # not as text


def test_an_older_ledger_counts_reports_added_after_the_upgrade(tmp_path):
    # Ledger lines written before 007 counted the reports found (added + duplicates +
    # conflicts) under ``reports``.
    (tmp_path / "a.xml").write_bytes(CANONICAL_XML)
    (tmp_path / "b.xml.gz").write_bytes(WRAPPERS["gzip"](CANONICAL_XML))
    settings = settings_for(tmp_path)
    ingest(settings, tmp_path / "a.xml", tmp_path / "b.xml.gz")
    with open_store(settings.db) as con:
        new = con.execute("SELECT reports, duplicates FROM ingest_ledger ORDER BY 1").fetchall()
        assert new == [(0, 1), (1, 0)]
        con.execute("UPDATE ingest_ledger SET reports = reports + duplicates + conflicts")
        con.execute("DELETE FROM _migrations WHERE name = '007_ledger_reports_added'")
    with open_store(settings.db) as con:
        upgraded = con.execute("SELECT reports, duplicates FROM ingest_ledger ORDER BY 1")
        assert upgraded.fetchall() == new


def test_a_file_inserted_with_a_partial_report_says_why_it_deserves_a_look(tmp_path):
    broken = CANONICAL_XML.replace(b"<org_name>google", b"<org_name>goo&nbsp;gle", 1)  # no DTD
    (tmp_path / "broken.xml").write_bytes(broken)
    (outcome,) = ingest(settings_for(tmp_path), tmp_path / "broken.xml")
    assert (outcome.outcome, outcome.partial) == ("inserted", 1)
    assert outcome.reason == (
        "partial: 1 report read from broken XML in recovery mode, and may miss records (the "
        "report's issues say what was dropped)"
    )


def test_purge_takes_each_domain_whole_as_the_app_gives_it(tmp_path):
    # The app passes a stored domain as it is; read as a filter parameter, a comma in it
    # split it into two domains and removed another domain's report.
    policy = b"<domain>example.com</domain>"
    odd = CANONICAL_XML.replace(policy, b"<domain>a.example,b.example</domain>", 1)
    plain = CANONICAL_XML.replace(policy, b"<domain>a.example</domain>", 1)
    (tmp_path / "odd.xml").write_bytes(odd)
    (tmp_path / "plain.xml").write_bytes(plain)
    settings = settings_for(tmp_path)
    ingest(settings, tmp_path / "odd.xml", tmp_path / "plain.xml")
    assert purge(settings, policy_domain="a.example,b.example") == 1
    assert totals(settings, Filter.from_params({"policy_domain": "a.example"})).reports == 1
    with pytest.raises(DmarcAnalyticsError, match="no domain given"):
        purge(settings, policy_domain=" ", since="2000-01-01")
    assert totals(settings).reports == 1


def test_preloading_arrow_leaves_pandas_unloaded_and_still_usable():
    """Workers start without importing pandas (0.14 s), and pandas works afterwards."""
    script = (
        "import sys\n"
        "from dmarc_analytics.flatten import preload_arrow\n"
        "import pyarrow as pa\n"
        "preload_arrow()\n"
        "print('pandas' in sys.modules)\n"
        "print(pa.table({'a': [1, 2]}).to_pandas()['a'].sum())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert run.stdout.split() == ["False", "3"]


@pytest.mark.parametrize("size_seen", [0, 5, 99_999, 100_000, 100_001, 300_000])
def test_a_file_is_read_to_its_end_whatever_its_size_was_when_looked_at(tmp_path, size_seen):
    # The size comes from fstat before the read: a file that grew or shrank since (or a
    # short read) is still read whole, to its end at the time of the read.
    path = tmp_path / "growing.xml"
    data = bytes(range(256)) * 390 + b"end"
    path.write_bytes(data[:100_000])
    fd = os.open(path, os.O_RDONLY)
    try:
        assert recognise._read_to_end(fd, size_seen) == data[:100_000]
    finally:
        os.close(fd)


def test_a_new_database_is_made_by_the_first_write_and_its_folder_checked_first(
    tmp_path, monkeypatch
):
    from dmarc_analytics import worker
    from dmarc_analytics.errors import StoreError

    folder = _gzip_reports(tmp_path / "in", range(20))
    parsed = []
    real = worker.process_chunk
    monkeypatch.setattr(
        worker, "process_chunk", lambda items, ctx: parsed.append(1) or real(items, ctx)
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create folder"):
        ingest(settings_for(tmp_path, db=blocker / "db.duckdb"), folder)
    assert parsed == []  # refused before anything was parsed
    settings = settings_for(tmp_path / "new" / "deeper")
    assert [o.outcome for o in ingest(settings, folder)] == ["inserted"] * 20
    assert totals(settings).reports == 20
    empty = settings_for(tmp_path / "empty")
    (tmp_path / "nothing").mkdir()
    assert ingest(empty, tmp_path / "nothing") == []
    assert empty.db.exists()  # a run that wrote nothing still leaves a database
    assert totals(empty).reports == 0
