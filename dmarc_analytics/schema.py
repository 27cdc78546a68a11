"""The database schema as an ordered list of named migrations.

``ensure_schema`` applies the ones not yet recorded in ``_migrations``, each in its own
transaction, and is safe to call on every start. Times are TIMESTAMP columns holding UTC.
Big tables have no primary key on purpose: DuckDB maintains an index for each key, which
slows bulk inserts; the store guarantees uniqueness itself (one writer per batch, under the
database lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dmarc_analytics.errors import SchemaError

if TYPE_CHECKING:  # imported where a database is opened (see store)
    import duckdb


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str


# Rollups (see ``rollups``): pre-summed records for the page questions that would otherwise
# scan every record. Each holds only whole calendar months (of the report's UTC day) that
# ``rollup_months`` calls fresh; writers mark the months they touch stale in the same
# transaction, and ``rollups.refresh`` rebuilds those months from ``records``.
ROLLUP_DAY_KEYS = (
    "day, begin_utc, reporter, policy_domain, header_from, disposition, dkim, spf, dmarc_pass"
)
ROLLUP_REPORT_KEYS = (
    "day, report_key, reporter, policy_domain, header_from, disposition, dkim, spf, dmarc_pass"
)
# Messages whose receiver verdict disagrees with our recomputation (``verdict_mismatch``).
MISMATCH = "CASE WHEN verdict_mismatch THEN count ELSE 0 END"
ROLLUP_IP_KEYS = (
    "reporter, policy_domain, header_from, source_ip, ip_version, ip_num, disposition, dkim, "
    "spf, dmarc_pass"
)
_MONTH = "CAST(date_trunc('month', day) AS DATE)"
# The records matching {where} with an override reason, each once per distinct (type,
# comment) of its reasons, as ``insights.override_reasons`` counts them.
RECORD_OVERRIDES = f"""
    SELECT DISTINCT r.*, o.type, nullif(o.comment, '') AS comment
    FROM (SELECT report_key, ordinal, day, count, {ROLLUP_IP_KEYS} FROM records
          WHERE reason_types IS NOT NULL AND ({{where}})) r
    JOIN override_reasons o ON o.report_key = r.report_key AND o.record_ordinal = r.ordinal"""
# The records matching {where} authenticated for a domain not aligned with header_from,
# each once per distinct (mechanism, domain) in its ``auth_unaligned_domains``.
RECORD_UNALIGNED = f"""
    SELECT {ROLLUP_IP_KEYS}, day, count, split_part(pair, ':', 1) AS mechanism,
           substr(pair, strpos(pair, ':') + 1) AS domain
    FROM (SELECT {ROLLUP_IP_KEYS}, day, count,
                 unnest(list_distinct(string_split(auth_unaligned_domains, '; '))) AS pair
          FROM records WHERE auth_unaligned AND ({{where}}))"""
ROLLUP_BUILDS = {
    "rollup_days": f"""
        INSERT INTO rollup_days
        SELECT {ROLLUP_DAY_KEYS}, count(*), sum(count), sum({MISMATCH}) FROM records
        WHERE {{where}} GROUP BY ALL ORDER BY day""",
    "rollup_reports": f"""
        INSERT INTO rollup_reports
        SELECT {ROLLUP_REPORT_KEYS}, count(*) FROM records WHERE {{where}}
        GROUP BY ALL ORDER BY report_key""",
    "rollup_ip_months": f"""
        INSERT INTO rollup_ip_months
        SELECT {_MONTH}, {ROLLUP_IP_KEYS}, count(*), sum(count), min(begin_utc), max(begin_utc)
        FROM records WHERE {{where}} GROUP BY ALL ORDER BY 1""",
    "rollup_unaligned_months": f"""
        INSERT INTO rollup_unaligned_months
        SELECT {_MONTH}, {ROLLUP_IP_KEYS}, mechanism, domain, count(*), sum(count)
        FROM ({RECORD_UNALIGNED}) GROUP BY ALL ORDER BY 1""",
    "rollup_override_months": f"""
        INSERT INTO rollup_override_months
        SELECT {_MONTH}, {ROLLUP_IP_KEYS}, type, comment, count(*), sum(count)
        FROM ({RECORD_OVERRIDES}) GROUP BY ALL ORDER BY 1""",
}
_ROLLUP_TABLES = """
    CREATE TABLE rollup_days (
        day DATE NOT NULL, begin_utc TIMESTAMP NOT NULL, reporter VARCHAR NOT NULL,
        policy_domain VARCHAR NOT NULL, header_from VARCHAR, disposition VARCHAR NOT NULL,
        dkim VARCHAR, spf VARCHAR, dmarc_pass BOOLEAN NOT NULL,
        records BIGINT NOT NULL, count BIGINT NOT NULL, mismatch BIGINT NOT NULL
    );
    CREATE TABLE rollup_reports (  -- which reports have records matching a filter
        day DATE NOT NULL, report_key BIGINT NOT NULL, reporter VARCHAR NOT NULL,
        policy_domain VARCHAR NOT NULL, header_from VARCHAR, disposition VARCHAR NOT NULL,
        dkim VARCHAR, spf VARCHAR, dmarc_pass BOOLEAN NOT NULL, records BIGINT NOT NULL
    );
    CREATE TABLE rollup_ip_months (
        day DATE NOT NULL,  -- the first day of the month, so date filters read as on records
        reporter VARCHAR NOT NULL, policy_domain VARCHAR NOT NULL, header_from VARCHAR,
        source_ip VARCHAR NOT NULL, ip_version TINYINT, ip_num UHUGEINT,
        disposition VARCHAR NOT NULL, dkim VARCHAR, spf VARCHAR, dmarc_pass BOOLEAN NOT NULL,
        records BIGINT NOT NULL, count BIGINT NOT NULL,
        first_begin TIMESTAMP NOT NULL, last_begin TIMESTAMP NOT NULL
    );
    CREATE TABLE rollup_unaligned_months (  -- records authenticated for unaligned domains,
                                            -- per (mechanism, domain)
        day DATE NOT NULL,
        reporter VARCHAR NOT NULL, policy_domain VARCHAR NOT NULL, header_from VARCHAR,
        source_ip VARCHAR NOT NULL, ip_version TINYINT, ip_num UHUGEINT,
        disposition VARCHAR NOT NULL, dkim VARCHAR, spf VARCHAR, dmarc_pass BOOLEAN NOT NULL,
        mechanism VARCHAR NOT NULL, domain VARCHAR NOT NULL,
        records BIGINT NOT NULL, count BIGINT NOT NULL
    );
    CREATE TABLE rollup_override_months (  -- records with override reasons, per reason
        day DATE NOT NULL,
        reporter VARCHAR NOT NULL, policy_domain VARCHAR NOT NULL, header_from VARCHAR,
        source_ip VARCHAR NOT NULL, ip_version TINYINT, ip_num UHUGEINT,
        disposition VARCHAR NOT NULL, dkim VARCHAR, spf VARCHAR, dmarc_pass BOOLEAN NOT NULL,
        type VARCHAR NOT NULL, comment VARCHAR, records BIGINT NOT NULL, count BIGINT NOT NULL
    );
    CREATE TABLE rollup_months (month DATE PRIMARY KEY, fresh BOOLEAN NOT NULL);
    INSERT INTO rollup_months
        SELECT DISTINCT CAST(date_trunc('month', day) AS DATE), true FROM records;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "001_reports",
        """
        CREATE TABLE reports (
            report_key BIGINT PRIMARY KEY,
            identity VARCHAR NOT NULL UNIQUE,
            content_sha256 VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            version VARCHAR,
            org_name VARCHAR NOT NULL,
            reporter VARCHAR NOT NULL,
            email VARCHAR,
            extra_contact_info VARCHAR,
            report_id VARCHAR NOT NULL,
            begin_utc TIMESTAMP NOT NULL,
            end_utc TIMESTAMP NOT NULL,
            day DATE NOT NULL,
            generator VARCHAR,
            errors VARCHAR[],
            policy_domain VARCHAR NOT NULL,
            p VARCHAR, sp VARCHAR, np VARCHAR, pct INTEGER,
            adkim VARCHAR, aspf VARCHAR, fo VARCHAR, testing VARCHAR, discovery_method VARCHAR,
            effective_p VARCHAR NOT NULL, effective_sp VARCHAR NOT NULL,
            effective_np VARCHAR NOT NULL, effective_pct INTEGER NOT NULL,
            effective_adkim VARCHAR NOT NULL, effective_aspf VARCHAR NOT NULL,
            records INTEGER NOT NULL,
            messages BIGINT NOT NULL,
            partial BOOLEAN NOT NULL,
            multi_day BOOLEAN NOT NULL,
            issue_count INTEGER NOT NULL,
            input_sha256 VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,
            demo BOOLEAN NOT NULL DEFAULT false,
            ingested_at TIMESTAMP NOT NULL
        );
        CREATE TABLE records (
            report_key BIGINT NOT NULL,
            ordinal INTEGER NOT NULL,
            begin_utc TIMESTAMP NOT NULL,
            day DATE NOT NULL,
            reporter VARCHAR NOT NULL,
            policy_domain VARCHAR NOT NULL,
            source_ip VARCHAR NOT NULL,
            ip_version TINYINT,
            ip_num UHUGEINT,
            count BIGINT NOT NULL,
            disposition VARCHAR NOT NULL,
            dkim VARCHAR,
            spf VARCHAR,
            dmarc_pass BOOLEAN NOT NULL,
            header_from VARCHAR,
            envelope_from VARCHAR,
            envelope_to VARCHAR,
            reason_types VARCHAR,
            dkim_auth VARCHAR,
            spf_auth VARCHAR,
            dkim_aligned_calc BOOLEAN,
            spf_aligned_calc BOOLEAN,
            verdict_mismatch BOOLEAN,
            auth_unaligned BOOLEAN NOT NULL,
            auth_unaligned_domains VARCHAR
        );
        CREATE TABLE dkim_results (
            report_key BIGINT NOT NULL, record_ordinal INTEGER NOT NULL, ordinal INTEGER NOT NULL,
            domain VARCHAR, selector VARCHAR, result VARCHAR NOT NULL, human_result VARCHAR,
            aligned BOOLEAN
        );
        CREATE TABLE spf_results (
            report_key BIGINT NOT NULL, record_ordinal INTEGER NOT NULL, ordinal INTEGER NOT NULL,
            domain VARCHAR, scope VARCHAR, result VARCHAR NOT NULL, human_result VARCHAR,
            aligned BOOLEAN
        );
        CREATE TABLE override_reasons (
            report_key BIGINT NOT NULL, record_ordinal INTEGER NOT NULL, ordinal INTEGER NOT NULL,
            type VARCHAR NOT NULL, comment VARCHAR
        );
        CREATE TABLE report_issues (
            report_key BIGINT NOT NULL, ordinal INTEGER NOT NULL,
            code VARCHAR NOT NULL, severity VARCHAR NOT NULL, message VARCHAR NOT NULL,
            path VARCHAR
        );
        """,
    ),
    Migration(
        "002_ingest_ledger",
        """
        CREATE TABLE ingest_ledger (
            ledger_id BIGINT PRIMARY KEY,
            ingested_at TIMESTAMP NOT NULL,
            via VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            size BIGINT NOT NULL,
            outcome VARCHAR NOT NULL,
            reason VARCHAR,
            reports INTEGER NOT NULL,
            records BIGINT NOT NULL,
            messages BIGINT NOT NULL,
            duplicates INTEGER NOT NULL,
            conflicts INTEGER NOT NULL,
            partial INTEGER NOT NULL,
            rejected_parts INTEGER NOT NULL
        );
        CREATE TABLE ingest_parts (
            ledger_id BIGINT NOT NULL,
            ordinal INTEGER NOT NULL,
            origin VARCHAR NOT NULL,
            outcome VARCHAR NOT NULL,
            kind VARCHAR,
            reason VARCHAR,
            report_key BIGINT
        );
        CREATE TABLE conflicts (
            identity VARCHAR NOT NULL,
            kept_report_key BIGINT NOT NULL,
            content_sha256 VARCHAR NOT NULL,
            input_sha256 VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,
            ledger_id BIGINT NOT NULL,
            detected_at TIMESTAMP NOT NULL
        );
        CREATE TABLE inputs (
            sha256 VARCHAR PRIMARY KEY,
            size BIGINT NOT NULL,
            reports INTEGER NOT NULL,
            rejected_parts INTEGER NOT NULL,
            first_name VARCHAR NOT NULL,
            first_seen TIMESTAMP NOT NULL
        );
        CREATE TABLE state (key VARCHAR PRIMARY KEY, value BIGINT NOT NULL);
        INSERT INTO state VALUES ('data_version', 0);
        """,
    ),
    Migration(
        "003_purged_reports",
        # Reports a user removed: ``reparse`` must not bring them back from the archive.
        # Ingesting such a report again (not by reparse) takes it off this list.
        """
        CREATE TABLE purged_reports (
            identity VARCHAR PRIMARY KEY,
            purged_at TIMESTAMP NOT NULL
        );
        """,
    ),
    Migration(
        "004_originals",
        # Where each packed original is (archive.py); larger ones are files of their own.
        """
        CREATE TABLE originals (
            sha256 VARCHAR PRIMARY KEY,
            size BIGINT NOT NULL,
            pack VARCHAR NOT NULL,
            position BIGINT NOT NULL,
            stored_at TIMESTAMP NOT NULL
        );
        """,
    ),
    Migration(
        "005_rollups",
        _ROLLUP_TABLES + ";".join(sql.format(where="TRUE") for sql in ROLLUP_BUILDS.values()),
    ),
    Migration(
        "006_file_stats",
        # The signature (size, times, inode, device) and digest of each file read from
        # disk, so a folder given again is recognised without reading its files
        # (store.file_stats).
        """
        CREATE TABLE file_stats (
            path BLOB NOT NULL,  -- the file system's bytes: a name need not be UTF-8
            size BIGINT NOT NULL,
            mtime_ns BIGINT NOT NULL,
            ctime_ns BIGINT NOT NULL,
            inode UBIGINT NOT NULL,
            device UBIGINT NOT NULL,
            sha256 VARCHAR NOT NULL
        );
        """,
    ),
    Migration(
        "007_ledger_reports_added",
        # ``reports`` on a ledger line counted the reports found in the input; it now counts
        # those it added, beside ``duplicates`` and ``conflicts`` (found = the three).
        "UPDATE ingest_ledger SET reports = reports - duplicates - conflicts "
        "WHERE reports >= duplicates + conflicts",
    ),
)


