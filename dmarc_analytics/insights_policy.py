"""What receivers did with mail failing DMARC, beside what the published policy asked.

Part of the ``insights`` questions; import them from ``dmarc_analytics.insights``.

The policy a record asked for is the report's ``p`` when its header-from is the policy
domain (or missing, or not under it), and for a subdomain ``sp`` (which defaults to ``p``),
or ``np`` when that differs and explains the disposition better: a report cannot tell
whether the subdomain exists. A disposition below it is explained by the record's override reasons,
or, without one, by sampling (``pct`` under 100, or ``t=y``) when it is exactly one level
lower; otherwise it is an unexplained downgrade, common under RFC 7489, which did not
require a reason.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from dmarc_analytics.filters import Filter, compile_filter
from dmarc_analytics.insights_sql import frame, text_list

# How each (requested, applied) pair is judged, in the order a reader should care.
POLICY_VERDICTS = ("unexplained", "overridden", "sampling", "as_requested", "stricter")
_VERDICT_ORDER = text_list(POLICY_VERDICTS)
# Which verdict explains a disposition best, when a subdomain's could follow sp or np.
_VERDICT_PREFERENCE = text_list(
    ("as_requested", "overridden", "sampling", "stricter", "unexplained")
)


def _rank(column: str) -> str:
    return f"(CASE {column} WHEN 'reject' THEN 2 WHEN 'quarantine' THEN 1 ELSE 0 END)"


def _verdict(requested: str) -> str:
    """SQL judging ``applied`` against the disposition ``requested``."""
    applied, asked = _rank("applied"), _rank(requested)
    return f"""CASE
        WHEN {applied} > {asked} THEN 'stricter'
        WHEN {applied} = {asked} THEN 'as_requested'
        WHEN reasons IS NOT NULL THEN 'overridden'
        WHEN sampled AND {applied} = {asked} - 1 THEN 'sampling'
        ELSE 'unexplained' END"""


def policy_applied(con: duckdb.DuckDBPyConnection, flt: Filter) -> pd.DataFrame:
    """The matching records the receiver scored as failing DMARC, grouped by the policy
    they asked for and what was applied.

    Columns: verdict (one of ``POLICY_VERDICTS``), requested, tag (the policy tag it comes
    from: p, sp or np), applied, reasons (the record's override reason types, "; "-joined,
    or None), sampled (the report's policy had ``pct`` under 100 or ``t=y``), messages,
    records, reporters. Ordered by verdict, then messages (most first).

    It reads every failing record with its report, so it is asked for on request, not on
    every filter change.
    """
    where = compile_filter(flt)
    subdomain = (
        "r.header_from IS NOT NULL AND r.header_from <> rp.policy_domain "
        "AND ends_with(r.header_from, '.' || rp.policy_domain)"
    )
    sql = f"""
        WITH failing AS (
            SELECT CASE WHEN {subdomain} THEN 'sp' ELSE 'p' END AS tag,
                   CASE WHEN {subdomain} THEN rp.effective_sp ELSE rp.effective_p END
                       AS requested,
                   CASE WHEN {subdomain} AND rp.effective_np <> rp.effective_sp
                        THEN rp.effective_np END AS requested_np,
                   r.disposition AS applied, r.reason_types AS reasons,
                   coalesce(rp.effective_pct < 100 OR rp.testing = 'y', FALSE) AS sampled,
                   r.count, r.reporter
            FROM (SELECT header_from, disposition, reason_types, count, reporter, report_key
                  FROM records WHERE NOT dmarc_pass AND ({where.sql})) r
            JOIN reports rp ON rp.report_key = r.report_key
        ),
        judged AS (
            SELECT *, {_verdict("requested")} AS verdict_main,
                   CASE WHEN requested_np IS NOT NULL THEN {_verdict("requested_np")} END
                       AS verdict_np
            FROM failing
        ),
        chosen AS (  -- np or sp for a subdomain: the one that explains the disposition best
            SELECT *, verdict_np IS NOT NULL AND list_position({_VERDICT_PREFERENCE}, verdict_np)
                      < list_position({_VERDICT_PREFERENCE}, verdict_main) AS by_np
            FROM judged
        )
        SELECT * FROM (
            SELECT CASE WHEN by_np THEN verdict_np ELSE verdict_main END AS verdict,
                   CASE WHEN by_np THEN requested_np ELSE requested END AS requested,
                   CASE WHEN by_np THEN 'np' ELSE tag END AS tag, applied, reasons, sampled,
                   CAST(sum(count) AS BIGINT) AS messages, count(*) AS records,
                   count(DISTINCT reporter) AS reporters
            FROM chosen GROUP BY ALL
        )
        ORDER BY list_position({_VERDICT_ORDER}, verdict), messages DESC, requested, tag,
                 applied, reasons NULLS FIRST, sampled
    """
    return frame(con, sql, where.params)


__all__ = ["POLICY_VERDICTS", "policy_applied"]
