"""The columns of the tables a parse worker builds (one Arrow table each per chunk of
inputs) and the writer inserts. Apart from ``flatten`` on purpose: the writer needs them
without loading the parse side.

Rows carry ``report_index`` (the report's position in the chunk); the writer maps it to a
``report_key``.
"""

from __future__ import annotations

REPORT_COLUMNS = (
    "report_index", "identity", "content_sha256", "format", "version", "org_name", "reporter",
    "email", "extra_contact_info", "report_id", "begin_utc", "end_utc", "day", "generator",
    "errors", "policy_domain", "p", "sp", "np", "pct", "adkim", "aspf", "fo", "testing",
    "discovery_method", "effective_p", "effective_sp", "effective_np", "effective_pct",
    "effective_adkim", "effective_aspf", "records", "messages", "partial", "multi_day",
    "issue_count", "input_sha256", "origin",
)  # fmt: skip
RECORD_COLUMNS = (
    "report_index", "ordinal", "begin_utc", "day", "reporter", "policy_domain", "source_ip",
    "ip_version", "ip_num", "count", "disposition", "dkim", "spf", "dmarc_pass", "header_from",
    "envelope_from", "envelope_to", "reason_types", "dkim_auth", "spf_auth",
    "dkim_aligned_calc", "spf_aligned_calc", "verdict_mismatch", "auth_unaligned",
    "auth_unaligned_domains",
)  # fmt: skip
DKIM_COLUMNS = ("report_index", "record_ordinal", "ordinal", "domain", "selector", "result",
                "human_result", "aligned")  # fmt: skip
SPF_COLUMNS = ("report_index", "record_ordinal", "ordinal", "domain", "scope", "result",
               "human_result", "aligned")  # fmt: skip
REASON_COLUMNS = ("report_index", "record_ordinal", "ordinal", "type", "comment")
ISSUE_COLUMNS = ("report_index", "ordinal", "code", "severity", "message", "path")

TABLES: dict[str, tuple[str, ...]] = {
    "reports": REPORT_COLUMNS,
    "records": RECORD_COLUMNS,
    "dkim_results": DKIM_COLUMNS,
    "spf_results": SPF_COLUMNS,
    "override_reasons": REASON_COLUMNS,
    "report_issues": ISSUE_COLUMNS,
}
