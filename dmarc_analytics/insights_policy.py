"""What receivers did with mail failing DMARC, beside what the published policy asked.

Part of the ``insights`` questions; import them from ``dmarc_analytics.insights``.

The policy a record asked for is the report's ``p`` when its header-from is the policy
domain (or missing, or not under it), and for a subdomain ``sp`` (which defaults to ``p``),
or ``np`` when that differs and is what was applied: a report cannot tell whether the
subdomain exists. A disposition below it is explained by the record's override reasons,
or, without one, by sampling (``pct`` under 100, or ``t=y``) when it is exactly one level
lower; otherwise it is an unexplained downgrade, common under RFC 7489, which did not
require a reason.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from dmarc_analytics.filters import Filter, compile_filter
from dmarc_analytics.insights_sql import frame

# How each (requested, applied) pair is judged, in the order a reader should care.
POLICY_VERDICTS = ("unexplained", "overridden", "sampling", "as_requested", "stricter")
_VERDICT_ORDER = "[" + ", ".join(f"'{verdict}'" for verdict in POLICY_VERDICTS) + "]"


def _rank(column: str) -> str:
    return f"(CASE {column} WHEN 'reject' THEN 2 WHEN 'quarantine' THEN 1 ELSE 0 END)"


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
    tag = """CASE
        WHEN r.header_from IS NULL OR r.header_from = rp.policy_domain
             OR NOT ends_with(r.header_from, '.' || rp.policy_domain) THEN 'p'
        WHEN rp.effective_np <> rp.effective_sp AND r.disposition = rp.effective_np THEN 'np'
        ELSE 'sp' END"""
    sql = f"""
        WITH tagged AS (
            SELECT r.*, {tag} AS tag, rp.effective_p, rp.effective_sp, rp.effective_np,
                   rp.effective_pct, rp.testing
            FROM (SELECT header_from, disposition, reason_types, count, reporter, report_key
                  FROM records WHERE NOT dmarc_pass AND ({where.sql})) r
            JOIN reports rp ON rp.report_key = r.report_key
        ),
        failing AS (
            SELECT CASE tag WHEN 'p' THEN effective_p WHEN 'np' THEN effective_np
                   ELSE effective_sp END AS requested, tag, disposition AS applied,
                   reason_types AS reasons,
                   coalesce(effective_pct < 100 OR testing = 'y', FALSE) AS sampled,
                   count, reporter
            FROM tagged
        ),
        judged AS (
            SELECT *, CASE
                WHEN {_rank("applied")} > {_rank("requested")} THEN 'stricter'
                WHEN {_rank("applied")} = {_rank("requested")} THEN 'as_requested'
                WHEN reasons IS NOT NULL THEN 'overridden'
                WHEN sampled AND {_rank("applied")} = {_rank("requested")} - 1 THEN 'sampling'
                ELSE 'unexplained' END AS verdict
            FROM failing
        )
        SELECT * FROM (
            SELECT verdict, requested, tag, applied, reasons, sampled,
                   CAST(sum(count) AS BIGINT) AS messages, count(*) AS records,
                   count(DISTINCT reporter) AS reporters
            FROM judged GROUP BY ALL
        )
        ORDER BY list_position({_VERDICT_ORDER}, verdict), messages DESC, requested, tag,
                 applied, reasons NULLS FIRST, sampled
    """
    return frame(con, sql, where.params)


__all__ = ["POLICY_VERDICTS", "policy_applied"]