def utc_now() -> datetime:
    """Now in UTC as a naive datetime, the form stored in TIMESTAMP columns."""
    return datetime.now(UTC).replace(tzinfo=None)


def migrations_to_apply(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The names of the migrations ``ensure_schema`` would apply now, in order."""
    tables = con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = '_migrations' AND NOT temporary"
    ).fetchall()
    applied = (
        {name for (name,) in con.execute("SELECT name FROM _migrations").fetchall()}
        if tables
        else set()
    )
    return [m.name for m in MIGRATIONS if m.name not in applied]


def ensure_schema(
    con: duckdb.DuckDBPyConnection, notice: Callable[[list[str]], None] | None = None
) -> int:
    """Apply pending migrations (calling ``notice`` with their names first when the
    database had some already: an upgrade); return the number of migrations now applied.

    :raises SchemaError: if the database knows migrations this version does not.
    """
    from dmarc_analytics.store import engine  # store imports this module

    duckdb = engine()

    con.execute(
        "CREATE TABLE IF NOT EXISTS _migrations "
        "(id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    applied = {name for (name,) in con.execute("SELECT name FROM _migrations").fetchall()}
    known = {m.name for m in MIGRATIONS}
    unknown = sorted(applied - known)
    if unknown:
        raise SchemaError(
            f"database was written by a newer version (migrations {', '.join(unknown)}); "
            "upgrade dmarc-analytics"
        )
    pending = [m.name for m in MIGRATIONS if m.name not in applied]
    if pending and applied and notice is not None:  # a new file is not an upgrade
        notice(pending)
    for index, migration in enumerate(MIGRATIONS, start=1):
        if migration.name in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO _migrations VALUES ($id, $name, $at)",
                {"id": index, "name": migration.name, "at": utc_now()},
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise SchemaError(f"migration {migration.name} failed: {exc}") from exc
    return len(MIGRATIONS)


def applied_migrations(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str]]:
    """The recorded migrations, oldest first, as (id, name, applied_at ISO)."""
    rows = con.execute("SELECT id, name, applied_at FROM _migrations ORDER BY id").fetchall()
    return [(i, n, at.isoformat()) for i, n, at in rows]
