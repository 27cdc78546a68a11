"""Data management: remove reports (demo data, a date range, a policy domain) and reparse.

Removing reports also forgets the inputs that carried them, so ingesting those files again
adds the reports back instead of calling them duplicates. Removed reports stay removed
through a ``reparse`` (their identities are kept in ``purged_reports``). The ingest ledger
is history and is never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb

from dmarc_analytics.archive import archive_path, read_packed
from dmarc_analytics.config import Settings
from dmarc_analytics.errors import FilterError
from dmarc_analytics.filters import Filter, quote_value
from dmarc_analytics.outcomes import FileOutcome
from dmarc_analytics.rollups import mark_stale, refresh
from dmarc_analytics.schema import utc_now
from dmarc_analytics.sources import Blob, InputFile
from dmarc_analytics.store import (
    ARCHIVE_CHOICE,
    REPARSE_STARTED,
    bump_data_version,
    fetch_one,
    open_store,
    transaction,
)

_CHILD_TABLES = ("records", "dkim_results", "spf_results", "override_reasons", "report_issues")


def delete_reports(
    con: duckdb.DuckDBPyConnection, where: str, params: dict[str, object], remember: bool = True
) -> int:
    """Delete the reports matching ``where`` (SQL over ``reports``) and all their rows.

    With ``remember`` (a user removing reports) their identities go to ``purged_reports``,
    so that a reparse does not bring them back.
    """
    with transaction(con):
        con.execute(
            f"CREATE TEMP TABLE doomed AS SELECT report_key, input_sha256 FROM reports "
            f"WHERE {where}",
            params,
        )
        try:
            count = int(fetch_one(con, "SELECT count(*) FROM doomed")[0])
            mark_stale(con, "report_key IN (SELECT report_key FROM doomed)", {})
            if remember:
                con.execute(
                    "INSERT OR IGNORE INTO purged_reports SELECT identity, $now FROM reports "
                    "WHERE report_key IN (SELECT report_key FROM doomed) AND NOT demo",
                    {"now": utc_now()},
                )
            for table in _CHILD_TABLES:
                con.execute(
                    f"DELETE FROM {table} WHERE report_key IN (SELECT report_key FROM doomed)"
                )
            con.execute(
                "DELETE FROM inputs WHERE sha256 IN (SELECT input_sha256 FROM doomed) OR sha256 IN "
                "(SELECT l.sha256 FROM ingest_ledger l JOIN ingest_parts p USING (ledger_id) "
                "WHERE p.report_key IN (SELECT report_key FROM doomed))"
            )
            con.execute(
                "DELETE FROM conflicts WHERE kept_report_key IN (SELECT report_key FROM doomed)"
            )
            con.execute("DELETE FROM reports WHERE report_key IN (SELECT report_key FROM doomed)")
        finally:
            con.execute("DROP TABLE doomed")
        bump_data_version(con)
    refresh(con)
    return count


def purge(
    settings: Settings,
    since: date | str | None = None,
    until: date | str | None = None,
    policy_domain: str | list[str] | tuple[str, ...] | None = None,
    demo: bool = False,
) -> int:
    """Remove reports by UTC day of begin, policy domain, or the demo flag (all that apply).

    ``policy_domain`` is one domain or a list of them, each taken whole (a stored domain may
    hold a comma); they are normalised as the shared filter does (case, trailing dot,
    Unicode or ASCII form), and dates are checked as it checks them.
    """
    domains = [policy_domain] if isinstance(policy_domain, str) else list(policy_domain or [])
    if domains and not any(d.strip() for d in domains):
        raise FilterError.worded("filter_error.no_domain")
    params: dict[str, object] = {
        "since": None if since is None else str(since),
        "until": None if until is None else str(until),
        "policy_domain": [quote_value(d.strip()) for d in domains if d.strip()] or None,
    }
    flt = Filter.from_params({name: value for name, value in params.items() if value})
    clauses, bound = [], {}
    if flt.since is not None:
        clauses.append("day >= $since")
        bound["since"] = flt.since
    if flt.until is not None:
        clauses.append("day <= $until")
        bound["until"] = flt.until
    if flt.policy_domain:
        clauses.append("policy_domain IN (SELECT unnest($domains))")
        bound["domains"] = list(flt.policy_domain)
    if demo:
        clauses.append("demo")
    if not clauses:
        raise FilterError.worded("filter_error.purge_needs_condition")
    with open_store(settings.db, timeout=settings.lock_timeout, must_exist=True) as con:
        count = delete_reports(con, " AND ".join(clauses), bound)
        if demo and len(clauses) == 1:
            _forget_demo_inputs(con)
        return count


def _forget_demo_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """The demo dataset's ledger lines: generated inputs, not a user's, gone with the data."""
    with transaction(con):
        con.execute(
            "DELETE FROM ingest_parts WHERE ledger_id IN "
            "(SELECT ledger_id FROM ingest_ledger WHERE via = 'demo')"
        )
        con.execute("DELETE FROM ingest_ledger WHERE via = 'demo'")
        bump_data_version(con)


# Originals read from packs per page during a reparse: bounded memory.
PAGE_FILES, PAGE_BYTES = 2_000, 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Archived:
    sha256: str
    name: str  # the name it was first ingested under
    size: int
    path: Path | None  # a file of its own, else packed:
    packed: tuple[str, int] | None = None  # (pack, position)


def archived_inputs(settings: Settings) -> list[Archived]:
    """Every distinct input in the ledger whose original can be read back, oldest first.

    Each original is read and checked against its digest here, before a reparse touches
    the tables: an input whose original is missing or damaged keeps its reports as they
    are. The demo dataset is left out: it is generated, not given, and is not archived.
    """
    from dmarc_analytics.recognise import file_sha256

    folder = settings.archive_folder
    with open_store(settings.db, timeout=settings.lock_timeout) as con:
        rows = con.execute(
            "SELECT l.sha256, arg_min(l.name, l.ledger_id), any_value(o.size), "
            "any_value(o.pack), any_value(o.position) FROM ingest_ledger l "
            "LEFT JOIN originals o USING (sha256) WHERE l.sha256 <> '' GROUP BY l.sha256 "
            "HAVING bool_or(l.via <> 'demo') ORDER BY min(l.ledger_id)"
        ).fetchall()
    found = []
    for sha256, name, size, pack, position in rows:
        if pack is not None:
            try:
                read_packed(folder, pack, position, size, sha256)
            except (OSError, ValueError):
                continue
            found.append(Archived(sha256, name, size, None, (pack, position)))
            continue
        path = archive_path(folder, sha256)
        if path.is_file() and file_sha256(path) == sha256:
            found.append(Archived(sha256, name, path.stat().st_size, path))
    return found


def _pages(settings: Settings, archived: list[Archived]) -> Iterator[list[InputFile | Blob]]:
    """The originals in ledger order, a page at a time; packed ones read per page."""
    page: list[Archived] = []
    size = 0
    for entry in archived:
        page.append(entry)
        size += entry.size if entry.packed is not None else 0
        if len(page) >= PAGE_FILES or size >= PAGE_BYTES:
            yield _load(settings, page)
            page, size = [], 0
    if page:
        yield _load(settings, page)


def _load(settings: Settings, page: list[Archived]) -> list[InputFile | Blob]:
    items: list[InputFile | Blob] = []
    for entry in page:
        if entry.path is not None:
            items.append(InputFile(entry.path, entry.name))
            continue
        assert entry.packed is not None
        # Read and checked by ``archived_inputs`` moments ago; failing now is a fault.
        data = read_packed(settings.archive_folder, *entry.packed, entry.size, entry.sha256)
        items.append(Blob(entry.name, data))
    return items


@dataclass(frozen=True, slots=True)
class Reparsed:
    outcomes: list[FileOutcome]  # one per original read again (empty with ``keep_outcomes``)
    kept: int  # reports left as they were: their input has no readable original
    kept_inputs: tuple[str, ...]  # the names those inputs were ingested under (up to 5)
    kept_input_count: int = 0  # how many inputs they came from


def reparse(
    settings: Settings,
    on_outcome: Callable[[FileOutcome], None] | None = None,
    keep_outcomes: bool = True,
) -> Reparsed:
    """Rebuild the reports of every archived original by ingesting the originals again.

    Only reports whose original can be read back are removed and rebuilt; the others (an
    input ingested with archiving off, an archive moved away) stay as they are and are
    counted in ``Reparsed.kept``. Reports removed earlier (``purge``) are removed again at
    the end, so that they stay removed (``purged_count`` tells how many).
    """
    from dmarc_analytics.pipeline import Ingestor

    archived = archived_inputs(settings)
    with open_store(settings.db, timeout=settings.lock_timeout) as con:
        con.execute("CREATE TEMP TABLE reread (sha256 VARCHAR)")
        try:
            con.execute(
                "INSERT INTO reread SELECT unnest($shas)", {"shas": [a.sha256 for a in archived]}
            )
            kept = con.execute(
                # names from the ledger: a purge forgets an input in ``inputs``
                "SELECT count(*), list(DISTINCT i.name ORDER BY i.name)[:5], "
                "count(DISTINCT r.input_sha256) FROM reports r LEFT JOIN ("
                "SELECT sha256, arg_min(name, ledger_id) AS name FROM ingest_ledger "
                "GROUP BY sha256) i ON i.sha256 = r.input_sha256 "
                "WHERE NOT r.demo AND r.input_sha256 NOT IN (SELECT sha256 FROM reread)"
            ).fetchall()[0]
            con.execute(  # cleared at the end: a stopped reparse leaves reports missing
                "INSERT OR REPLACE INTO state VALUES ($key, epoch(now())::BIGINT)",
                {"key": REPARSE_STARTED},
            )
            delete_reports(
                con, "input_sha256 IN (SELECT sha256 FROM reread)", {}, remember=False
            )
            with transaction(con):  # their files are read again: conflicts are found again
                con.execute("DELETE FROM conflicts WHERE input_sha256 IN (SELECT * FROM reread)")
                con.execute("DELETE FROM inputs WHERE sha256 IN (SELECT sha256 FROM reread)")
                bump_data_version(con)
        finally:
            con.execute("DROP TABLE reread")
    # The originals are already archived; writing them again would only cost time.
    ingestor = Ingestor(
        replace(settings, archive=False), via="reparse", on_outcome=on_outcome,
        keep_outcomes=keep_outcomes,
    )  # fmt: skip
    outcomes = ingestor.ingest_pages(_pages(settings, archived))
    with open_store(settings.db, timeout=settings.lock_timeout) as con:
        delete_reports(con, "identity IN (SELECT identity FROM purged_reports)", {})
        con.execute("DELETE FROM state WHERE key = $key", {"key": REPARSE_STARTED})
    names = tuple(name for name in kept[1] or () if name)
    return Reparsed(outcomes, int(kept[0]), names, int(kept[2]))


def set_archive_switch(settings: Settings, keep: bool) -> None:
    """Store the app's archive choice with the database, for every writer to follow
    (``store.keeps_originals``); the data version moves, so cached answers are read again."""
    with open_store(settings.db, timeout=settings.lock_timeout) as con, transaction(con):
        con.execute(
            "INSERT OR REPLACE INTO state VALUES ($key, $value)",
            {"key": ARCHIVE_CHOICE, "value": int(keep)},
        )
        bump_data_version(con)


def purged_count(settings: Settings) -> int:
    """How many removed reports are kept out of the tables (also through a reparse)."""
    with open_store(settings.db, read_only=True, timeout=settings.lock_timeout) as con:
        return int(fetch_one(con, "SELECT count(*) FROM purged_reports")[0])
