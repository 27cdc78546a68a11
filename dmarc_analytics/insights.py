"""Page queries: one function per question a page asks, each ``(con, Filter, ...)``.

Messages are always ``sum(count)``; rates are weighted by count, floats in 0..1 and 0 when
there are no messages. "SPF aligned" and "DKIM aligned" are the receiver's verdicts
(``records.spf`` / ``records.dkim`` = 'pass'), "DMARC pass" is ``records.dmarc_pass``.
Times are naive UTC; days are ``datetime.date``. Each question is one GROUP BY pass over the
filtered rows of a rollup (``rollups``: records summed per day, per report, per month and
source IP; ``records`` itself for the months a rollup cannot answer), so a page stays fast
on millions of records. Report, data-quality and ledger questions live in
``insights_reports``, single-IP questions in ``insights_sources``; all are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from dmarc_analytics.filters import Filter, compile_filter
from dmarc_analytics.insights_policy import POLICY_VERDICTS, policy_applied
from dmarc_analytics.insights_reports import (
    REPORT_KINDS,
    DataQuality,
    FilterChoices,
    ReportDetail,
    count_ledger,
    count_reports,
    data_quality,
    filter_choices,
    find_linked_report,
    find_reports,
    has_data,
    has_demo_data,
    ledger,
    report_detail,
    report_link,
    report_list,
)
from dmarc_analytics.insights_sources import (
    SOURCE_CATEGORIES,
    mail_summary,
    source_auth,
    source_records,
    source_summary,
    source_timeline,
)
from dmarc_analytics.insights_sql import (
    DKIM_ALIGNED,
    MESSAGES,
    PASS,
    PASS_FAIL,
    SPF_ALIGNED,
    frame,
    limit_sql,
    messages_where,
    report_scope,
    scalar,
    share,
    with_params,
    zone_day,
)
from dmarc_analytics.rollups import (
    day_rows,
    override_rows,
    report_rows,
    source_rows,
    unaligned_rows,
)
from dmarc_analytics.store import fetch_one

__all__ = [
    "POLICY_VERDICTS", "REPORT_KINDS", "SOURCE_CATEGORIES", "DataQuality", "FilterChoices",
    "Overview", "ReportDetail", "alignment_matrix", "authenticated_unaligned", "count_ledger",
    "count_reports", "count_sources", "daily_messages", "data_quality", "disposition_over_time",
    "filter_choices", "find_linked_report", "find_reports", "has_data", "has_demo_data",
    "ledger", "mail_summary", "overview", "override_reasons", "policy_applied", "report_detail",
    "report_link", "report_list", "reporters", "source_auth", "source_records", "source_summary",
    "source_timeline", "top_sources",
]  # fmt: skip

_SERIES = {"dmarc": PASS_FAIL, "disposition": "disposition"}
_RATES = (
    f"{share(PASS)} AS dmarc_pass_rate, {share(SPF_ALIGNED)} AS spf_aligned_rate, "
    f"{share(DKIM_ALIGNED)} AS dkim_aligned_rate"
)


@dataclass(frozen=True, slots=True)
class Overview:
    messages: int
    dmarc_pass_messages: int
    dmarc_pass_rate: float | None  # None when there are no messages
    reports: int
    reporters: int
    source_ips: int
    domains: int  # distinct policy domains
    begin: datetime | None  # earliest report begin, UTC
    end: datetime | None  # latest report end, UTC


def overview(con: duckdb.DuckDBPyConnection, flt: Filter) -> Overview:
    """Headline numbers; reports, begin and end are counted exactly like ``queries.summary``.

    Reporters and policy domains are those of the same reports; source IPs those of the
    matching records.
    """
    days = day_rows(con, flt)
    messages, passed = fetch_one(
        con, f"SELECT {MESSAGES}, {messages_where(PASS)} FROM {days.sql}", days.params
    )
    ips = count_sources(con, flt)
    scope = report_scope(con, flt)
    reports, reporter_count, domains, begin, end = fetch_one(
        con,
        "SELECT count(*), count(DISTINCT reporter), count(DISTINCT policy_domain), "
        f"min(begin_utc), max(end_utc) FROM reports WHERE {scope.sql}",
        scope.params,
    )
    rate = passed / messages if messages else None
    return Overview(
        int(messages), int(passed), rate, int(reports), int(reporter_count), int(ips),
        int(domains), begin, end,
    )  # fmt: skip


def daily_messages(
    con: duckdb.DuckDBPyConnection, flt: Filter, by: str = "dmarc", tz: str = "UTC"
) -> pd.DataFrame:
    """Messages per day and series: day, series, messages — by day, then series.

    ``by="dmarc"`` gives series "pass"/"fail", ``by="disposition"`` the dispositions. Days
    are report begin days in ``tz`` (an IANA zone name; UTC = ``records.day``).
    """
    series = _SERIES.get(by)
    if series is None:
        raise ValueError(f"by must be one of {', '.join(_SERIES)}, got {by!r}")
    days = day_rows(con, flt)
    if tz == "UTC":
        return frame(
            con,
            f"SELECT day, {series} AS series, {MESSAGES} AS messages FROM {days.sql} "
            "GROUP BY ALL ORDER BY day, series",
            days.params,
        )
    # Convert each distinct report begin once, not every record.
    return frame(
        con,
        f"SELECT {zone_day(tz)} AS day, series, "
        "CAST(sum(messages) AS BIGINT) AS messages FROM ("
        f"  SELECT begin_utc, {series} AS series, sum(count) AS messages FROM {days.sql} "
        "  GROUP BY ALL"
        ") GROUP BY ALL ORDER BY day, series",
        with_params(days.params, q_tz=tz),
    )


def disposition_over_time(
    con: duckdb.DuckDBPyConnection, flt: Filter, tz: str = "UTC"
) -> pd.DataFrame:
    """Messages per day (report begin day in ``tz``) and disposition: day, disposition,
    messages."""
    df = daily_messages(con, flt, by="disposition", tz=tz)
    return df.rename(columns={"series": "disposition"})


def top_sources(
    con: duckdb.DuckDBPyConnection, flt: Filter, limit: int | None = None
) -> pd.DataFrame:
    """One row per source IP, biggest first.

    Columns: source_ip, messages, dmarc_pass_rate, spf_aligned_rate, dkim_aligned_rate,
    dispositions ("none 120; reject 3", biggest first), header_from (sorted, ", "),
    reporters (sorted, ", "), first_seen, last_seen (min/max report begin, UTC). The
    lists are computed only for the IPs returned.
    """
    rows = source_rows(con, flt)
    limit_clause, params = limit_sql(limit, rows.params)
    only_top = " WHERE source_ip IN (SELECT source_ip FROM top)" if limit is not None else ""
    sql = f"""
        WITH f AS NOT MATERIALIZED {rows.sql},  -- scanned twice; materialising costs more
        top AS (  -- equal counts in address order (192.0.2.9 before 192.0.2.10)
            SELECT source_ip, {MESSAGES} AS messages, {_RATES},
                   min(first_begin) AS first_seen, max(last_begin) AS last_seen,
                   min(ip_version) AS v, min(ip_num) AS n
            FROM f GROUP BY source_ip ORDER BY messages DESC, v, n, source_ip{limit_clause}
        ),
        parts AS (
            SELECT source_ip, disposition, header_from, reporter, sum(count) AS m
            FROM f{only_top} GROUP BY ALL
        ),
        disp AS (
            SELECT source_ip, string_agg(disposition || ' ' || CAST(m AS BIGINT), '; '
                                         ORDER BY m DESC, disposition) AS dispositions
            FROM (SELECT source_ip, disposition, sum(m) AS m FROM parts GROUP BY ALL)
            GROUP BY source_ip
        ),
        lists AS (
            SELECT source_ip,
                   coalesce(string_agg(DISTINCT header_from, ', ' ORDER BY header_from), '')
                       AS header_from,
                   string_agg(DISTINCT reporter, ', ' ORDER BY reporter) AS reporters
            FROM parts GROUP BY source_ip
        )
        SELECT top.source_ip, messages, dmarc_pass_rate, spf_aligned_rate, dkim_aligned_rate,
               dispositions, header_from, reporters, first_seen, last_seen
        FROM top JOIN disp USING (source_ip) JOIN lists USING (source_ip)
        ORDER BY messages DESC, v, n, source_ip
    """
    return frame(con, sql, params)


def count_sources(con: duckdb.DuckDBPyConnection, flt: Filter) -> int:
    """Distinct source IPs among the matching records."""
    rows = source_rows(con, flt)
    return int(scalar(con, f"SELECT count(DISTINCT source_ip) FROM {rows.sql}", rows.params))


def reporters(con: duckdb.DuckDBPyConnection, flt: Filter) -> pd.DataFrame:
    """One row per reporter over the filter's reports (the same reports as ``overview``).

    Columns: reporter, reports, messages, dmarc_pass_rate, spf_aligned_rate,
    dkim_aligned_rate, dispositions (messages per disposition, "none 120; reject 3",
    biggest first), first_day, last_day, days_covered (distinct report days), gap_days
    (days in [first_day, last_day] without a report), avg_records, max_records (records per
    report; the matching records when the filter has record-level conditions).
    """
    where = compile_filter(flt, report_level_only=True)
    days = day_rows(con, flt)
    params = {**where.params, **days.params}
    if flt.has_record_conditions:
        per_report = report_rows(con, flt)
        params.update(per_report.params)
        scoped = f"""
            SELECT rp.reporter, rp.day, per.n
            FROM (SELECT report_key, sum(records) AS n FROM {per_report.sql}
                  GROUP BY report_key) per
            JOIN reports rp ON rp.report_key = per.report_key"""
    else:  # the same report-level conditions, over reports
        scoped = f"SELECT reporter, day, records AS n FROM reports WHERE {where.sql}"
    sql = f"""
        WITH reps AS (
            SELECT reporter, count(*) AS reports, min(day) AS first_day, max(day) AS last_day,
                   count(DISTINCT day) AS days_covered, avg(n) AS avg_records,
                   CAST(max(n) AS BIGINT) AS max_records
            FROM ({scoped}) GROUP BY reporter
        ),
        d AS NOT MATERIALIZED (SELECT * FROM {days.sql}),
        rates AS (
            SELECT reporter, {MESSAGES} AS messages, {_RATES}
            FROM d GROUP BY reporter
        ),
        disp AS (  -- what each receiver did with the mail
            SELECT reporter, string_agg(disposition || ' ' || CAST(m AS BIGINT), '; '
                                        ORDER BY m DESC, disposition) AS dispositions
            FROM (SELECT reporter, disposition, sum(count) AS m FROM d GROUP BY ALL)
            GROUP BY reporter
        )
        SELECT reporter, reports, coalesce(messages, 0) AS messages,
               coalesce(dmarc_pass_rate, 0) AS dmarc_pass_rate,
               coalesce(spf_aligned_rate, 0) AS spf_aligned_rate,
               coalesce(dkim_aligned_rate, 0) AS dkim_aligned_rate,
               coalesce(dispositions, '') AS dispositions, first_day, last_day,
               days_covered, date_diff('day', first_day, last_day) + 1 - days_covered AS gap_days,
               avg_records, max_records
        FROM reps LEFT JOIN rates USING (reporter) LEFT JOIN disp USING (reporter)
        ORDER BY messages DESC, reporter
    """
    return frame(con, sql, params)


def alignment_matrix(con: duckdb.DuckDBPyConnection, flt: Filter) -> pd.DataFrame:
    """Messages by (SPF aligned, DKIM aligned) verdict: always the four combinations.

    Columns: spf_aligned, dkim_aligned, messages, share (of all matching messages).
    """
    days = day_rows(con, flt)
    sql = f"""
        WITH g AS (
            SELECT coalesce({SPF_ALIGNED}, false) AS s, coalesce({DKIM_ALIGNED}, false) AS d,
                   sum(count) AS m
            FROM {days.sql} GROUP BY ALL
        )
        SELECT k.spf_aligned, k.dkim_aligned, CAST(coalesce(g.m, 0) AS BIGINT) AS messages,
               coalesce(CAST(g.m AS DOUBLE) / nullif(sum(g.m) OVER (), 0), 0) AS share
        FROM (VALUES (false, false), (false, true), (true, false), (true, true))
             AS k(spf_aligned, dkim_aligned)
        LEFT JOIN g ON g.s = k.spf_aligned AND g.d = k.dkim_aligned
        ORDER BY messages DESC, spf_aligned, dkim_aligned
    """
    return frame(con, sql, days.params)


def authenticated_unaligned(
    con: duckdb.DuckDBPyConnection, flt: Filter, limit: int | None = None
) -> pd.DataFrame:
    """Senders that passed DKIM or SPF for a domain not aligned with the From domain.

    Columns: source_ip, header_from, mechanism ("dkim"/"spf"), domain, messages,
    dmarc_fail (of those messages, the ones that failed DMARC: the senders to fix; the rest
    passed by another, aligned result), failing ones first. These are
    the auth results with result 'pass' and aligned = false (and a domain) of the matching
    records; a record counts once per (mechanism, domain). The store keeps that list per
    record (``records.auth_unaligned_domains``, "dkim:d1; spf:d2", written from the same
    per-result flags as dkim_results/spf_results.aligned), and ``rollups`` keeps it split
    into (mechanism, domain) and summed per month.
    """
    rows = unaligned_rows(con, flt)
    limit_clause, params = limit_sql(limit, rows.params)
    sql = f"""
        SELECT source_ip, header_from, mechanism, domain, {MESSAGES} AS messages,
               CAST(coalesce(sum(count) FILTER (WHERE NOT dmarc_pass), 0) AS BIGINT)
                   AS dmarc_fail
        FROM {rows.sql} GROUP BY ALL
        ORDER BY dmarc_fail DESC, messages DESC, source_ip, header_from NULLS LAST, mechanism,
                 domain{limit_clause}
    """
    return frame(con, sql, params)


def override_reasons(con: duckdb.DuckDBPyConnection, flt: Filter) -> pd.DataFrame:
    """Override reasons of the matching records: type, comment, records, messages.

    A record counts once per distinct (type, comment); an empty comment is shown as None.
    """
    rows = override_rows(con, flt)
    sql = f"""
        SELECT type, comment, CAST(sum(records) AS BIGINT) AS records,
               CAST(sum(count) AS BIGINT) AS messages
        FROM {rows.sql} GROUP BY ALL
        ORDER BY messages DESC, type, comment NULLS FIRST
    """
    return frame(con, sql, rows.params)
