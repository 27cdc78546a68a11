"""Write one batch of parsed inputs: dedupe by report identity, bulk insert, ledger rows.

Runs inside one transaction on a read-write connection, so a crash mid-batch leaves no half
report. Identity rules (see README, data model): the same identity with the same content (or
other bytes saying the same, see ``digests``) is a duplicate; the same identity with
different data is a conflict, listed in ``conflicts`` while the first report stays in the
totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from dmarc_analytics.columns import TABLES
from dmarc_analytics.digests import Digests
from dmarc_analytics.filters import REPORTER_KEY
from dmarc_analytics.inserts import insert_arrow, insert_rows
from dmarc_analytics.outcomes import ChunkResult, FileOutcome, FileResult, PartOutcome
from dmarc_analytics.reasons import (
    DUPLICATE,
    REMOVED,
    SAME_DATA,
    conflict_reason,
    known_reason,
    settle_outcome,
)
from dmarc_analytics.rollups import mark_stale
from dmarc_analytics.store import bump_data_version, fetch_one, transaction

if TYPE_CHECKING:  # imported where tables are built or written, or a database opened
    import duckdb
    import pyarrow as pa

_LEDGER_COLUMNS = (
    "ledger_id", "ingested_at", "via", "name", "sha256", "size", "outcome", "reason", "reports",
    "records", "messages", "duplicates", "conflicts", "partial", "rejected_parts",
)  # fmt: skip
_PART_COLUMNS = ("ledger_id", "ordinal", "origin", "outcome", "kind", "reason", "report_key")
_CONFLICT_COLUMNS = (
    "identity", "kept_report_key", "content_sha256", "input_sha256", "origin", "ledger_id",
    "detected_at",
)  # fmt: skip
_ORIGINAL_COLUMNS = ("sha256", "size", "pack", "position", "stored_at")
_INPUT_COLUMNS = ("sha256", "size", "reports", "rejected_parts", "first_name", "first_seen")


@dataclass(slots=True)
class _Rows:
    keys: list[list[int]] = field(default_factory=list)  # per chunk: report_index → key or -1
    ledger: list[tuple] = field(default_factory=list)
    parts: list[tuple] = field(default_factory=list)
    conflicts: list[tuple] = field(default_factory=list)
    inputs: dict[str, tuple] = field(default_factory=dict)


def write_batch(
    con: duckdb.DuckDBPyConnection,
    chunks: list[ChunkResult],
    via: str,
    now: datetime,
    demo: bool = False,
) -> list[FileOutcome]:
    """Store a batch of worker results in one transaction; return one outcome per input."""
    with transaction(con):
        return write_chunks(con, chunks, via, now, demo)


def write_chunks(
    con: duckdb.DuckDBPyConnection,
    chunks: list[ChunkResult],
    via: str,
    now: datetime,
    demo: bool = False,
) -> list[FileOutcome]:
    """``write_batch`` inside a transaction the caller holds: a batch may be written in
    parts, each seeing the reports and ledger rows of the parts before it, as one write of
    all its chunks would."""
    seen = _existing_identities(con, [f for c in chunks for f in c.files])
    # A reparse reads every original again, also those of reports a purge removed:
    # those stay out, and the outcome says so rather than "inserted".
    removed = _purged_identities(con, chunks) if via == "reparse" else set()
    next_key, next_ledger = _next_ids(con)
    first_key = next_key
    rows = _Rows()
    outcomes = []
    digests = Digests(con, chunks, seen)
    for number, chunk in enumerate(chunks):
        keys = [-1] * (chunk.tables["reports"].num_rows if chunk.tables else 0)
        rows.keys.append(keys)
        for file in chunk.files:
            outcome, next_key = _place_file(
                file, seen, next_key, next_ledger, rows, keys, now, digests, number, removed
            )
            rows.ledger.append((next_ledger, now, via, *_ledger_values(outcome)))
            outcomes.append(outcome)
            next_ledger += 1
    # Reports stored: pyarrow is loaded, and the rows below go in as Arrow tables too.
    arrow = next_key > first_key
    if arrow:
        _insert_reports(con, chunks, rows.keys, demo, now)
        _flag_renamed_copies(con, first_key)
        mark_stale(con, "report_key >= $first", {"first": first_key})
    _insert_all(con, rows, arrow)
    _insert_originals(con, [f for c in chunks for f in c.files], now, arrow)
    files = [f for c in chunks for f in c.files]
    _remember_file_stats(con, [f for f, o in zip(files, outcomes, strict=True)
                               if o.outcome != "rejected"], arrow)  # fmt: skip
    if via != "reparse":  # given again by the user: no longer kept out
        _readmit(con, [i for i, (key, *_) in seen.items() if key >= first_key])
    bump_data_version(con)
    return outcomes


def _existing_identities(
    con: duckdb.DuckDBPyConnection, files: list[FileResult]
) -> dict[str, tuple]:
    """identity -> (report key, content sha256, partial, where its rows are, where it was
    found, messages) of the stored reports; where = None: in the database (see
    ``digests.Digests``)."""
    identities = [p.report.identity for f in files for p in f.parts if p.report is not None]
    if not identities:
        return {}
    rows = con.execute(
        "SELECT identity, report_key, content_sha256, partial, origin, messages FROM reports "
        "WHERE identity IN (SELECT unnest($ids))",
        {"ids": identities},
    ).fetchall()
    return {
        identity: (key, content, partial, None, origin, messages)
        for identity, key, content, partial, origin, messages in rows
    }


def _purged_identities(con: duckdb.DuckDBPyConnection, chunks: list[ChunkResult]) -> set[str]:
    identities = [
        p.report.identity for c in chunks for f in c.files for p in f.parts if p.report is not None
    ]  # fmt: skip
    if not identities:
        return set()
    rows = con.execute(
        "SELECT identity FROM purged_reports WHERE identity IN (SELECT unnest($ids))",
        {"ids": identities},
    ).fetchall()
    return {identity for (identity,) in rows}


def _readmit(con: duckdb.DuckDBPyConnection, identities: list[str]) -> None:
    if identities:
        con.execute(
            "DELETE FROM purged_reports WHERE identity IN (SELECT unnest($ids))",
            {"ids": identities},
        )


def _next_ids(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = fetch_one(
        con,
        "SELECT (SELECT coalesce(max(report_key), 0) + 1 FROM reports), "
        "(SELECT coalesce(max(ledger_id), 0) + 1 FROM ingest_ledger)",
    )
    return int(row[0]), int(row[1])


def _place_file(
    file: FileResult,
    seen: dict[str, tuple],
    next_key: int,
    ledger_id: int,
    rows: _Rows,
    keys: list[int],
    now: datetime,
    digests: Digests,
    chunk_number: int,
    removed: set[str] | frozenset[str] = frozenset(),
) -> tuple[FileOutcome, int]:
    if file.known_reports is not None:
        return _known_outcome(file), next_key
    outcome = FileOutcome(file.name, file.sha256, file.size, "rejected", file.error)
    for part in file.parts:
        report = part.report
        if report is None:
            outcome.rejected_parts += 1
            outcome.parts.append(PartOutcome(part.origin, "rejected", part.reason, part.kind))
            continue
        outcome.found += 1
        known = seen.get(report.identity)
        if report.identity in removed:
            outcome.parts.append(PartOutcome(part.origin, "removed", REMOVED))
        elif known is None:
            outcome.reports += 1
            here = (chunk_number, report.index)
            seen[report.identity] = (
                next_key, report.content_sha256, report.partial, here, part.origin,
                report.messages,
            )  # fmt: skip
            keys[report.index] = next_key
            outcome.records += report.records
            outcome.messages += report.messages
            outcome.partial += int(report.partial)
            outcome.parts.append(PartOutcome(part.origin, "inserted", report_key=next_key))
            next_key += 1
        elif known[1] == report.content_sha256 or digests.same(known, chunk_number, report.index):
            outcome.duplicates += 1
            reason = DUPLICATE if known[1] == report.content_sha256 else SAME_DATA
            outcome.parts.append(PartOutcome(part.origin, "duplicate", reason, report_key=known[0]))
        else:
            outcome.conflicts += 1
            rows.conflicts.append(
                (report.identity, known[0], report.content_sha256, file.sha256, part.origin,
                 ledger_id, now)
            )  # fmt: skip
            outcome.parts.append(
                PartOutcome(
                    part.origin,
                    "conflict",
                    conflict_reason(known, report.partial, report.messages),
                    report_key=known[0],
                )  # fmt: skip
            )
    settle_outcome(outcome)
    for ordinal, part_outcome in enumerate(outcome.parts):
        rows.parts.append(
            (ledger_id, ordinal, part_outcome.origin, part_outcome.outcome, part_outcome.kind,
             part_outcome.reason, part_outcome.report_key)
        )  # fmt: skip
    kept_out = outcome.removed > 0
    # An input with a removed report is not remembered as ingested: given again by the user
    # (not by a reparse), it brings that report back, as after the purge itself.
    if outcome.outcome != "rejected" and file.known_reports is None and not kept_out:
        rows.inputs.setdefault(
            file.sha256,
            (file.sha256, file.size, outcome.found, outcome.rejected_parts, file.name, now),
        )
    return outcome, next_key


def _known_outcome(file: FileResult) -> FileOutcome:
    """The outcome of a file whose bytes were ingested before: it counts as it did then,
    its conflicts still not counted. It is not read again, so it has no parts: its ledger
    row says it all (a part row each cost a folder of 5,000 known files 0.018 s of its
    0.24, written and checkpointed)."""
    found, conflicts = file.known_reports or 0, file.known_conflicts
    return FileOutcome(
        file.name, file.sha256, file.size, "duplicate", known_reason(conflicts),
        duplicates=found - conflicts, conflicts=conflicts,
        rejected_parts=file.known_rejected_parts, found=found, seen_before=True,
    )  # fmt: skip


def _flag_renamed_copies(con: duckdb.DuckDBPyConnection, first_key: int) -> None:
    """Give each new report that repeats a stored one under another reporter name (the
    same report ID, period, policy domain and e-mail) the issue ``renamed-copy``.

    A report's identity includes its reporter, so both are stored and counted, as the rule
    says; the issue makes the likely double count visible (in "Reports with issues").
    """
    key = REPORTER_KEY
    con.execute(
        f"""
        CREATE TEMP TABLE renamed AS
        SELECT n.report_key, n.issue_count AS ordinal,
               arg_min(o.report_key, o.report_key) AS kept_key,
               arg_min(o.reporter, o.report_key) AS kept_reporter,
               arg_min(o.origin, o.report_key) AS kept_origin
        FROM reports n JOIN reports o
          ON o.report_id = n.report_id AND o.begin_utc = n.begin_utc
         AND o.end_utc = n.end_utc AND o.policy_domain = n.policy_domain
         AND o.email IS NOT DISTINCT FROM n.email AND o.report_key < n.report_key
         AND {key.format("o.reporter")} <> {key.format("n.reporter")}
        WHERE n.report_key >= $first
        GROUP BY n.report_key, n.issue_count
        """,
        {"first": first_key},
    )
    try:
        con.execute(
            "INSERT INTO report_issues SELECT report_key, ordinal, 'renamed-copy', 'warning', "
            "format('the report ID, period, policy domain and e-mail are those of report {} "
            "from {} ({}): the same report sent again under another name? Both are counted',"
            " kept_key, kept_reporter, kept_origin), NULL FROM renamed"
        )
        con.execute(
            "UPDATE reports SET issue_count = issue_count + 1 "
            "WHERE report_key IN (SELECT report_key FROM renamed)"
        )
    finally:
        con.execute("DROP TABLE renamed")


def _ledger_values(o: FileOutcome) -> tuple:
    return (
        o.path, o.sha256, o.size, o.outcome, o.reason, o.reports, o.records, o.messages,
        o.duplicates, o.conflicts, o.partial, o.rejected_parts,
    )  # fmt: skip


def _insert_reports(
    con: duckdb.DuckDBPyConnection,
    chunks: list[ChunkResult],
    keys: list[list[int]],
    demo: bool,
    now: datetime,
) -> None:
    """Insert the rows of every newly stored report, mapping report_index to report_key."""
    if not any(key >= 0 for chunk_keys in keys for key in chunk_keys):
        return  # a batch of known files: nothing to write, and no need to load pyarrow
    import pyarrow as pa
    import pyarrow.compute as pc

    spellings = _reporter_spellings(con, chunks)
    for table, columns in TABLES.items():
        parts = []
        for chunk, chunk_keys in zip(chunks, keys, strict=True):
            if not chunk.tables or not any(k >= 0 for k in chunk_keys):
                continue
            data = chunk.tables[table]
            mapped = pc.take(pa.array(chunk_keys, pa.int64()), data.column("report_index"))
            data = data.set_column(0, "report_key", mapped)
            parts.append(data if min(chunk_keys) >= 0 else data.filter(pc.greater_equal(mapped, 0)))
        if not parts or not sum(p.num_rows for p in parts):
            continue
        batch = pa.concat_tables(parts)
        if spellings and "reporter" in columns:
            batch = _respell(batch, spellings)
        names = ("report_key", *columns[1:])
        extra = ", demo, ingested_at" if table == "reports" else ""
        extra_values = ", $demo, $now" if table == "reports" else ""
        params = {"demo": demo, "now": now} if table == "reports" else {}
        insert_arrow(con, table, names, batch, extra, extra_values, params)


def _reporter_spellings(
    con: duckdb.DuckDBPyConnection, chunks: list[ChunkResult]
) -> dict[str, str]:
    """Reporter names to write differently: name -> the spelling already in use.

    A reporter is one organisation whatever the case of its name and a final dot (as the
    filter reads it: "google.com." is google.com), so it gets one spelling: the one of its
    earliest stored report, or else the first in this batch. Returns only the names that
    change.
    """
    names: dict[str, None] = {}
    for chunk in chunks:
        if chunk.tables:
            names.update(dict.fromkeys(chunk.tables["reports"].column("reporter").to_pylist()))
    if not names:
        return {}
    stored = dict(
        con.execute(
            f"SELECT {REPORTER_KEY.format('reporter')}, arg_min(reporter, report_key) "
            f"FROM reports WHERE {REPORTER_KEY.format('reporter')} IN "
            f"(SELECT {REPORTER_KEY.format('unnest($names)')}) GROUP BY 1",
            {"names": list(names)},
        ).fetchall()
    )
    # Keyed by DuckDB's lower(), as the stored names and the filter are: Python's differs
    # for some letters (a final capital sigma, a dotted capital I).
    (keys,) = con.execute(
        f"SELECT list_transform($names, lambda name: {REPORTER_KEY.format('name')})",
        {"names": list(names)},
    ).fetchall()[0]
    changes = {}
    for name, key in zip(names, keys, strict=True):
        spelling = stored.setdefault(key, name)
        if spelling != name:
            changes[name] = spelling
    return changes


def _respell(batch: pa.Table, spellings: dict[str, str]) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    position = batch.schema.get_field_index("reporter")
    column = batch.column(position)
    distinct = pc.unique(column)
    renamed = pa.array([spellings.get(name, name) for name in distinct.to_pylist()], pa.string())
    return batch.set_column(
        position, "reporter", pc.take(renamed, pc.index_in(column, value_set=distinct))
    )


def _insert_originals(
    con: duckdb.DuckDBPyConnection, files: list[FileResult], now: datetime, arrow: bool
) -> None:
    """Record where the workers packed the originals (see ``archive``), each digest once."""
    rows = {f.sha256: (f.sha256, f.size, *f.packed, now) for f in files if f.packed is not None}
    insert_rows(
        con, "originals", _ORIGINAL_COLUMNS, list(rows.values()), or_ignore=True, arrow=arrow
    )


def _remember_file_stats(
    con: duckdb.DuckDBPyConnection, files: list[FileResult], arrow: bool
) -> None:
    """The signature and digest of each file read from disk whose bytes are now known
    (see ``store.file_stats``); a rejected file is read again anyway."""
    rows = {f.stat[0]: (*f.stat, f.sha256) for f in files if f.stat is not None and f.sha256}
    columns = ("path", "size", "mtime_ns", "ctime_ns", "inode", "device", "sha256")
    insert_rows(con, "file_stats", columns, list(rows.values()), arrow=arrow, replacing="path")


def _insert_all(con: duckdb.DuckDBPyConnection, rows: _Rows, arrow: bool) -> None:
    insert_rows(con, "ingest_ledger", _LEDGER_COLUMNS, rows.ledger, arrow=arrow)
    insert_rows(con, "ingest_parts", _PART_COLUMNS, rows.parts, arrow=arrow)
    insert_rows(con, "conflicts", _CONFLICT_COLUMNS, rows.conflicts, arrow=arrow)
    inputs = list(rows.inputs.values())
    insert_rows(con, "inputs", _INPUT_COLUMNS, inputs, or_ignore=True, arrow=arrow)
