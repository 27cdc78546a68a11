"""Turn parsed reports into Arrow tables, ready for one bulk insert per batch.

This runs in the parse workers: a chunk of inputs becomes one set of column-oriented Arrow
tables, which cross the process boundary as buffers (cheap) instead of millions of Python
objects (slow to pickle). Rows carry ``report_index`` (the report's position in the chunk);
the writer maps it to a ``report_key`` and drops rows of duplicate or conflicting reports.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import sys
from typing import TYPE_CHECKING

from dmarc_analytics.alignment import align
from dmarc_analytics.columns import TABLES
from dmarc_analytics.model import AggregateReport, Record, ReportMetadata
from dmarc_analytics.outcomes import ReportMeta

if TYPE_CHECKING:  # imported where tables are built or written
    import pyarrow as pa

SECONDS_PER_DAY = 86400


@functools.cache
def arrow_types() -> dict[str, pa.DataType]:
    """Column types other than string.

    pyarrow is imported on first use: a re-ingest of known files builds no table and so
    never pays for importing it.
    """
    import pyarrow as pa

    return {
        "report_index": pa.int64(), "ordinal": pa.int32(), "record_ordinal": pa.int32(),
        "begin_utc": pa.timestamp("s"), "end_utc": pa.timestamp("s"), "day": pa.date32(),
        "ip_version": pa.int8(), "count": pa.int64(), "messages": pa.int64(),
        "records": pa.int32(), "pct": pa.int32(), "effective_pct": pa.int32(),
        "issue_count": pa.int32(), "errors": pa.list_(pa.string()), "dmarc_pass": pa.bool_(),
        "partial": pa.bool_(), "multi_day": pa.bool_(), "aligned": pa.bool_(),
        "dkim_aligned_calc": pa.bool_(), "spf_aligned_calc": pa.bool_(),
        "verdict_mismatch": pa.bool_(), "auth_unaligned": pa.bool_(),
    }  # fmt: skip


def preload_arrow() -> None:
    """Build a first Arrow array, so that processes forked after this inherit what it loads.

    The first ``pa.array`` of a process looks for pandas once, to tell whether it was given
    a pandas object, and importing pandas then costs 0.14 s before any worker can start.
    Tables are only ever built here from lists, so where pandas is not loaded yet that look
    is made to fail fast: pyarrow remembers there is no pandas for that check alone, and
    whatever asks pyarrow for pandas later (``to_pandas``) imports it then.
    """
    import pyarrow as pa

    if "pandas" in sys.modules:
        pa.array([0], type=pa.int64())
        return
    finder = _NoPandasForArrow()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0], type=pa.int64())
    finally:
        sys.meta_path.remove(finder)


class _NoPandasForArrow:
    """An import finder that fails the import of pandas (see ``preload_arrow``)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ImportError("pandas is not needed to build Arrow tables from lists")


def reporter_name(metadata: ReportMetadata) -> str:
    """The name shown for the reporting organisation (org_name, else the e-mail domain)."""
    name = metadata.org_name.strip()
    if name:
        return name
    email = metadata.email or ""
    return email.rpartition("@")[2].strip() or "(unnamed reporter)"


def identity_digest(report: AggregateReport) -> str:
    return hashlib.sha256(report.identity.key.encode("utf-8")).hexdigest()


# A pure function of its key, so shared by every builder of the process: one builder per
# chunk of inputs missed about a quarter of the time on a realistic corpus.
_AUTH_CACHE: dict[tuple, tuple] = {}


