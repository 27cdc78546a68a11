"""Page queries about one source IP: its records, auth results and timeline.

Part of the ``insights`` questions; import them from ``dmarc_analytics.insights``.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from dmarc_analytics.filters import Filter, compile_filter
from dmarc_analytics.flatten import ip_key
from dmarc_analytics.insights_sql import (
    MESSAGES,
    PASS_FAIL,
    REASONS_OF_R,
    RECOMPUTED,
    frame,
    limit_sql,
    text_list,
    with_params,
    zone_day,
)


def _one_source(flt: Filter, source_ip: str) -> tuple[str, dict[str, object]]:
    """The filter plus "this source IP": by its integer key when it is a valid address."""
    where = compile_filter(flt)
    version, number = ip_key(source_ip.strip())
    if version is None:
        return f"({where.sql}) AND source_ip = $q_ip", with_params(where.params, q_ip=source_ip)
    # Valid IPs are stored in canonical form with their integer key: equal key, equal text.
    return (
        f"({where.sql}) AND ip_version = $q_ipv AND ip_num = CAST($q_ipn AS UHUGEINT)",
        with_params(where.params, q_ipv=version, q_ipn=number),
    )


# What one source's mail shows, in the order a reader should care (README, "Sources"):
# the receiver's aligned verdicts first, then whether anything authenticated at all.
SOURCE_CATEGORIES = ("nothing", "unaligned", "spf_only", "dkim_only", "dkim_and_spf")
_CATEGORY = """CASE
    WHEN dkim = 'pass' AND spf = 'pass' THEN 'dkim_and_spf'
    WHEN dkim = 'pass' THEN 'dkim_only'
    WHEN spf = 'pass' THEN 'spf_only'
    WHEN auth_unaligned THEN 'unaligned'
    ELSE 'nothing' END"""


def source_summary(
    con: duckdb.DuckDBPyConnection, flt: Filter, source_ip: str
) -> pd.DataFrame:
    """One IP's matching messages by what they show, so its DMARC result reads as a reason.

    Columns: category (one of ``SOURCE_CATEGORIES``: nothing authenticated; authenticated
    only for another domain than the header-from; aligned by SPF alone; aligned by DKIM
    alone; aligned by both), messages, share (of the IP's messages), domains (for
    "unaligned": the domains it authenticated as, most messages first). Categories with no
    messages are left out; rows in the order of ``SOURCE_CATEGORIES``.
    """
    condition, params = _one_source(flt, source_ip)
    sql = f"""
        WITH r AS (SELECT {_CATEGORY} AS category, count, auth_unaligned_domains
                   FROM records WHERE {condition}),
        domains AS (
            SELECT category, string_agg(domain, ', ' ORDER BY m DESC, domain) AS domains
            FROM (SELECT category, domain, sum(count) AS m
                  FROM (SELECT category, count,
                               unnest(string_split(auth_unaligned_domains, '; ')) AS domain
                        FROM r WHERE category = 'unaligned' AND auth_unaligned_domains IS NOT NULL)
                  GROUP BY ALL)
            GROUP BY category
        )
        SELECT category, messages, messages / sum(messages) OVER () AS share, domains
        FROM (SELECT category, CAST(sum(count) AS BIGINT) AS messages FROM r GROUP BY category)
        LEFT JOIN domains USING (category)
        ORDER BY list_position({text_list(SOURCE_CATEGORIES)}, category)
    """
    return frame(con, sql, params)


def mail_summary(con: duckdb.DuckDBPyConnection, flt: Filter) -> pd.DataFrame:
    """All the filter's messages by what they show (as ``source_summary`` does for one IP):
    the mail that fails DMARC, which p=reject asks receivers to reject, split into what
    authenticated for another domain and what authenticated nothing; the mail that passes,
    by the aligned results it passes with.

    Columns: category (``SOURCE_CATEGORIES``), messages, share (of the filter's messages).
    Categories with no messages are left out; rows in the order of ``SOURCE_CATEGORIES``.
    """
    where = compile_filter(flt)
    sql = f"""
        SELECT category, messages, messages / sum(messages) OVER () AS share
        FROM (SELECT {_CATEGORY} AS category, CAST(sum(count) AS BIGINT) AS messages
              FROM records WHERE {where.sql} GROUP BY category)
        ORDER BY list_position({text_list(SOURCE_CATEGORIES)}, category)
    """
    return frame(con, sql, where.params)


def source_records(
    con: duckdb.DuckDBPyConnection, flt: Filter, source_ip: str, limit: int | None = None
) -> pd.DataFrame:
    """The matching records of one IP, newest report first, then the biggest.

    Columns: begin_utc, reporter, policy_domain, header_from, envelope_from, count,
    disposition, dkim, spf, dkim_results, spf_results, override_reasons ("type: comment; ...").
    """
    condition, params = _one_source(flt, source_ip)
    limit_clause, params = limit_sql(limit, params)
    sql = f"""
        WITH r AS (
            SELECT report_key, ordinal, begin_utc, reporter, policy_domain, header_from,
                   envelope_from, count, disposition, dkim, spf, dkim_aligned_calc,
                   spf_aligned_calc, verdict_mismatch, dkim_auth, spf_auth
            FROM records WHERE {condition}
            ORDER BY begin_utc DESC, count DESC, report_key, ordinal{limit_clause}
        ),
        o AS ({REASONS_OF_R})
        SELECT r.begin_utc, r.reporter, r.policy_domain, r.header_from, r.envelope_from,
               r.count, r.disposition, r.dkim, r.spf, {RECOMPUTED}, r.dkim_auth AS dkim_results,
               r.spf_auth AS spf_results, o.override_reasons
        FROM r LEFT JOIN o ON o.report_key = r.report_key AND o.record_ordinal = r.ordinal
        ORDER BY r.begin_utc DESC, r.count DESC, r.report_key, r.ordinal
    """
    return frame(con, sql, params)


def source_auth(
    con: duckdb.DuckDBPyConnection, flt: Filter, source_ip: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw auth results of one IP's matching records, weighted by the records' counts.

    DKIM: domain, selector, result, aligned, messages; SPF: domain, scope, result, aligned,
    messages. A record counts once per distinct result even if it lists it twice.
    """
    condition, params = _one_source(flt, source_ip)
    both = frame(
        con,
        f"""
        WITH r AS MATERIALIZED (SELECT report_key, ordinal, count FROM records
                                WHERE {condition})
        SELECT mechanism, domain, detail, result, aligned, CAST(sum(count) AS BIGINT) AS messages
        FROM ({_auth_join("dkim", "dkim_results", "selector")}
              UNION ALL
              {_auth_join("spf", "spf_results", "scope")})
        GROUP BY ALL
        ORDER BY mechanism, messages DESC, domain NULLS LAST, detail NULLS LAST, result,
                 aligned NULLS LAST
        """,
        params,
    )
    return _auth_part(both, "dkim", "selector"), _auth_part(both, "spf", "scope")


def _auth_join(mechanism: str, table: str, detail: str) -> str:
    return (
        f"SELECT DISTINCT r.report_key, r.ordinal, r.count, '{mechanism}' AS mechanism, "
        f"a.domain, a.{detail} AS detail, a.result, a.aligned FROM r JOIN {table} a "
        "ON a.report_key = r.report_key AND a.record_ordinal = r.ordinal"
    )


def _auth_part(both: pd.DataFrame, mechanism: str, detail: str) -> pd.DataFrame:
    part = both[both["mechanism"] == mechanism].drop(columns="mechanism")
    return part.rename(columns={"detail": detail}).reset_index(drop=True)


def source_timeline(
    con: duckdb.DuckDBPyConnection, flt: Filter, source_ip: str, tz: str = "UTC"
) -> pd.DataFrame:
    """One IP's messages per day (report begin day in ``tz``): day, series ("pass"/"fail"),
    messages."""
    condition, params = _one_source(flt, source_ip)
    day = zone_day(tz)
    return frame(
        con,
        f"SELECT {day} AS day, {PASS_FAIL} AS series, {MESSAGES} AS messages FROM records "
        f"WHERE {condition} GROUP BY ALL ORDER BY day, series",
        params if tz == "UTC" else with_params(params, q_tz=tz),
    )
