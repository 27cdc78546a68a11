"""Page queries about reports, data quality, filter choices and the ingest ledger.

Part of the ``insights`` questions; import them from ``dmarc_analytics.insights``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from dmarc_analytics.filters import Filter, compile_filter
from dmarc_analytics.insights_sql import (
    REASONS_OF_R,
    RECOMPUTED,
    frame,
    limit_sql,
    report_scope,
    scalar,
)
from dmarc_analytics.outcomes import OUTCOMES
from dmarc_analytics.store import fetch_one

# The policy as the receiver reported it; tags it did not report are left out.
_POLICY = "concat_ws(' ', 'p=' || p, 'sp=' || sp, 'np=' || np, 'pct=' || pct, 't=' || testing)"
_ISSUE_CODES = (
    "(SELECT string_agg(DISTINCT code, '; ' ORDER BY code) FROM report_issues i"
    " WHERE i.report_key = rp.report_key)"
)
_REPORT_LIST_COLUMNS = "rp.report_key, rp.reporter, rp.policy_domain, rp.begin_utc, rp.end_utc"
_REPORT_DETAILS = (
    f"{_ISSUE_CODES} AS issue_codes, {_POLICY} AS policy, rp.issue_count AS issues, rp.partial, "
    "rp.multi_day, rp.demo"
)
_LEDGER_COLUMNS = (  # the reason beside the outcome: the grid is often too narrow for both
    "ingested_at, via, name, outcome, reason, reports, records, messages, duplicates, "
    "conflicts, partial, rejected_parts, sha256"
)


@dataclass(frozen=True, slots=True)
class ReportDetail:
    report: dict[str, object]  # every column of the reports row
    records: pd.DataFrame
    issues: pd.DataFrame
    origin: str
    input_sha256: str


@dataclass(frozen=True, slots=True)
class DataQuality:
    reports_with_issues: int
    partial_reports: int
    conflicts: int  # reports in the filter that arrived again with other data
    multi_day_reports: int
    doubtful_reports: int  # with a matching record whose verdicts our recomputation doubts


@dataclass(frozen=True, slots=True)
class FilterChoices:
    policy_domains: list[str]
    header_froms: list[str]
    reporters: list[str]  # sorted case-insensitively
    first_day: date | None
    last_day: date | None


# What the Reports page can narrow its list to: the reports behind each data-quality count
# of the Overview (``data_quality``), so a count can be followed to the reports it counts.
REPORT_KINDS = ("issues", "partial", "conflicts", "multi_day", "doubtful")


def report_list(
    con: duckdb.DuckDBPyConnection, flt: Filter, limit: int | None = None, kind: str | None = None
) -> pd.DataFrame:
    """The filter's reports, newest first (begin, then report_key, descending).

    Columns: report_key, reporter, policy_domain, begin_utc, end_utc, records, messages,
    issue_codes (the distinct codes of the report's issues), policy (as reported, e.g.
    "p=reject sp=quarantine pct=100"), issues, partial, multi_day, demo. With
    record-level conditions only reports with a matching record are listed, and
    records/messages count the matching records. ``kind`` (one of ``REPORT_KINDS``) keeps
    only the reports with issues, partial ones, those with a conflicting copy, those
    spanning several days, or those with a matching record whose verdicts look doubtful.
    """
    where = compile_filter(flt)
    if flt.has_record_conditions:
        source = f"""
            (SELECT report_key, count(*) AS n, sum(count) AS m FROM records
             WHERE {where.sql} GROUP BY report_key) per
            JOIN reports rp ON rp.report_key = per.report_key"""
        counts = "per.n AS records, CAST(per.m AS BIGINT) AS messages"
    else:
        source = f"reports rp WHERE {where.sql}"
        counts = "CAST(rp.records AS BIGINT) AS records, rp.messages"
    keep = _kind_condition(kind, where.sql)
    source += f" {'WHERE' if flt.has_record_conditions else 'AND'} {keep}"
    limit_clause, params = limit_sql(limit, where.params)
    sql = (
        f"SELECT {_REPORT_LIST_COLUMNS}, {counts}, {_REPORT_DETAILS} FROM {source} "
        f"ORDER BY rp.begin_utc DESC, rp.report_key DESC{limit_clause}"
    )
    return frame(con, sql, params)


def count_reports(con: duckdb.DuckDBPyConnection, flt: Filter, kind: str | None = None) -> int:
    """How many reports ``report_list`` would list without a limit (= overview.reports, and
    the matching data-quality count for a ``kind``)."""
    scope = report_scope(con, flt)
    where = compile_filter(flt)
    keep = _kind_condition(kind, where.sql)
    sql = f"SELECT count(*) FROM reports rp WHERE {scope.sql} AND {keep}"
    return int(scalar(con, sql, {**scope.params, **where.params}))


def _kind_condition(kind: str | None, record_where: str) -> str:
    """SQL over ``reports rp`` for ``kind``; ``record_where`` picks the filter's records."""
    if kind is None:
        return "TRUE"
    conditions = {
        "issues": "rp.issue_count > 0",
        "partial": "rp.partial",
        "conflicts": "rp.report_key IN (SELECT kept_report_key FROM conflicts)",
        "multi_day": "rp.multi_day",
        "doubtful": "rp.report_key IN (SELECT report_key FROM records "
        f"WHERE verdict_mismatch AND ({record_where}))",
    }
    if kind not in conditions:
        raise ValueError(f"kind must be one of {', '.join(REPORT_KINDS)}, got {kind!r}")
    return conditions[kind]