class TableBuilder:
    """Collects the rows of many reports; ``tables()`` makes the Arrow tables."""

    def __init__(self) -> None:
        # Rows are kept as tuples and transposed once in ``tables()``: far cheaper than
        # appending to one list per column for every value.
        self.rows: dict[str, list[tuple]] = {name: [] for name in TABLES}
        self.count = 0

    def add(
        self, report: AggregateReport, content_sha256: str, input_sha256: str, origin: str
    ) -> ReportMeta:
        index = self.count
        messages = self._add_records(index, report)
        return self.add_report(
            index, report, len(report.records), messages, content_sha256, input_sha256, origin
        )

    def add_report(
        self, index: int, report: AggregateReport, records: int, messages: int,
        content_sha256: str, input_sha256: str, origin: str,
    ) -> ReportMeta:  # fmt: skip
        """Add the report's own row and its issues, after its records were added."""
        if index != self.count:
            raise ValueError(f"report index {index} out of turn (expected {self.count})")
        self.count += 1
        self._add_issues(index, report)
        meta = ReportMeta(
            index, identity_digest(report), content_sha256, records, messages, report.partial
        )
        self._add_report_row(index, report, meta, input_sha256, origin)
        return meta

    def mark(self) -> tuple[int, dict[str, int]]:
        """Where the builder stands now, for ``rollback``."""
        return self.count, {name: len(rows) for name, rows in self.rows.items()}

    def rollback(self, mark: tuple[int, dict[str, int]]) -> None:
        """Drop every report and row added since ``mark``."""
        count, lengths = mark
        self.count = count
        for name, rows in self.rows.items():
            del rows[lengths[name] :]

    def tables(self) -> dict[str, pa.Table]:
        return {name: _arrow_table(TABLES[name], rows) for name, rows in self.rows.items()}

    def _add_report_row(
        self, index: int, report: AggregateReport, meta: ReportMeta, input_sha256: str,
        origin: str,
    ) -> None:  # fmt: skip
        m, p = report.metadata, report.policy
        values = (
            index, meta.identity, meta.content_sha256, str(report.format), report.version,
            m.org_name, reporter_name(m), m.email, m.extra_contact_info, m.report_id,
            m.begin, m.end, m.begin // SECONDS_PER_DAY, m.generator, list(m.errors), p.domain,
            p.p, p.sp, p.np, p.pct, p.adkim, p.aspf, p.fo, p.testing, p.discovery_method,
            p.effective_p, p.effective_sp, p.effective_np, p.effective_pct,
            str(p.effective_adkim), str(p.effective_aspf), meta.records, meta.messages,
            report.partial, report.spans_multiple_days, len(report.issues), input_sha256, origin,
        )  # fmt: skip
        self.rows["reports"].append(values)

    def _add_issues(self, index: int, report: AggregateReport) -> None:
        self.rows["report_issues"].extend(
            (index, i, issue.code, issue.severity, issue.message, issue.path)
            for i, issue in enumerate(report.issues)
        )

    def _add_records(self, index: int, report: AggregateReport) -> int:
        meta, policy = report.metadata, report.policy
        context = (meta.begin, meta.begin // SECONDS_PER_DAY, reporter_name(meta), policy.domain)
        modes = (policy.effective_adkim, policy.effective_aspf)
        record_rows = self.rows["records"]
        messages = 0
        for ordinal, record in enumerate(report.records):
            auth = self._auth(record, modes)
            self._add_auth_rows(index, ordinal, record, auth)
            record_rows.append(_record_values(index, ordinal, record, context, auth))
            messages += record.count
        return messages

    def _auth(self, record: Record, modes: tuple[str, str]) -> tuple:
        return self.auth_summary(
            record.header_from,
            tuple((d.domain, d.selector, d.result, d.human_result) for d in record.dkim_results),
            tuple((s.domain, s.scope, s.result, s.human_result) for s in record.spf_results),
            modes,
        )

    def auth_summary(
        self, header_from: str | None, dkim_results: tuple, spf_results: tuple,
        modes: tuple[str, str],
    ) -> tuple:  # fmt: skip
        """Alignment and display strings for raw (domain, selector|scope, result, human)
        tuples, memoised: auth results repeat across records."""
        key = (header_from, dkim_results, spf_results, modes)
        cached = _AUTH_CACHE.get(key)
        if cached is None:
            cached = summarise_auth(header_from, dkim_results, spf_results, modes)
            if len(_AUTH_CACHE) > 50_000:
                _AUTH_CACHE.clear()
            _AUTH_CACHE[key] = cached
        return cached

    def _add_auth_rows(self, index: int, ordinal: int, record: Record, auth: tuple) -> None:
        if record.dkim_results:
            self.rows["dkim_results"].extend(
                (index, ordinal, i, d.domain, d.selector, d.result, d.human_result, aligned)
                for i, (d, aligned) in enumerate(zip(record.dkim_results, auth[2], strict=True))
            )
        if record.spf_results:
            self.rows["spf_results"].extend(
                (index, ordinal, i, s.domain, s.scope, s.result, s.human_result, aligned)
                for i, (s, aligned) in enumerate(zip(record.spf_results, auth[3], strict=True))
            )
        if record.reasons:
            self.rows["override_reasons"].extend(
                (index, ordinal, i, r.type, r.comment) for i, r in enumerate(record.reasons)
            )


def _arrow_table(columns: tuple[str, ...], rows: list[tuple]) -> pa.Table:
    import pyarrow as pa

    types = arrow_types()
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pa.Table.from_arrays(
        [
            _arrow_array(column, types.get(name, pa.string()))
            for name, column in zip(columns, values, strict=True)
        ],
        names=list(columns),
    )


@functools.cache
def _integer_dtypes() -> dict[pa.DataType, str]:
    """Arrow types stored as plain integers, with the numpy type of that width."""
    import pyarrow as pa

    return {
        pa.int64(): "int64", pa.int32(): "int32", pa.int8(): "int8",
        pa.timestamp("s"): "int64", pa.date32(): "int32",
    }  # fmt: skip


def _arrow_array(values: tuple, arrow_type: pa.DataType) -> pa.Array:
    """An Arrow array of ``values``. Integers (also seconds and days) go through numpy:
    ``pa.array`` took 60-160 ns per small Python int, ``numpy.fromiter`` 10 ns. A column
    with a None, or a value out of range, takes pyarrow's own path."""
    import pyarrow as pa

    dtype = _integer_dtypes().get(arrow_type)
    if dtype is not None and values:
        import numpy as np  # loaded with pyarrow

        try:
            integers = np.fromiter(values, dtype=dtype, count=len(values))
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            array = pa.array(integers)
            return array if array.type == arrow_type else array.view(arrow_type)
    return pa.array(values, type=arrow_type)


def summarise_auth(
    header_from: str | None, dkim_results: tuple, spf_results: tuple, modes: tuple[str, str]
) -> tuple:
    """(DKIM aligned, SPF aligned, DKIM flags, SPF flags, unaligned passing domains, DKIM
    and SPF display strings) of a record's raw auth result tuples; see ``auth_summary``."""
    check = align(header_from, dkim_results, spf_results, *modes)
    dkim_auth = "; ".join(
        f"{domain or ''}/{selector or ''}={result}" for domain, selector, result, _ in dkim_results
    )
    spf_auth = "; ".join(
        f"{scope or ''}:{domain or ''}={result}" for domain, scope, result, _ in spf_results
    )
    return (
        check.dkim_aligned, check.spf_aligned, check.dkim_flags, check.spf_flags,
        "; ".join(check.unaligned_pass_domains) or None, dkim_auth or None, spf_auth or None,
    )  # fmt: skip


def _record_values(index: int, ordinal: int, record: Record, context: tuple, auth: tuple) -> tuple:
    version, number = ip_key(record.source_ip)
    dkim_calc, spf_calc, _, _, unaligned, dkim_auth, spf_auth = auth
    dkim_pass, spf_pass = record.dkim == "pass", record.spf == "pass"
    mismatch = None if dkim_calc is None else (dkim_calc != dkim_pass or spf_calc != spf_pass)
    reasons = "; ".join(r.type for r in record.reasons) if record.reasons else None
    return (
        index, ordinal, *context, record.source_ip, version, number, record.count,
        record.disposition, record.dkim, record.spf, dkim_pass or spf_pass, record.header_from,
        record.envelope_from, record.envelope_to, reasons, dkim_auth, spf_auth, dkim_calc,
        spf_calc, mismatch, unaligned is not None, unaligned,
    )  # fmt: skip


_IP_CACHE: dict[str, tuple[int | None, str | None]] = {}


def ip_key(source_ip: str) -> tuple[int | None, str | None]:
    """(IP version, the address as a decimal integer string) for range filters."""
    cached = _IP_CACHE.get(source_ip)
    if cached is None:
        try:
            address = ipaddress.ip_address(source_ip)
            cached = (address.version, str(int(address)))
        except ValueError:
            cached = (None, None)
        if len(_IP_CACHE) > 200_000:
            _IP_CACHE.clear()
        _IP_CACHE[source_ip] = cached
    return cached
