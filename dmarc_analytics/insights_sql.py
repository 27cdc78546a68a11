"""SQL pieces shared by the page queries (``insights`` and ``insights_reports``).

Every fragment here is a constant or built from code-side names only; values always travel as
bound parameters. Parameters added next to a compiled filter are prefixed ``q_`` so they can
never collide with the filter's own names.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pandas as pd

from dmarc_analytics.filters import Filter, Where, compile_report_scope
from dmarc_analytics.rollups import report_rows
from dmarc_analytics.store import fetch_one

PASS = "dmarc_pass"
SPF_ALIGNED = "spf = 'pass'"
DKIM_ALIGNED = "dkim = 'pass'"
MESSAGES = "CAST(coalesce(sum(count), 0) AS BIGINT)"
PASS_FAIL = "CASE WHEN dmarc_pass THEN 'pass' ELSE 'fail' END"

# Override reasons of the records in CTE ``r`` (report_key, ordinal), one text per record:
# "type" or "type: comment", joined with "; " in report order.
REASONS_OF_R = """
    SELECT report_key, record_ordinal,
           string_agg(CASE WHEN comment IS NULL OR comment = '' THEN type
                           ELSE type || ': ' || comment END, '; ' ORDER BY ordinal)
               AS override_reasons
    FROM override_reasons
    WHERE report_key IN (SELECT report_key FROM r)
    GROUP BY report_key, record_ordinal
"""


def messages_where(condition: str) -> str:
    """Messages (sum of count) of the rows where ``condition`` holds, 0 when none."""
    return f"CAST(coalesce(sum(count) FILTER (WHERE {condition}), 0) AS BIGINT)"


def share(condition: str) -> str:
    """Count-weighted share of the messages where ``condition`` holds; 0 without messages."""
    return (
        f"coalesce(CAST(sum(count) FILTER (WHERE {condition}) AS DOUBLE)"
        f" / nullif(sum(count), 0), 0)"
    )


# Our recomputation of a record's alignment beside the receiver's verdicts (``dkim``,
# ``spf``), and whether the two disagree, for tables of records (alias ``r``).
RECOMPUTED = (
    "r.dkim_aligned_calc AS dkim_recomputed, r.spf_aligned_calc AS spf_recomputed, "
    "r.verdict_mismatch AS doubtful"
)


def text_list(values: tuple[str, ...]) -> str:
    """A SQL list literal of fixed code words (never report data), for ``list_position``."""
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> pd.DataFrame:
    """Run a query; DATE columns come back as ``datetime.date``, TIMESTAMP as datetime64."""
    return con.execute(sql, params or {}).df(date_as_object=True)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> object:
    return fetch_one(con, sql, params)[0]


def report_scope(con: duckdb.DuckDBPyConnection, flt: Filter) -> Where:
    """The filter's reports, chosen as ``queries.summary`` chooses them
    (``filters.compile_report_scope``), with the rollup of records per report."""
    if not flt.has_record_conditions:
        return compile_report_scope(flt)
    rows = report_rows(con, flt)
    return Where(f"report_key IN (SELECT report_key FROM {rows.sql})", rows.params)


def zone_day(tz: str) -> str:
    """SQL for the report begin day of a ``records``-shaped row in ``tz`` (bound as
    ``$q_tz``); the stored UTC ``day`` for UTC."""
    if tz == "UTC":
        return "day"
    check_zone(tz)
    return "CAST(timezone($q_tz, begin_utc AT TIME ZONE 'UTC') AS DATE)"


def check_zone(tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def with_params(params: dict[str, object], **extra: object) -> dict[str, object]:
    """The filter's parameters plus ``extra`` (names must start with ``q_``)."""
    for name in extra:
        if not name.startswith("q_") or name in params:
            raise ValueError(f"bad extra parameter name {name!r}")
    return {**params, **extra}


def limit_sql(limit: int | None, params: dict[str, object]) -> tuple[str, dict[str, object]]:
    """`` LIMIT $q_limit`` and its parameter, or nothing when ``limit`` is None."""
    if limit is None:
        return "", params
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be a whole number >= 0 or None, got {limit!r}")
    return " LIMIT $q_limit", with_params(params, q_limit=limit)
