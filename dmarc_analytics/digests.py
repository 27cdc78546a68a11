"""Digests of what a report says, as opposed to how its XML was written.

Two copies of one report whose bytes differ only in layout, line endings, comments,
namespace prefixes or the order of its records say the same, so the writer counts the
second as a duplicate and not a conflict. The digests are computed only for reports whose
identity comes back with other bytes, a few queries per batch however many there are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmarc_analytics.columns import TABLES
from dmarc_analytics.outcomes import ChunkResult
from dmarc_analytics.store import arrow_ready

if TYPE_CHECKING:  # opened by the store, which imports it at first use
    import duckdb

# The org name and report ID are left out: the reports compared share their identity, in
# which both are normalised (case, spaces, <...>), and a report sent again as "acme corp"
# instead of "Acme Corp" says the same.
_HEAD_COLUMNS = (
    "email", "extra_contact_info", "begin_utc", "end_utc", "generator", "errors",
    "policy_domain", "p", "sp", "np", "pct", "adkim", "aspf", "fo", "testing",
    "discovery_method",
)  # fmt: skip
_RECORD_COLUMNS = ("source_ip", "count", "disposition", "dkim", "spf", "header_from",
                   "envelope_from", "envelope_to")  # fmt: skip
_AUTH_COLUMNS = {
    "dkim_results": ("domain", "selector", "result", "human_result"),
    "spf_results": ("domain", "scope", "result", "human_result"),
    "override_reasons": ("type", "comment"),
}


def digest_text(columns: tuple[str, ...], alias: str) -> str:
    """One text per row from which the values can be read back: each is its length, a colon
    and itself, or "-" for NULL (report data may hold any character, separators included);
    timestamps in one spelling whatever their stored unit."""
    parts = []
    for column in columns:
        value = f"{alias}.{column}"
        if column in ("begin_utc", "end_utc"):
            value = f"CAST({value} AS TIMESTAMP)"
        value = f"CAST({value} AS VARCHAR)"
        parts.append(f"coalesce(length({value}) || ':' || {value}, '-')")
    return " || chr(31) || ".join(parts)


def _digest_sql(sources: dict[str, str], key: str) -> str:
    """Per report ``key``: SHA-256 of its head and of its records, each with its auth
    results and override reasons (in report order), sorted. ``$keys`` lists the reports."""
    auth = []
    for table, columns in _AUTH_COLUMNS.items():
        auth.append(
            f"(SELECT string_agg({digest_text(columns, 'a')}, chr(30) ORDER BY a.ordinal) "
            f"FROM {sources[table]} a WHERE a.{key} = r.{key} "
            f"AND a.record_ordinal = r.ordinal)"
        )
    record = " || chr(29) || ".join(
        [digest_text(_RECORD_COLUMNS, "r"), *(f"coalesce({a}, '')" for a in auth)]
    )
    return f"""
        WITH keys AS (SELECT unnest($keys) AS k),
        per_record AS (
            SELECT r.{key} AS k, {record} AS line
            FROM {sources["records"]} r WHERE r.{key} IN (SELECT k FROM keys)
        ),
        records_digest AS (
            SELECT k, sha256(string_agg(line, chr(28) ORDER BY line)) AS d
            FROM per_record GROUP BY k
        )
        SELECT h.{key}, sha256({digest_text(_HEAD_COLUMNS, "h")}), rd.d
        FROM {sources["reports"]} h LEFT JOIN records_digest rd ON rd.k = h.{key}
        WHERE h.{key} IN (SELECT k FROM keys)
    """


class Digests:
    """Digests of what the reports say, for the reports of a batch that might be the same
    data as a known report, and for those known reports."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, chunks: list[ChunkResult], seen: dict[str, tuple]
    ) -> None:
        self.values: dict[tuple, tuple] = {}
        stored: set[int] = set()
        wanted: dict[int, set[int]] = {}
        first: dict[str, tuple] = {}  # identity → (content, chunk, index, partial)
        for number, chunk in enumerate(chunks):
            for part in (p for f in chunk.files for p in f.parts if p.report is not None):
                report = part.report
                known = seen.get(report.identity)
                if known is not None:  # in the database
                    if known[1] != report.content_sha256 and not (known[2] or report.partial):
                        stored.add(known[0])
                        wanted.setdefault(number, set()).add(report.index)
                    continue
                here = (report.content_sha256, number, report.index, report.partial)
                earlier = first.setdefault(report.identity, here)
                if earlier[0] != report.content_sha256 and not (earlier[3] or report.partial):
                    wanted.setdefault(earlier[1], set()).add(earlier[2])
                    wanted.setdefault(number, set()).add(report.index)
        if stored:
            self._read(con, {t: t for t in TABLES}, "report_key", sorted(stored), "db")
        if wanted:
            arrow_ready()
        for number, indexes in wanted.items():
            views = {table: f"_digest_{table}" for table in TABLES}
            for table, view in views.items():
                con.register(view, chunks[number].tables[table])
            try:
                self._read(con, views, "report_index", sorted(indexes), number)
            finally:
                for view in views.values():
                    con.unregister(view)

    def _read(
        self, con: duckdb.DuckDBPyConnection, sources: dict[str, str], key: str,
        keys: list[int], where: object,
    ) -> None:  # fmt: skip
        rows = con.execute(_digest_sql(sources, key), {"keys": keys}).fetchall()
        for number, head, records in rows:
            self.values[(where, number)] = (head, records)

    def same(self, known: tuple, number: int, index: int) -> bool:
        """Whether report ``index`` of chunk ``number`` says what ``known`` (a value of
        ``seen``) says. A partial report is never taken for a complete one."""
        location = ("db", known[0]) if known[3] is None else known[3]
        digest = self.values.get(location)
        return digest is not None and digest == self.values.get((number, index))
