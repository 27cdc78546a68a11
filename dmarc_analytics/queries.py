"""Named read-only questions over the store. Each takes ``(con, Filter, ...)``.

Message volumes are always ``sum(count)``, never row counts; rates are weighted by count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from dmarc_analytics.filters import Filter, compile_filter, compile_report_scope
from dmarc_analytics.store import fetch_one


@dataclass(frozen=True, slots=True)
class Summary:
    reports: int
    records: int
    messages: int
    dmarc_pass_messages: int
    by_disposition: dict[str, int]
    begin: datetime | None  # earliest report begin, UTC
    end: datetime | None  # latest report end, UTC

    @property
    def dmarc_pass_rate(self) -> float | None:
        return self.dmarc_pass_messages / self.messages if self.messages else None

    def as_json(self) -> dict[str, object]:
        return {
            "reports": self.reports,
            "records": self.records,
            "messages": self.messages,
            "dmarc_pass_messages": self.dmarc_pass_messages,
            "by_disposition": self.by_disposition,
            "begin": _iso(self.begin),
            "end": _iso(self.end),
        }


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def summary(con: duckdb.DuckDBPyConnection, flt: Filter) -> Summary:
    """Totals for the filter: reports, records, messages, DMARC pass, dispositions, span."""
    where = compile_filter(flt)
    rows = con.execute(
        f"SELECT disposition, count(*), sum(count), sum(count) FILTER (WHERE dmarc_pass) "
        f"FROM records WHERE {where.sql} GROUP BY disposition",
        where.params,
    ).fetchall()
    by_disposition = {d: int(m or 0) for d, _, m, _ in sorted(rows, key=lambda r: r[0])}
    records = sum(int(r[1]) for r in rows)
    messages = sum(by_disposition.values())
    passed = sum(int(r[3] or 0) for r in rows)
    reports, begin, end = _report_span(con, flt)
    return Summary(reports, records, messages, passed, by_disposition, begin, end)


def _report_span(
    con: duckdb.DuckDBPyConnection, flt: Filter
) -> tuple[int, datetime | None, datetime | None]:
    scope = compile_report_scope(flt)
    row = fetch_one(
        con,
        f"SELECT count(*), min(begin_utc), max(end_utc) FROM reports WHERE {scope.sql}",
        scope.params,
    )
    return int(row[0]), row[1], row[2]
