"""Record-level CSV export for a filter, written by DuckDB's COPY (fast on millions of rows).

Columns (stable order, documented in README): see ``RECORD_EXPORT_COLUMNS``. DKIM results
are written as ``domain/selector=result`` and SPF results as ``scope:domain=result``, each
list joined with ``; `` in the order the report gave them. Text cells that come from report
data and begin with ``= + - @``, a tab or a carriage return get a leading ``'`` so that a
spreadsheet shows them as text instead of running them as formulas.

Speed (1M records, 282 MB): the values that belong to the report (times, reporter, policy)
are formatted once per report and joined to the records, and the BOM is part of the header
that COPY writes (the first column's name starts with it), so the file is written once and
never copied; sorting the joined rows is what remains expensive.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

import duckdb
import pandas as pd

from dmarc_analytics.errors import OutputError
from dmarc_analytics.filters import Filter, compile_filter

UTF8_BOM = b"\xef\xbb\xbf"
_TS = "strftime({}, '%Y-%m-%d %H:%M:%S')"  # in the zone the column names say; Excel reads it
# A report time in the zone ``$zone`` (bound, never written into the SQL).
_IN_ZONE = "timezone($zone, {} AT TIME ZONE 'UTC')"
_REPORT_SIDE = re.compile(r"\bp\.")  # an expression over the report (formatted once per report)

# (CSV column, SQL expression, comes from report text?); ``p.`` = reports, ``r.`` = records
RECORD_EXPORT_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("report_begin_utc", _TS.format("p.begin_utc"), False),
    ("report_end_utc", _TS.format("p.end_utc"), False),
    ("reporter", "p.reporter", True),
    ("report_id", "p.report_id", True),
    ("policy_domain", "p.policy_domain", True),
    ("policy_p", "p.effective_p", True),
    ("policy_sp", "p.effective_sp", True),
    ("policy_pct", "p.effective_pct", False),
    ("source_ip", "r.source_ip", True),
    ("count", "r.count", False),
    ("disposition", "r.disposition", True),
    ("dmarc", "CASE WHEN r.dmarc_pass THEN 'pass' ELSE 'fail' END", False),
    ("dkim_aligned", "r.dkim", True),
    ("spf_aligned", "r.spf", True),
    ("header_from", "r.header_from", True),
    ("envelope_from", "r.envelope_from", True),
    ("envelope_to", "r.envelope_to", True),
    ("override_reasons", "r.reason_types", True),
    ("dkim_results", "r.dkim_auth", True),
    ("spf_results", "r.spf_auth", True),
    ("dkim_aligned_recomputed", "r.dkim_aligned_calc", False),
    ("spf_aligned_recomputed", "r.spf_aligned_calc", False),
    ("verdict_mismatch", "r.verdict_mismatch", False),
    ("authenticated_unaligned", "r.auth_unaligned_domains", True),
)


_FORMULA_STARTS = "=+-@\t\r"


def spreadsheet_safe_sql(expression: str) -> str:
    """SQL that prefixes ``'`` to a text value a spreadsheet would treat as a formula.

    The first character is compared by its code (``ascii`` gives the code point of the
    first character): cutting a one-character string off every cell (``left``) made the
    record-level CSV of 1M records about a second slower."""
    codes = ", ".join(str(ord(char)) for char in _FORMULA_STARTS)
    return (
        f"CASE WHEN ascii({expression}) IN ({codes}) "
        f"THEN '''' || {expression} ELSE {expression} END"
    )


def spreadsheet_safe(value: object) -> object:
    """The same rule for values already in Python (page tables)."""
    if isinstance(value, str) and value and value[0] in _FORMULA_STARTS:
        return "'" + value
    return value


def export_columns(zone: str = "UTC") -> tuple[tuple[str, str, bool], ...]:
    """``RECORD_EXPORT_COLUMNS`` with the report times in ``zone``: outside UTC they are
    named after it (``report_begin_asia_tokyo``)."""
    if zone == "UTC":
        return RECORD_EXPORT_COLUMNS
    signed = re.sub(r"\+(?=\d)", "plus", re.sub(r"-(?=\d)", "minus", zone.lower()))
    slug = re.sub(r"[^a-z0-9]+", "_", signed).strip("_")  # Etc/GMT-5: etc_gmtminus5
    times = (
        (f"report_begin_{slug}", _TS.format(_IN_ZONE.format("p.begin_utc")), False),
        (f"report_end_{slug}", _TS.format(_IN_ZONE.format("p.end_utc")), False),
    )
    return times + RECORD_EXPORT_COLUMNS[2:]


def record_export_sql(
    flt: Filter, bom: bool = False, zone: str = "UTC"
) -> tuple[str, dict[str, object]]:
    """The export query: one row per matching record, in report begin, report, record order.

    With ``bom`` the first column's name starts with a UTF-8 BOM, so the CSV header that
    COPY writes makes the file start with one. Report times are written in ``zone``.
    """
    where = compile_filter(flt)
    columns = export_columns(zone)

    def cell(expr: str, text: bool) -> str:
        return spreadsheet_safe_sql(expr) if text else expr

    per_report = ", ".join(
        f"{cell(expr, text)} AS {name}"
        for name, expr, text in columns
        if _REPORT_SIDE.search(expr)
    )
    select = ", ".join(
        f"{'p.' + name if _REPORT_SIDE.search(expr) else cell(expr, text)} "
        f"AS {_header(name, bom and i == 0)}"
        for i, (name, expr, text) in enumerate(columns)
    )
    sql = (
        f"SELECT {select} FROM (SELECT * FROM records WHERE {where.sql}) r "
        f"JOIN (SELECT p.report_key, {per_report} FROM reports p) p "
        "ON p.report_key = r.report_key "
        "ORDER BY r.begin_utc, r.report_key, r.ordinal"
    )
    params = dict(where.params)
    if zone != "UTC":
        params["zone"] = zone
    return sql, params


def _header(name: str, bom: bool) -> str:
    return f'"{UTF8_BOM.decode()}{name}"' if bom else name


def export_records_csv(
    con: duckdb.DuckDBPyConnection, flt: Filter, target: Path, bom: bool = False,
    zone: str = "UTC",
) -> int:
    """Write the filtered records as CSV to ``target``; return the number of rows.

    :raises OutputError: ``target`` cannot be written (a folder, a missing or read-only
        place), named with the reason.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder (give a file name)")
    if target.exists() and not target.is_file():  # a device or a pipe (/dev/stdout, >(gzip))
        try:
            with target.open("wb") as sink:
                return export_records_to(con, flt, sink, bom, zone)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    if target.is_symlink():  # a link to a file: that file is written, the link stays
        target = target.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".export-", suffix=".csv")
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        rows = copy_records_csv(con, flt, tmp, bom, zone)
        os.replace(tmp, target)
    except (OSError, duckdb.IOException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutputError(f"cannot write {target}: {reason}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def copy_records_csv(
    con: duckdb.DuckDBPyConnection, flt: Filter, target: Path, bom: bool = False,
    zone: str = "UTC",
) -> int:
    """DuckDB's COPY of the filtered records into the file ``target``, written in place from
    its first byte on (no temporary file renamed at the end), so that a reader of the same
    file can pass on what is written while the rest is (``ui_routes``). Returns the rows."""
    sql, params = record_export_sql(flt, bom, zone)
    copied = con.execute(
        f"COPY ({sql}) TO '{_sql_string(target)}' "
        "(FORMAT csv, HEADER true, USE_TMP_FILE false)",
        params,
    ).fetchall()
    return int(copied[0][0]) if copied else 0


def export_records_to(
    con: duckdb.DuckDBPyConnection, flt: Filter, sink: BinaryIO, bom: bool = False,
    zone: str = "UTC",
) -> int:
    """``export_records_csv`` into an open stream (standard output, a device, a pipe): written
    whole to a temporary file first, as DuckDB writes only to files, then copied."""
    with tempfile.TemporaryDirectory(prefix="dmarc-export-") as folder:
        written = Path(folder) / "records.csv"
        rows = export_records_csv(con, flt, written, bom=bom, zone=zone)
        with written.open("rb") as source:
            shutil.copyfileobj(source, sink)
    return rows


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")


def frame_to_csv_bytes(df: pd.DataFrame) -> bytes:
    """A page table as CSV bytes: UTF-8 with a BOM, every text cell through ``spreadsheet_safe``."""
    safe = df.copy()
    for column in safe.columns:
        values = safe[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_numeric_dtype(values):
            continue
        if pd.api.types.is_datetime64_dtype(values):  # naive = UTC in this app; keep the time
            safe[column] = values.dt.strftime("%Y-%m-%d %H:%M:%S")
        else:
            safe[column] = values.map(spreadsheet_safe)
    text = safe.to_csv(index=False, lineterminator="\n")
    return UTF8_BOM + text.encode("utf-8")


def records_csv_bytes(con: duckdb.DuckDBPyConnection, flt: Filter, zone: str = "UTC") -> bytes:
    """The record-level CSV of the whole filter (as ``export_records_csv``, with a BOM), in
    memory."""
    with tempfile.TemporaryDirectory(prefix="dmarc-export-") as folder:
        target = Path(folder) / "records.csv"
        export_records_csv(con, flt, target, bom=True, zone=zone)
        return target.read_bytes()
