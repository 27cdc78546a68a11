"""Write one batch of parsed inputs: dedupe by report identity, bulk insert, ledger rows.

Runs inside one transaction on a read-write connection, so a crash mid-batch leaves no half
report. Identity rules (see README, data model): the same identity with the same content is
a duplicate; the same identity with different content is a conflict, listed in
``conflicts`` while the first report stays in the totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from dmarc_analytics.flatten import (
    DKIM_COLUMNS,
    ISSUE_COLUMNS,
    REASON_COLUMNS,
    RECORD_COLUMNS,
    REPORT_COLUMNS,
    SPF_COLUMNS,
    FlatReport,
)
from dmarc_analytics.outcomes import FileOutcome, FileResult, PartOutcome
from dmarc_analytics.store import bump_data_version, fetch_one, transaction

_TYPES: dict[str, pa.DataType] = {
    "report_key": pa.int64(), "ordinal": pa.int32(), "record_ordinal": pa.int32(),
    "begin_utc": pa.timestamp("s"), "end_utc": pa.timestamp("s"), "day": pa.date32(),
    "ip_version": pa.int8(), "count": pa.int64(), "messages": pa.int64(),
    "records": pa.int32(), "pct": pa.int32(), "effective_pct": pa.int32(),
    "issue_count": pa.int32(), "errors": pa.list_(pa.string()), "dmarc_pass": pa.bool_(),
    "partial": pa.bool_(), "multi_day": pa.bool_(), "aligned": pa.bool_(),
    "dkim_aligned_calc": pa.bool_(), "spf_aligned_calc": pa.bool_(),
    "verdict_mismatch": pa.bool_(), "auth_unaligned": pa.bool_(), "demo": pa.bool_(),
    "ingested_at": pa.timestamp("us"), "size": pa.int64(), "ledger_id": pa.int64(),
    "kept_report_key": pa.int64(), "detected_at": pa.timestamp("us"),
    "reports": pa.int32(), "duplicates": pa.int32(), "conflicts": pa.int32(),
    "rejected_parts": pa.int32(), "first_seen": pa.timestamp("us"),
}  # fmt: skip
_TABLE_TYPES = {("ingest_ledger", "partial"): pa.int32()}
_CASTS = {"ip_num": "CAST(ip_num AS UHUGEINT)"}

_REPORT_EXTRA = ("input_sha256", "origin", "demo", "ingested_at")
_LEDGER_COLUMNS = (
    "ledger_id", "ingested_at", "via", "name", "sha256", "size", "outcome", "reason", "reports",
    "records", "messages", "duplicates", "conflicts", "partial", "rejected_parts",
)  # fmt: skip
_PART_COLUMNS = ("ledger_id", "ordinal", "origin", "outcome", "kind", "reason", "report_key")
_CONFLICT_COLUMNS = (
    "identity", "kept_report_key", "content_sha256", "input_sha256", "origin", "ledger_id",
    "detected_at",
)  # fmt: skip
_INPUT_COLUMNS = ("sha256", "size", "reports", "rejected_parts", "first_name", "first_seen")


@dataclass(slots=True)
class _Rows:
    reports: list[tuple] = field(default_factory=list)
    records: list[tuple] = field(default_factory=list)
    dkim: list[tuple] = field(default_factory=list)
    spf: list[tuple] = field(default_factory=list)
    reasons: list[tuple] = field(default_factory=list)
    issues: list[tuple] = field(default_factory=list)
    ledger: list[tuple] = field(default_factory=list)
    parts: list[tuple] = field(default_factory=list)
    conflicts: list[tuple] = field(default_factory=list)
    inputs: dict[str, tuple] = field(default_factory=dict)


def write_batch(
    con: duckdb.DuckDBPyConnection,
    files: list[FileResult],
    via: str,
    now: datetime,
    demo: bool = False,
) -> list[FileOutcome]:
    """Store a batch of worker results in one transaction; return one outcome per input."""
    with transaction(con):
        seen = _existing_identities(con, files)
        next_key, next_ledger = _next_ids(con)
        rows = _Rows()
        outcomes = []
        for file in files:
            outcome, next_key = _place_file(file, seen, next_key, next_ledger, rows, now, demo)
            rows.ledger.append((next_ledger, now, via, *_ledger_values(outcome)))
            outcomes.append(outcome)
            next_ledger += 1
        _insert_all(con, rows)
        bump_data_version(con)
    return outcomes


def _existing_identities(
    con: duckdb.DuckDBPyConnection, files: list[FileResult]
) -> dict[str, tuple[int, str]]:
    identities = [p.report.identity for f in files for p in f.parts if p.report is not None]
    if not identities:
        return {}
    rows = con.execute(
        "SELECT identity, report_key, content_sha256 FROM reports "
        "WHERE identity IN (SELECT unnest($ids))",
        {"ids": identities},
    ).fetchall()
    return {identity: (key, content) for identity, key, content in rows}


def _next_ids(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = fetch_one(
        con,
        "SELECT (SELECT coalesce(max(report_key), 0) + 1 FROM reports), "
        "(SELECT coalesce(max(ledger_id), 0) + 1 FROM ingest_ledger)",
    )
    return int(row[0]), int(row[1])


def _place_file(
    file: FileResult,
    seen: dict[str, tuple[int, str]],
    next_key: int,
    ledger_id: int,
    rows: _Rows,
    now: datetime,
    demo: bool,
) -> tuple[FileOutcome, int]:
    outcome = FileOutcome(file.name, file.sha256, file.size, "rejected", file.error)
    if file.known_reports is not None:
        outcome.outcome, outcome.reason = "duplicate", "this file was ingested before"
        outcome.reports = outcome.duplicates = file.known_reports
        outcome.rejected_parts = file.known_rejected_parts
        outcome.parts.append(PartOutcome(file.name, "duplicate", outcome.reason))
    for part in file.parts:
        report = part.report
        if report is None:
            outcome.rejected_parts += 1
            outcome.parts.append(PartOutcome(part.origin, "rejected", part.reason, part.kind))
            continue
        outcome.reports += 1
        known = seen.get(report.identity)
        if known is None:
            seen[report.identity] = (next_key, report.content_sha256)
            _add_report(rows, next_key, report, file, part.origin, now, demo)
            outcome.records += report.records
            outcome.messages += report.messages
            outcome.partial += int(report.partial)
            outcome.parts.append(PartOutcome(part.origin, "inserted", report_key=next_key))
            next_key += 1
        elif known[1] == report.content_sha256:
            outcome.duplicates += 1
            outcome.parts.append(
                PartOutcome(part.origin, "duplicate", "report already stored", report_key=known[0])
            )
        else:
            outcome.conflicts += 1
            rows.conflicts.append(
                (report.identity, known[0], report.content_sha256, file.sha256, part.origin,
                 ledger_id, now)
            )  # fmt: skip
            outcome.parts.append(PartOutcome(part.origin, "conflict", _CONFLICT, report_key=known[0]))
    _settle_outcome(outcome)
    for ordinal, part_outcome in enumerate(outcome.parts):
        rows.parts.append(
            (ledger_id, ordinal, part_outcome.origin, part_outcome.outcome, part_outcome.kind,
             part_outcome.reason, part_outcome.report_key)
        )  # fmt: skip
    if outcome.outcome != "rejected" and file.known_reports is None:
        rows.inputs.setdefault(
            file.sha256,
            (file.sha256, file.size, outcome.reports, outcome.rejected_parts, file.name, now),
        )
    return outcome, next_key


_CONFLICT = (
    "conflict: a report with the same identity but different content is already stored; "
    "the earlier one is kept"
)


def _settle_outcome(outcome: FileOutcome) -> None:
    """inserted if anything was added, duplicate if all reports were there, else rejected."""
    if outcome.outcome == "duplicate" and not outcome.parts[1:]:
        return
    if outcome.records or any(p.outcome == "inserted" for p in outcome.parts):
        outcome.outcome = "inserted"
        outcome.reason = _first_problem(outcome)
    elif outcome.reports:
        outcome.outcome = "duplicate"
        outcome.reason = _first_problem(outcome) or "all its reports were already stored"
    else:
        outcome.outcome = "rejected"
        if outcome.reason is None:
            rejected = [p.reason for p in outcome.parts if p.outcome == "rejected" and p.reason]
            outcome.reason = rejected[0] if rejected else "no DMARC aggregate report found"


def _first_problem(outcome: FileOutcome) -> str | None:
    for part in outcome.parts:
        if part.outcome in ("conflict", "rejected"):
            return f"{part.origin}: {part.reason}"
    return None


def _add_report(
    rows: _Rows, key: int, report: FlatReport, file: FileResult, origin: str, now: datetime,
    demo: bool,
) -> None:  # fmt: skip
    rows.reports.append((key, *report.report_row, file.sha256, origin, demo, now))
    rows.records.extend((key, *r) for r in report.record_rows)
    rows.dkim.extend((key, *r) for r in report.dkim_rows)
    rows.spf.extend((key, *r) for r in report.spf_rows)
    rows.reasons.extend((key, *r) for r in report.reason_rows)
    rows.issues.extend((key, *r) for r in report.issue_rows)


def _ledger_values(o: FileOutcome) -> tuple:
    return (
        o.path, o.sha256, o.size, o.outcome, o.reason, o.reports, o.records, o.messages,
        o.duplicates, o.conflicts, o.partial, o.rejected_parts,
    )  # fmt: skip


def _insert_all(con: duckdb.DuckDBPyConnection, rows: _Rows) -> None:
    key = ("report_key",)
    _insert(con, "reports", key + REPORT_COLUMNS + _REPORT_EXTRA, rows.reports)
    _insert(con, "records", key + RECORD_COLUMNS, rows.records)
    _insert(con, "dkim_results", key + DKIM_COLUMNS, rows.dkim)
    _insert(con, "spf_results", key + SPF_COLUMNS, rows.spf)
    _insert(con, "override_reasons", key + REASON_COLUMNS, rows.reasons)
    _insert(con, "report_issues", key + ISSUE_COLUMNS, rows.issues)
    _insert(con, "ingest_ledger", _LEDGER_COLUMNS, rows.ledger)
    _insert(con, "ingest_parts", _PART_COLUMNS, rows.parts)
    _insert(con, "conflicts", _CONFLICT_COLUMNS, rows.conflicts)
    _insert(con, "inputs", _INPUT_COLUMNS, list(rows.inputs.values()), or_ignore=True)


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple],
    or_ignore: bool = False,
) -> None:
    if not rows:
        return
    arrays = [
        pa.array(values, type=_TABLE_TYPES.get((table, name)) or _TYPES.get(name, pa.string()))
        for name, values in zip(columns, zip(*rows, strict=True), strict=True)
    ]
    batch = pa.Table.from_arrays(arrays, names=list(columns))
    view = f"_batch_{table}"
    con.register(view, batch)
    try:
        select = ", ".join(_CASTS.get(c, c) for c in columns)
        verb = "INSERT OR IGNORE INTO" if or_ignore else "INSERT INTO"
        con.execute(f"{verb} {table} ({', '.join(columns)}) SELECT {select} FROM {view}")
    finally:
        con.unregister(view)