def find_reports(con: duckdb.DuckDBPyConnection, text: str) -> list[int]:
    """The reports a person typed, oldest stored first: those with that report ID (any case,
    with or without ``<...>``; several reporters may use one ID), else the one with that
    key (the list's Key column: ``1234``, ``1,234`` or ``#1234``). Empty when none."""
    typed = text.strip()
    found = _with_id(con, typed)
    if found:
        return found
    number = typed.removeprefix("#").replace(",", "")
    if number.isascii() and number.isdigit() and len(number) < 19:
        return _with_key(con, int(number))
    return []


def find_linked_report(con: duckdb.DuckDBPyConnection, text: str) -> list[int]:
    """The reports a link names (``report_link``): ``#`` and a key, or else a report ID and
    nothing but an ID. Unlike typed text, a link's number is never taken for a key: a
    link to report ID "2" whose report was purged must not open the report numbered 2."""
    value = text.strip()
    key = _KEY_LINK.fullmatch(value)
    return _with_key(con, int(key.group(1))) if key else _with_id(con, value)


_KEY_LINK = re.compile(r"#([0-9]{1,18})")


def _with_id(con: duckdb.DuckDBPyConnection, text: str) -> list[int]:
    """Reports with this ID, in any case (DuckDB's lower() on both sides: Python's differs
    for some letters, such as İ), with or without ``<...>``."""
    bare = text.removeprefix("<").removesuffix(">").strip()
    if not bare:
        return []
    rows = con.execute(
        "SELECT report_key FROM reports "
        "WHERE lower(trim(trim(trim(report_id), '<>'))) = lower($id) ORDER BY report_key",
        {"id": bare},
    ).fetchall()
    return [int(key) for (key,) in rows]


def _with_key(con: duckdb.DuckDBPyConnection, key: int) -> list[int]:
    rows = con.execute(
        "SELECT report_key FROM reports WHERE report_key = $key", {"key": key}
    ).fetchall()
    return [int(found) for (found,) in rows]


def report_link(con: duckdb.DuckDBPyConnection, report_key: int) -> str | None:
    """How a link names the report: its report ID where no other stored report has it (a
    re-parse gives reports new keys, never new IDs), else ``#`` and its key; None when there
    is no such report. ``find_linked_report`` reads either back."""
    rows = con.execute(
        "WITH ids AS (SELECT report_key, trim(trim(trim(report_id), '<>')) AS bare "
        "FROM reports) SELECT bare, (SELECT count(*) FROM ids o "
        "WHERE lower(o.bare) = lower(ids.bare)) FROM ids WHERE report_key = $key",
        {"key": int(report_key)},
    ).fetchall()
    if not rows:
        return None
    bare, sharing = rows[0]
    if sharing == 1 and bare and len(bare) <= LINK_VALUE_MAX and not _KEY_LINK.fullmatch(bare):
        return bare
    return f"#{int(report_key)}"  # an ID that is shared, too long, or itself reads "#12"


LINK_VALUE_MAX = 200  # characters of a link's value that the app reads


def report_detail(con: duckdb.DuckDBPyConnection, report_key: int) -> ReportDetail | None:
    """One stored report with its records and issues; None when there is no such report."""
    params: dict[str, object] = {"q_key": int(report_key)}
    result = con.execute("SELECT * FROM reports WHERE report_key = $q_key", params)
    names = [column[0] for column in result.description]
    rows = result.fetchall()
    if not rows:
        return None
    report = dict(zip(names, rows[0], strict=True))
    records = frame(
        con,
        f"""
        WITH r AS (SELECT * FROM records WHERE report_key = $q_key),
        o AS ({REASONS_OF_R})
        SELECT r.ordinal + 1 AS ordinal, r.source_ip, r.count, r.disposition, r.dkim, r.spf,
               {RECOMPUTED}, r.header_from, r.envelope_from, r.envelope_to,
               r.dkim_auth AS dkim_results,
               r.spf_auth AS spf_results, o.override_reasons
        FROM r LEFT JOIN o ON o.report_key = r.report_key AND o.record_ordinal = r.ordinal
        ORDER BY r.ordinal
        """,
        params,
    )
    issues = frame(
        con,
        "SELECT code, severity, message, path FROM report_issues WHERE report_key = $q_key "
        "ORDER BY ordinal",
        params,
    )
    return ReportDetail(report, records, issues, str(report["origin"]),
                        str(report["input_sha256"]))  # fmt: skip


