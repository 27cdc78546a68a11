"""What receivers did with mail failing DMARC, beside what the published policy asked.

Part of the ``insights`` questions; import them from ``dmarc_analytics.insights``.

The policy a record asked for is the report's ``p`` when its header-from is the policy
domain and ``sp`` otherwise (``sp`` in effect defaults to ``p``; a report cannot tell
whether a subdomain exists, so ``np`` is not used). A disposition below it is explained by
the record's override reasons, or, without one, by sampling (``pct`` under 100, or
``t=y``) when it is exactly one level lower; otherwise it is an unexplained downgrade, common
under RFC 7489, which did not require a reason.
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

    Columns: verdict (one of ``POLICY_VERDICTS``), requested, applied, reasons (the
    record's override reason types, "; "-joined, or None), sampled (the report's policy had
    ``pct`` under 100 or ``t=y``), messages, records, reporters. Ordered by verdict, then
    messages (most first).

    It reads every failing record with its report, so it is asked for on request, not on
    every filter change.
    """
    where = compile_filter(flt)
    requested = (
        "CASE WHEN r.header_from = rp.policy_domain THEN rp.effective_p "
        "ELSE coalesce(rp.effective_sp, rp.effective_p) END"
    )
    sql = f"""
        WITH failing AS (
            SELECT coalesce({requested}, 'none') AS requested, r.disposition AS applied,
                   r.reason_types AS reasons,
                   coalesce(rp.effective_pct < 100 OR rp.testing = 'y', FALSE) AS sampled,
                   r.count, r.reporter
            FROM (SELECT header_from, disposition, reason_types, count, reporter, report_key
                  FROM records WHERE NOT dmarc_pass AND ({where.sql})) r
            JOIN reports rp ON rp.report_key = r.report_key
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
            SELECT verdict, requested, applied, reasons, sampled,
                   CAST(sum(count) AS BIGINT) AS messages, count(*) AS records,
                   count(DISTINCT reporter) AS reporters
            FROM judged GROUP BY ALL
        )
        ORDER BY list_position({_VERDICT_ORDER}, verdict), messages DESC, requested, applied,
                 reasons NULLS FIRST, sampled
    """
    return frame(con, sql, where.params)


__all__ = ["POLICY_VERDICTS", "policy_applied"]
