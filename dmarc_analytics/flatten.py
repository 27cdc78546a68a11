"""Turn a parsed report into table rows (plain tuples), ready for a bulk insert.

This runs in the parse workers, so what crosses the process boundary is compact tuples,
not object graphs. Column order follows ``TABLE_COLUMNS``; the store adds ``report_key``
and the per-input columns in the writer process.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from dmarc_analytics.alignment import AlignmentCheck, check_alignment
from dmarc_analytics.model import AggregateReport, Record

SECONDS_PER_DAY = 86400

REPORT_COLUMNS = (
    "identity", "content_sha256", "format", "version", "org_name", "reporter", "email",
    "extra_contact_info", "report_id", "begin_utc", "end_utc", "day", "generator", "errors",
    "policy_domain", "p", "sp", "np", "pct", "adkim", "aspf", "fo", "testing",
    "discovery_method", "effective_p", "effective_sp", "effective_np", "effective_pct",
    "effective_adkim", "effective_aspf", "records", "messages", "partial", "multi_day",
    "issue_count",
)  # fmt: skip
RECORD_COLUMNS = (
    "ordinal", "begin_utc", "day", "reporter", "policy_domain", "source_ip", "ip_version",
    "ip_num", "count", "disposition", "dkim", "spf", "dmarc_pass", "header_from",
    "envelope_from", "envelope_to", "reason_types", "dkim_auth", "spf_auth",
    "dkim_aligned_calc", "spf_aligned_calc", "verdict_mismatch", "auth_unaligned",
    "auth_unaligned_domains",
)  # fmt: skip
DKIM_COLUMNS = ("record_ordinal", "ordinal", "domain", "selector", "result", "human_result",
                "aligned")  # fmt: skip
SPF_COLUMNS = ("record_ordinal", "ordinal", "domain", "scope", "result", "human_result",
               "aligned")  # fmt: skip
REASON_COLUMNS = ("record_ordinal", "ordinal", "type", "comment")
ISSUE_COLUMNS = ("ordinal", "code", "severity", "message", "path")


@dataclass(slots=True)
class FlatReport:
    identity: str
    content_sha256: str
    records: int
    messages: int
    partial: bool
    report_row: tuple
    record_rows: list[tuple]
    dkim_rows: list[tuple]
    spf_rows: list[tuple]
    reason_rows: list[tuple]
    issue_rows: list[tuple]


def reporter_name(report: AggregateReport) -> str:
    """The name shown for the reporting organisation (org_name, else the e-mail domain)."""
    name = report.metadata.org_name.strip()
    if name:
        return name
    email = report.metadata.email or ""
    return email.rpartition("@")[2].strip() or "(unnamed reporter)"


def identity_digest(report: AggregateReport) -> str:
    return hashlib.sha256(report.identity.key.encode("utf-8")).hexdigest()


def flatten_report(report: AggregateReport) -> FlatReport:
    meta, policy = report.metadata, report.policy
    reporter = reporter_name(report)
    day = meta.begin // SECONDS_PER_DAY
    context = (meta.begin, day, reporter, policy.domain)
    record_rows: list[tuple] = []
    dkim_rows: list[tuple] = []
    spf_rows: list[tuple] = []
    reason_rows: list[tuple] = []
    for ordinal, record in enumerate(report.records):
        check = check_alignment(record, policy)
        record_rows.append(_record_row(ordinal, record, check, context))
        for i, (d, aligned) in enumerate(zip(record.dkim_results, check.dkim_flags, strict=True)):
            dkim_rows.append((ordinal, i, d.domain, d.selector, d.result, d.human_result, aligned))
        for i, (s, aligned) in enumerate(zip(record.spf_results, check.spf_flags, strict=True)):
            spf_rows.append((ordinal, i, s.domain, s.scope, s.result, s.human_result, aligned))
        for i, r in enumerate(record.reasons):
            reason_rows.append((ordinal, i, r.type, r.comment))
    issue_rows = [
        (i, issue.code, issue.severity, issue.message, issue.path)
        for i, issue in enumerate(report.issues)
    ]
    messages = sum(row[8] for row in record_rows)
    report_row = (
        identity_digest(report), "", str(report.format), report.version, meta.org_name,
        reporter, meta.email, meta.extra_contact_info, meta.report_id, meta.begin, meta.end,
        day, meta.generator, list(meta.errors), policy.domain, policy.p, policy.sp, policy.np,
        policy.pct, policy.adkim, policy.aspf, policy.fo, policy.testing,
        policy.discovery_method, policy.effective_p, policy.effective_sp, policy.effective_np,
        policy.effective_pct, str(policy.effective_adkim), str(policy.effective_aspf),
        len(record_rows), messages, report.partial, report.spans_multiple_days,
        len(issue_rows),
    )  # fmt: skip
    content = hashlib.sha256(
        repr((report_row[2:], record_rows, dkim_rows, spf_rows, reason_rows)).encode("utf-8")
    ).hexdigest()
    report_row = (report_row[0], content, *report_row[2:])
    return FlatReport(
        report_row[0], content, len(record_rows), messages, report.partial, report_row,
        record_rows, dkim_rows, spf_rows, reason_rows, issue_rows,
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


def _record_row(ordinal: int, record: Record, check: AlignmentCheck, context: tuple) -> tuple:
    version, number = ip_key(record.source_ip)
    dkim_auth = "; ".join(
        f"{d.domain or ''}/{d.selector or ''}={d.result}" for d in record.dkim_results
    )
    spf_auth = "; ".join(
        f"{s.scope or ''}:{s.domain or ''}={s.result}" for s in record.spf_results
    )
    reasons = "; ".join(r.type for r in record.reasons)
    return (
        ordinal, *context, record.source_ip, version, number, record.count,
        record.disposition, record.dkim, record.spf, record.dmarc_pass, record.header_from,
        record.envelope_from, record.envelope_to, reasons or None, dkim_auth or None,
        spf_auth or None, check.dkim_aligned, check.spf_aligned, check.verdict_mismatch,
        bool(check.unaligned_pass_domains), "; ".join(check.unaligned_pass_domains) or None,
    )  # fmt: skip
