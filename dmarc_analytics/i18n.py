"""Every string the app shows, in one catalogue per language.

Pages, charts and the sidebar ask ``t(key, **values)`` for their text; nothing user-facing
is written inline. A new language is one more entry in ``CATALOGUE`` (``"ja": {...}``)
with the same keys; a key missing there falls back to English. The active language is
module state, set once per run with ``set_language`` (later from a setting).

Catalogue text is trusted (it may contain Markdown); report data never goes into a
Markdown string, only into the ``{value}`` slots of plain-text messages shown as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dmarc_analytics.filters import Filter

DEFAULT_LANGUAGE = "en"

_EN: dict[str, str] = {
    # the app and its pages (sidebar order)
    "app.name": "DMARC analytics",
    "page.overview": "Overview",
    "page.sources": "Sources",
    "page.reporters": "Reporters",
    "page.alignment": "Alignment",
    "page.reports": "Reports",
    "page.ingest": "Ingest",
    "intro.overview": "Who sends mail as your domains, whether it passes DMARC, and what "
    "receivers did with it.",
    "intro.sources": "One row per sending IP address. Click a row (or pick an address below the "
    "table) to see "
    "its records, its DKIM and SPF results and its timeline.",
    "intro.reporters": "The organisations that send you aggregate reports: how much of your "
    "mail each one sees, how often it reports, and what pass rates it measures.",
    "intro.alignment": "What receivers did with your mail, which of SPF and DKIM aligned, and "
    "the senders that authenticate but not for your domain.",
    "intro.reports": "Every stored report. Pick one to read it like a receiver wrote it, with "
    "the original XML beside it.",
    "intro.ingest": "Add reports: drop files here (XML, gzip, zip, e-mail, mbox, any mix), or "
    "put them in the drop folder. Each file is stored once.",
    # empty database and demo data
    "empty.title": "No reports yet",
    "empty.body": "This database holds no DMARC aggregate reports. Add some on the Ingest page "
    "(upload files or put them in the drop folder {inbox}), or load the demo dataset.",
    "empty.body_no_demo": "This database holds no DMARC aggregate reports. Add some on the "
    "Ingest page (upload files or put them in the drop folder {inbox}).",
    "empty.link": "Go to Ingest",
    "empty.filtered": "No records match this filter. Widen it in the sidebar or clear it.",
    "demo.button": "Load demo data",
    "demo.help": "Generates {reports} realistic reports for the last {days} days (made-up "
    "senders, reporters and failures) and marks them as demo data.",
    "demo.loading": "Generating and ingesting the demo dataset…",
    "demo.loaded": "Demo data loaded: {reports} reports, {messages} messages.",
    "demo.banner": "Demo data is loaded. Remove it when you add your own reports.",
    "demo.remove": "Remove demo data",
    "demo.removed": "Removed {reports} demo reports.",
    "demo.removed.one": "Removed {reports} demo report.",
    # sidebar
    "filter.title": "Filter",
    "filter.since": "From (UTC day)",
    "filter.until": "To (UTC day)",
    "filter.policy_domain": "Policy domain",
    "filter.header_from": "Header-from domain",
    "filter.reporter": "Reporter",
    "filter.source_ip": "Source IP or CIDR",
    "filter.source_ip_placeholder": "192.0.2.0/24, 2001:db8::1",
    "filter.disposition": "Disposition",
    "filter.dmarc": "DMARC result",
    "filter.spf_aligned": "SPF aligned",
    "filter.dkim_aligned": "DKIM aligned",
    "filter.any": "Any",
    "filter.yes": "yes",
    "filter.no": "no",
    "filter.pass": "pass",
    "filter.fail": "fail",
    "filter.clear": "Clear filter",
    "filter.bad_link": "Left out of the link's filter: {message}",
    "filter.bad_zone": "The link's time zone {zone} is not one this app knows; times are "
    "shown in UTC.",
    "filter.bad_value": "Not applied: {message}",
    "filter.help.since": "Reports whose period begins on or after this UTC day.",
    "filter.help.until": "Reports whose period begins on or before this UTC day.",
    "filter.help.policy_domain": "The domains the reports are about (their published policy).",
    "filter.help.header_from": "The RFC5322.From domain of the messages; type to add one.",
    "filter.help.reporter": "The organisations that sent the reports.",
    "filter.help.source_ip": "Addresses or ranges, separated by commas.",
    "filter.help.disposition": "What the receiver applied to the messages.",
    "filter.help.dmarc": "pass = DKIM or SPF aligned in the receiver's evaluation.",
    "filter.help.spf_aligned": "The receiver's SPF alignment verdict (policy_evaluated).",
    "filter.help.dkim_aligned": "The receiver's DKIM alignment verdict (policy_evaluated).",
    "tz.label": "Time zone",
    "tz.help": "Times and day buckets are shown in this zone. Filters and exports of "
    "record-level data use UTC days.",
    # the sentence under each title
    "describe.all": "Showing all stored reports.",
    "describe.prefix": "Showing {parts}.",
    "describe.join": "; ",
    "describe.or": " or ",
    "describe.since_until": "reports that begin from {since} to {until} (UTC days)",
    "describe.since": "reports that begin on or after {since} (UTC day)",
    "describe.until": "reports that begin on or before {until} (UTC day)",
    "describe.policy_domain": "policy domain {values}",
    "describe.header_from": "header-from {values}",
    "describe.reporter": "reporter {values}",
    "describe.source_ip": "source IP in {values}",
    "describe.disposition": "disposition {values}",
    "describe.dmarc": "DMARC {value}",
    "describe.spf_aligned.yes": "SPF aligned",
    "describe.spf_aligned.no": "SPF not aligned",
    "describe.dkim_aligned.yes": "DKIM aligned",
    "describe.dkim_aligned.no": "DKIM not aligned",
    # metrics (Overview labels are fixed by the spec)
    "metric.messages": "Messages",
    "metric.dmarc_pass_rate": "DMARC pass rate",
    "metric.reports": "Reports",
    "metric.reporters": "Reporters",
    "metric.source_ips": "Source IPs",
    "metric.domains": "Domains",
    "metric.help.messages": "Sum of the message counts of every matching record.",
    "metric.help.dmarc_pass_rate": "Share of messages that passed DMARC (DKIM or SPF aligned).",
    "metric.reports_with_issues": "Reports with issues",
    "metric.partial_reports": "Partial reports",
    "metric.conflicts": "Conflicts",
    "metric.multi_day_reports": "Multi-day reports",
    "metric.verdict_mismatch_messages": "Doubtful verdicts",
    "metric.help.reports_with_issues": "Reports whose reading needed a repair or raised a "
    "doubt; see the Reports page.",
    "metric.help.partial_reports": "Reports that could only be read in part.",
    "metric.help.conflicts": "A report arrived again with the same identity but other "
    "content; the first one is kept.",
    "metric.help.multi_day_reports": "Reports covering more than 24 hours; their messages "
    "count on the day the report begins.",
    "metric.help.verdict_mismatch_messages": "Messages where the receiver's aligned verdict "
    "differs from what the DKIM/SPF results and the policy imply.",
    "span.caption": "Reports from {begin} to {end} ({zone}).",
    "span.none": "No report period to show.",
    # sections
    "section.daily": "Messages per day",
    "section.top_sources": "Top sources",
    "section.top_reporters": "Top reporters",
    "section.quality": "Data quality",
    "section.sources": "Sending IP addresses",
    "section.drill": "One source in detail",
    "section.drill_records": "Records of {ip}",
    "section.drill_dkim": "DKIM signatures",
    "section.drill_spf": "SPF checks",
    "section.reporters": "Reporting organisations",
    "section.disposition_mix": "Disposition mix over time",
    "section.matrix": "SPF aligned × DKIM aligned",
    "section.unaligned": "Authenticated but not aligned",
    "section.unaligned_caption": "Senders whose SPF or DKIM passed for another domain than "
    "the header-from: third-party services to configure, with the domain they used.",
    "section.overrides": "Override reasons",
    "section.overrides_caption": "Why receivers applied another disposition than your policy "
    "asked for (forwarding, mailing lists, local policy), with their comments.",
    "section.reports": "Reports",
    "section.report": "One report",
    "section.report_meta": "Report",
    "section.report_policy": "Published policy",
    "section.report_rows": "Records ({records})",
    "section.report_issues": "Issues noticed while reading",
    "section.report_xml": "Original XML",
    "section.outcomes": "This session's uploads",
    "section.ledger": "Ingest ledger",
    "section.dropfolder": "Drop folder",
    "section.manage": "Data management",
    "quality.fine": "No issues, partial reports or conflicts in the matching data.",
    "quality.link": "See the reports",
    # view switches and pickers
    "daily.by": "Stack by",
    "daily.by_dmarc": "DMARC result",
    "daily.by_disposition": "Disposition",
    "drill.pick": "Source IP",
    "drill.pick_help": "Addresses of the rows shown above, biggest first.",
    "drill.none": "Pick an address to see its details.",
    "report.pick": "Report",
    "report.pick_help": "Reports of the rows shown above, newest first.",
    "report.option": "{begin} · {reporter} · {domain} · {messages} messages",
    "report.option.one": "{begin} · {reporter} · {domain} · {messages} message",
    "report.gone": "This report is no longer stored.",
    "report.no_archive": "The original of this report is not in the archive (archiving was "
    "off when it was ingested, or the archive was moved).",
    "report.no_payload": "The archived original could not be decoded to this report again.",
    "report.demo_no_original": "This is a demo report: it was generated for the demo "
    "dataset, so there is no original file to show.",
    "report.xml_too_big": "The original XML is {size}; showing the first {shown}. Download it "
    "for the rest.",
    "report.download_xml": "Download original XML",
    "report.no_issues": "No issues.",
    # tables
    "table.rows": "Showing {shown} of {total} rows.",
    "table.rows_more": "Showing the first {shown} rows.",
    "table.csv_all": "Download CSV (all rows)",
    "table.more": "Show {step} more rows",
    "table.csv": "Download CSV ({total} rows)",
    "table.csv.one": "Download CSV ({total} row)",
    "table.records_csv": "Download records CSV (whole filter)",
    "table.records_csv_help": "Every matching record with its report, policy and "
    "authentication results, one row per record. UTF-8 with BOM; opens in Excel.",
    "table.empty": "Nothing to show for this filter.",
    # column labels (keys are the library's column names)
    "col.source_ip": "Source IP",
    "col.messages": "Messages",
    "col.dmarc_pass_rate": "DMARC pass",
    "col.spf_aligned_rate": "SPF aligned",
    "col.dkim_aligned_rate": "DKIM aligned",
    "col.dispositions": "Dispositions",
    "col.header_from": "Header-from",
    "col.reporters": "Reporters",
    "col.first_seen": "First seen ({zone})",
    "col.last_seen": "Last seen ({zone})",
    "col.begin_utc": "Begin ({zone})",
    "col.end_utc": "End ({zone})",
    "col.reporter": "Reporter",
    "col.policy_domain": "Policy domain",
    "col.envelope_from": "Envelope-from",
    "col.envelope_to": "Envelope-to",
    "col.count": "Messages",
    "col.disposition": "Disposition",
    "col.dkim": "DKIM aligned",
    "col.spf": "SPF aligned",
    "col.dkim_results": "DKIM results",
    "col.spf_results": "SPF results",
    "col.override_reasons": "Override reasons",
    "col.domain": "Domain",
    "col.selector": "Selector",
    "col.result": "Result",
    "col.aligned": "Aligned",
    "col.scope": "Scope",
    "col.reports": "Reports",
    "col.first_day": "First day (UTC)",
    "col.last_day": "Last day (UTC)",
    "col.days_covered": "Days covered",
    "col.gap_days": "Days without report",
    "col.avg_records": "Records per report",
    "col.max_records": "Largest report (records)",
    "col.mechanism": "Mechanism",
    "col.type": "Type",
    "col.comment": "Comment",
    "col.records": "Records",
    "col.report_key": "Key",
    "col.policy": "Policy",
    "col.issues": "Issues",
    "col.partial": "Partial",
    "col.multi_day": "Multi-day",
    "col.demo": "Demo",
    "col.ordinal": "#",
    "col.code": "Code",
    "col.severity": "Severity",
    "col.message": "Message",
    "col.path": "Where",
    "col.ingested_at": "Ingested ({zone})",
    "col.via": "Via",
    "col.name": "File",
    "col.outcome": "Outcome",
    "col.reason": "Reason",
    "col.duplicates": "Duplicate reports",
    "col.conflicts": "Conflicts",
    "col.rejected_parts": "Rejected parts",
    "col.sha256": "SHA-256",
    "col.field": "Field",
    "col.value": "Value",
    "col.share": "Share",
    "col.reported": "As reported",
    "col.effective": "In effect",
    "col.spf_aligned": "SPF aligned",
    "col.dkim_aligned": "DKIM aligned",
    "col.day": "Day ({zone})",
    # report metadata fields
    "meta.org_name": "Reporter",
    "meta.email": "Reporter e-mail",
    "meta.extra_contact_info": "Extra contact",
    "meta.report_id": "Report ID",
    "meta.begin_utc": "Begin ({zone})",
    "meta.end_utc": "End ({zone})",
    "meta.format": "Format",
    "meta.version": "Version",
    "meta.generator": "Generator",
    "meta.errors": "Reporter's errors",
    "meta.records": "Records",
    "meta.messages": "Messages",
    "meta.partial": "Partial",
    "meta.multi_day": "Longer than a day",
    "meta.origin": "Found in",
    "meta.input_sha256": "Input SHA-256",
    "meta.ingested_at": "Ingested ({zone})",
    "meta.demo": "Demo data",
    "policy.policy_domain": "Domain",
    "policy.p": "Policy (p)",
    "policy.sp": "Subdomain policy (sp)",
    "policy.np": "Non-existent subdomain policy (np)",
    "policy.pct": "Percentage (pct)",
    "policy.adkim": "DKIM alignment (adkim)",
    "policy.aspf": "SPF alignment (aspf)",
    "policy.fo": "Failure reporting (fo)",
    "policy.testing": "Testing (t)",
    "policy.discovery_method": "Discovery method",
    "bool.true": "yes",
    "bool.false": "no",
    # charts
    "chart.daily_title.dmarc": "Messages per day by DMARC result",
    "chart.daily_title.disposition": "Messages per day by disposition",
    "chart.day_axis": "Day ({zone})",
    "chart.week_axis": "Week from Monday ({zone})",
    "chart.messages_axis": "Messages",
    "chart.messages_hover": "messages",
    "chart.disposition_title": "Messages per day by disposition",
    "chart.disposition_title_week": "Messages per week by disposition",
    "chart.timeline_title": "Messages per day from {ip} by DMARC result",
    "chart.reporters_title": "Messages seen per reporter by DMARC result",
    "chart.reporters_title_top": (
        "Messages seen per reporter by DMARC result: the {top} biggest of {total} (all in the "
        "table)"
    ),
    "chart.reporter_axis": "Reporter",
    "chart.matrix_title": "Messages by SPF and DKIM alignment",
    "chart.aligned": "aligned",
    "chart.not_aligned": "not aligned",
    "matrix.spf": "SPF {state}",
    "matrix.dkim": "DKIM {state}",
    "series.result.pass": "DMARC pass",
    "series.result.fail": "DMARC fail",
    "series.disposition.pass": "pass",
    "series.disposition.none": "none",
    "series.disposition.quarantine": "quarantine",
    "series.disposition.reject": "reject",
    # ingest page
    "upload.label": "Drop report files here",
    "upload.help": "Any mix of .xml, .xml.gz, .zip, .eml and .mbox files; the format is "
    "recognised from the content. Files are ingested as soon as they are uploaded.",
    "upload.progress": "Ingesting {name} ({done} of {total})…",
    "upload.done": "Ingested {total} files: {inserted} inserted, {duplicate} duplicate, "
    "{rejected} rejected.",
    "upload.done.one": "Ingested {total} file: {inserted} inserted, {duplicate} duplicate, "
    "{rejected} rejected.",
    "upload.conflicts": "{conflicts} reports had the identity of a stored report but other "
    "content: the stored ones are kept, and the new copies are archived and listed as "
    "conflicts (see the reason of each file below).",
    "upload.conflicts.one": "1 report had the identity of a stored report but other content: "
    "the stored one is kept, and the new copy is archived and listed as a conflict (see the "
    "reason of its file below).",
    "upload.none": "No uploads in this session yet.",
    "ledger.outcome": "Outcome",
    "ledger.all": "All",
    "ledger.search": "Search file names and reasons",
    "dropfolder.status": "Files put in {inbox} are ingested within a few seconds while the "
    "app is open in a browser, and at the next page load otherwise. Each file is ingested "
    "once: the ledger knows it by its hash.",
    "store.upgrading": "Upgrading the database for this version of the app. This happens "
    "once; on millions of records it takes a minute or so.",
    "dropfolder.count": "{files} files in the folder. The last check ({when}, {zone}) "
    "ingested every one the ledger did not know; files put there since are taken at the next "
    "check.",
    "dropfolder.count.one": "{files} file in the folder. The last check ({when}, {zone}) "
    "ingested it if the ledger did not know it; files put there since are taken at the next "
    "check.",
    "dropfolder.missing": "The folder does not exist yet; it is created at the first scan.",
    "dropfolder.scan": "Check the folder now",
    "dropfolder.ingested": "Drop folder: ingested {files} new files.",
    "dropfolder.ingested.one": "Drop folder: ingested {files} new file.",
    "manage.demo": "Demo data",
    "manage.no_demo": "No demo data is stored.",
    "manage.purge": "Remove reports",
    "manage.purge_help": "Removes the reports whose period begins in the date range (UTC "
    "days) and/or that are about the policy domain. The ingest ledger keeps its history; "
    "removed files can be ingested again.",
    "manage.purge_since": "From (UTC day)",
    "manage.purge_until": "To (UTC day)",
    "manage.purge_domain": "Policy domain",
    "manage.purge_any_domain": "(any)",
    "manage.purge_confirm": "I understand that the matching reports are deleted",
    "manage.purge_button": "Remove matching reports",
    "manage.purge_needs": "Choose a date range or a policy domain first.",
    "manage.purged": "Removed {reports} reports.",
    "manage.purged.one": "Removed {reports} report.",
    "manage.reparse": "Re-parse from the archive",
    "manage.reparse_help": "Empties the report tables and reads every archived original "
    "again (after an upgrade of the parser).",
    "manage.reparse_confirm": "I understand that every report is rebuilt from the archive",
    "manage.reparse_button": "Re-parse everything",
    "manage.reparsed": "Re-parsed {total} archived files: {inserted} inserted, {rejected} "
    "rejected.",
    "manage.reparsed.one": "Re-parsed {total} archived file: {inserted} inserted, {rejected} "
    "rejected.",
    "manage.archive": "Keep originals in the archive",
    "manage.archive_help": "For this session: archived originals are what re-parse and the "
    "Reports page's original XML read. Default from the settings: {default}.",
    "manage.archive_dir": "Archive folder: {path}.",
}

CATALOGUE: dict[str, dict[str, str]] = {"en": _EN}

_language = DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    """Choose the catalogue for the following ``t`` calls; unknown languages mean English."""
    global _language
    _language = language if language in CATALOGUE else DEFAULT_LANGUAGE


def language() -> str:
    return _language


def t(key: str, count: int | None = None, **values: object) -> str:
    """The text for ``key`` in the active language, with ``{name}`` slots filled in.

    With ``count``, a catalogue may give the singular as ``<key>.one`` (used when ``count``
    is 1); languages without plural forms simply leave it out.

    :raises KeyError: no catalogue has the key (a programming error, caught by the tests).
    """
    if count == 1 and _lookup(f"{key}.one") is not None:
        key = f"{key}.one"
    text = _lookup(key)
    if text is None:
        text = _EN[key]
    return text.format(**values) if values else text


def _lookup(key: str) -> str | None:
    text = CATALOGUE.get(_language, _EN).get(key)
    return text if text is not None else _EN.get(key)


def describe_filter(flt: Filter, quote: Callable[[str], str] = str) -> str:
    """The filter in words, for the sentence under each page title.

    ``quote`` is applied to every value taken from the filter (domains, reporters, networks),
    for example to escape them for Markdown.
    """
    parts = []
    if flt.since and flt.until:
        parts.append(t("describe.since_until", since=flt.since, until=flt.until))
    elif flt.since:
        parts.append(t("describe.since", since=flt.since))
    elif flt.until:
        parts.append(t("describe.until", until=flt.until))
    for name in ("policy_domain", "header_from", "reporter", "source_ip", "disposition"):
        values = getattr(flt, name)
        if values:
            joined = t("describe.or").join(quote(str(v)) for v in values)
            parts.append(t(f"describe.{name}", values=joined))
    if flt.dmarc:
        parts.append(t("describe.dmarc", value=t(f"filter.{flt.dmarc}")))
    for name in ("spf_aligned", "dkim_aligned"):
        value = getattr(flt, name)
        if value is not None:
            parts.append(t(f"describe.{name}.{'yes' if value else 'no'}"))
    if not parts:
        return t("describe.all")
    return t("describe.prefix", parts=t("describe.join").join(parts))


_MARKDOWN = frozenset("\\`*_{}[]()<>#+-.!|~$:&")


# Streamlit turns web and e-mail addresses into links and ``:name:`` codes into icons,
# emoji and colours after the Markdown is parsed, so escapes cannot stop them; a zero-width
# space breaks each such pattern up without changing what is shown.
_ZWSP = "\u200b"
_AFTER_PARSING = re.compile(r"(?i)(:|www\.|@)")


# Characters that reorder the text around them (right-to-left overrides and isolates): in
# report data they can make "\u202egnp.exe" read "exe.png", so they are shown by name.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible_controls(text: str) -> str:
    """Report text with its bidirectional control characters shown as ``<U+202E>``."""
    return _BIDI_CONTROLS.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def markdown_escape(text: str) -> str:
    """Text from data made inert for Markdown, so it is shown exactly as it is
    (``st.markdown``, ``st.error`` and friends): every Markdown punctuation backslash-escaped,
    and a zero-width space in the patterns Streamlit acts on after parsing (``http:``,
    ``www.``, ``a@b``, ``:material/icon:``, ``:red[text]``)."""
    broken = _AFTER_PARSING.sub(lambda m: _break(m.group()), visible_controls(text))
    return "".join("\\" + c if c in _MARKDOWN else c for c in broken)


def _break(pattern: str) -> str:
    if pattern == ":":
        return ":" + _ZWSP
    if pattern == "@":
        return _ZWSP + "@"
    return pattern[:-1] + _ZWSP + "."  # www.


def yes_no(value: object) -> str:
    """A boolean as catalogue text ("yes"/"no"); anything else unchanged as text."""
    if isinstance(value, bool):
        return t("bool.true" if value else "bool.false")
    return "" if value is None else str(value)