def data_quality(con: duckdb.DuckDBPyConnection, flt: Filter) -> DataQuality:
    """Counts of the filter's reports (as ``overview``), each the number of reports that
    ``report_list`` lists for its kind."""
    scope = report_scope(con, flt)
    where = compile_filter(flt)
    row = fetch_one(
        con,
        f"""
        WITH scoped AS (SELECT report_key, issue_count, partial, multi_day FROM reports rp
                        WHERE {scope.sql})
        SELECT (SELECT count(*) FILTER (WHERE issue_count > 0) FROM scoped),
               (SELECT count(*) FILTER (WHERE partial) FROM scoped),
               (SELECT count(DISTINCT kept_report_key) FROM conflicts
                WHERE kept_report_key IN (SELECT report_key FROM scoped)),
               (SELECT count(*) FILTER (WHERE multi_day) FROM scoped),
               -- the list's own condition, over the records: a doubtful record may count
               -- 0 messages, which no rollup of messages shows (10M records: 60-160 ms)
               (SELECT count(*) FROM scoped rp
                WHERE {_kind_condition("doubtful", where.sql)})
        """,
        {**scope.params, **where.params},
    )
    return DataQuality(*(int(value) for value in row))


def filter_choices(con: duckdb.DuckDBPyConnection) -> FilterChoices:
    """What the sidebar offers: every stored value (sorted) and the stored day span."""
    domains = _column(con, "SELECT DISTINCT policy_domain FROM reports ORDER BY 1")
    froms = _column(
        con, "SELECT DISTINCT header_from FROM records WHERE header_from IS NOT NULL ORDER BY 1"
    )
    names = _column(
        con, "SELECT reporter FROM (SELECT DISTINCT reporter FROM reports) "
        "ORDER BY lower(reporter), reporter",
    )  # fmt: skip
    first, last = fetch_one(con, "SELECT min(day), max(day) FROM reports")
    return FilterChoices(domains, froms, names, first, last)


def _column(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    return [row[0] for row in con.execute(sql).fetchall()]


def _ledger_where(outcome: str | None, search: str | None) -> tuple[str, dict[str, object]]:
    clauses, params = ["TRUE"], {}
    if outcome is not None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        clauses.append("outcome = $q_outcome")
        params["q_outcome"] = outcome
    if search:
        clauses.append(
            "(contains(lower(name), lower($q_search)) "
            "OR contains(lower(coalesce(reason, '')), lower($q_search)))"
        )
        params["q_search"] = search
    return " AND ".join(clauses), params


def ledger(
    con: duckdb.DuckDBPyConnection,
    outcome: str | None = None,
    search: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Ingest ledger lines, newest first; ``search`` = case-insensitive part of name or reason."""
    condition, params = _ledger_where(outcome, search)
    limit_clause, params = limit_sql(limit, params)
    return frame(
        con,
        f"SELECT {_LEDGER_COLUMNS} FROM ingest_ledger WHERE {condition} "
        f"ORDER BY ingested_at DESC, ledger_id DESC{limit_clause}",
        params,
    )


def count_ledger(
    con: duckdb.DuckDBPyConnection, outcome: str | None = None, search: str | None = None
) -> int:
    condition, params = _ledger_where(outcome, search)
    return int(scalar(con, f"SELECT count(*) FROM ingest_ledger WHERE {condition}", params))


def has_data(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any report is stored."""
    return bool(scalar(con, "SELECT EXISTS (SELECT 1 FROM reports)", {}))


def has_demo_data(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any stored report belongs to the demo dataset."""
    return bool(scalar(con, "SELECT EXISTS (SELECT 1 FROM reports WHERE demo)", {}))


__all__ = [
    "REPORT_KINDS", "DataQuality", "FilterChoices", "ReportDetail", "count_ledger",
    "count_reports", "data_quality", "filter_choices", "has_data", "has_demo_data", "ledger",
    "report_detail", "report_list",
]  # fmt: skip
