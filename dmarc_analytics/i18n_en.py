"""The English catalogue: every string the app shows, by key (see ``i18n``).

A key ending in ``.one`` is the singular of the key before it. Text may contain Markdown;
``{name}`` slots are filled by ``i18n.t``.
"""

from __future__ import annotations

ENGLISH: dict[str, str] = {
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
    "intro.ingest": "Add reports: drop files or whole folders here (XML, gzip, zip, e-mail, "
    "mbox, any mix), or put them in the drop folder. Each file is stored once.",
    "ingest.filter_note": "The sidebar filter applies to the other pages; this page lists "
    "every input.",
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
    "filter.bad_choice": "The link's {param}={value} is not one of {choices}; showing all.",
    "filter.bad_zone": "The link's time zone {zone} is not one this app knows; times are "
    "shown in UTC.",
    "filter.bad_value": "Not applied: {message}",
    # library errors the app may show (the CLI prints the English text)
    "error.store_busy_held": "database {path} is busy: another process held its lock for more "
    "than {seconds} s (lock held by {program} (PID {pid})); try again when it has finished",
    "error.store_busy": "database {path} is busy: another process held its lock for more than "
    "{seconds} s ({detail}); try again when it has finished",
    # filter errors (the library's FilterError; the CLI prints the English text)
    "filter_error.unknown": "unknown filter {name!r}; known: {known}",
    "filter_error.since_after_until": "since ({since}) is after until ({until})",
    "filter_error.one_date": "{field} takes one date, got {value!r}",
    "filter_error.not_a_date": "{field}: {value!r} is not a date (YYYY-MM-DD)",
    "filter_error.date_out_of_range": "{field}: {day} is not between {first} and {last}",
    "filter_error.yes_no": "{field} must be yes or no, got {value!r}",
    "filter_error.not_one_of": "{field}: {value!r} is not one of {choices}",
    "filter_error.dmarc_one": "dmarc takes one value: pass or fail",
    "filter_error.not_a_network": "source_ip: {value!r} is not an IP address or CIDR range",
    "filter_error.no_domain": "policy_domain: no domain given",
    "filter_error.purge_needs_condition": "purge needs at least one condition",
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
    "tz.dates": "The date filter selects UTC days; in {zone} that is from {since} to "
    "{until}.",
    "tz.dates.since": "The date filter selects UTC days; in {zone} that is from {since} on.",
    "tz.dates.until": "The date filter selects UTC days; in {zone} that is up to {until}.",
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
    "describe.source_ip": "source IP {values}",
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
    "metric.help.reports": "Aggregate reports with records that match the filter.",
    "metric.help.reporters": "Organisations that sent those reports (Google, Microsoft, ...).",
    "metric.help.source_ips": "Distinct addresses that sent the matching mail.",
    "metric.help.domains": "Policy domains: the domains whose DMARC policy the reports are "
    "about (the header-from domains can be their subdomains).",
    "metric.reports_with_issues": "Reports with issues",
    "metric.partial_reports": "Partial reports",
    "metric.conflicts": "Conflicts",
    "metric.multi_day_reports": "Multi-day reports",
    "metric.doubtful_reports": "Doubtful verdicts",
    "metric.help.reports_with_issues": "Reports whose reading needed a repair or raised a "
    "doubt, or that repeat a stored report under another reporter name; see the Reports page.",
    "metric.help.partial_reports": "Reports that could only be read in part.",
    "metric.help.conflicts": "Reports that arrived again with the same identity but other "
    "data; the first copy is kept, and the others are listed with the ingest ledger.",
    "metric.help.multi_day_reports": "Reports covering more than 24 hours; their messages "
    "count on the day the report begins.",
    "metric.help.doubtful_reports": "Reports with messages where the receiver's aligned "
    "verdict differs from what the DKIM/SPF results and the policy imply.",
    "span.caption": "Reports from {begin} to {end} ({zone}).",
    "span.none": "No report period to show.",
    # sections
    "section.daily": "Messages over time",
    "overview.only_failing": "Show the sources of failing mail",
    "overview.only_failing_help": "Sets the filter to DMARC fail: every number, chart and "
    "table then shows the mail that failed, biggest senders first. Clear it in the sidebar.",
    "section.top_sources": "Top sources",
    "section.top_reporters": "Top reporters",
    "section.quality": "Data quality",
    "section.sources": "Sending IP addresses",
    "section.drill": "One source in detail",
    "section.drill_records": "Records of {ip}",
    "section.drill_summary": "What its mail shows",
    "source.category.nothing": "Nothing authenticated",
    "source.category.unaligned": "Authenticated for another domain",
    "source.category.spf_only": "Aligned by SPF alone",
    "source.category.dkim_only": "Aligned by DKIM",
    "source.category.dkim_and_spf": "Aligned by DKIM and SPF",
    "source.meaning.nothing": "Fails DMARC: spoofing, or forwarding that broke DKIM.",
    "source.meaning.unaligned": "Fails DMARC: SPF or DKIM passed, but for the domains shown, "
    "not the header-from's. A third-party service to set up (a DKIM signature or return "
    "path in your domain).",
    "source.meaning.spf_only": "Passes DMARC, but fails when forwarded: sign with DKIM before "
    "p=reject.",
    "source.meaning.dkim_only": "Passes DMARC, and survives forwarding.",
    "source.meaning.dkim_and_spf": "Passes DMARC.",
    "section.drill_dkim": "DKIM signatures",
    "section.drill_spf": "SPF checks",
    "section.reporters": "Reporting organisations",
    "section.mail_summary": "Before p=reject: what the mail shows",
    "mail.failing": "{failing} of {total} messages ({share}) fail DMARC, and p=reject asks "
    "receivers to reject them: {parts}.",
    "mail.failing.one": "1 of {total} messages ({share}) fails DMARC, and p=reject asks "
    "receivers to reject it: {parts}.",
    "mail.part.unaligned": "{messages} authenticated for another domain (the senders to set "
    "up, listed under \"Authenticated but not aligned\")",
    "mail.part.nothing": "{messages} authenticated nothing (spoofing, or forwarding that "
    "broke DKIM)",
    "mail.part.join": "; ",
    "mail.all_pass": "All {total} messages pass DMARC.",
    "mail.all_pass.one": "The one message passes DMARC.",
    "mail.spf_only": "{messages} messages ({share}) pass by SPF alone and would fail where "
    "they are forwarded: sign them with DKIM before p=reject.",
    "mail.spf_only.one": "1 message ({share}) passes by SPF alone and would fail where it is "
    "forwarded: sign it with DKIM before p=reject.",
    "section.disposition_mix": "Disposition mix over time",
    "section.matrix": "SPF aligned × DKIM aligned",
    "section.unaligned": "Authenticated but not aligned",
    "section.unaligned_caption": "Senders whose SPF or DKIM passed for another domain than "
    "the header-from, with the domain they used. Those with messages failing DMARC come "
    "first: third-party services to configure before p=reject. The others passed DMARC by "
    "another, aligned result. Mail that passed for two such domains (DKIM for one, SPF for "
    "another) is in a row for each, so the rows add up to more than the messages. Click a row "
    "to see that address in detail.",
    "section.overrides": "Override reasons",
    "section.overrides_caption": "Why receivers applied another disposition than your policy "
    "asked for (forwarding, mailing lists, local policy), with their comments.",
    "section.policy": "Failing mail: what the policy asked and what receivers did",
    "section.policy_caption": "Mail the receivers scored as failing DMARC, by the policy it "
    "asked for (p for the policy domain itself; for its subdomains sp, or np where that "
    "explains the disposition better: a report cannot tell whether a subdomain exists) and "
    "the disposition applied. A lighter disposition is explained by an override reason, or, "
    "with none, by sampling (pct under 100, or t=y) when it is one level lighter; otherwise it "
    "is an unexplained downgrade, common in reports that predate RFC 9990.",
    "policy.show": "Compare with the published policy",
    "policy.show_help": "Reads every failing record with its report's policy: on millions of "
    "records this takes a moment, so it is done on request.",
    "policy.unexplained": "{messages} failing messages were treated more lightly than the "
    "policy asked, with no reason given.",
    "policy.unexplained.one": "{messages} failing message was treated more lightly than the "
    "policy asked, with no reason given.",
    "policy.verdict.unexplained": "Lighter, no reason given",
    "policy.verdict.overridden": "Lighter, with a reason",
    "policy.verdict.sampling": "Lighter by sampling (pct or t=y)",
    "policy.verdict.as_requested": "As the policy asked",
    "policy.verdict.stricter": "Stricter than the policy",
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
    "quality.link": "See these reports",
    # view switches and pickers
    "daily.by": "Stack by",
    "daily.by_dmarc": "DMARC result",
    "daily.by_disposition": "Disposition",
    "drill.pick": "Source IP",
    "drill.pick_help": "Addresses of the rows shown above, biggest first; type any other "
    "address to see it.",
    "drill.pick_placeholder": "Pick or type an address",
    "drill.no_mail": "No mail from {ip} matches the filter.",
    "drill.not_an_address": "{ip} is not an IP address, and no report names it as a source "
    "for this filter.",
    "drill.opened": "{ip} is shown in detail [below the table](#source-detail).",
    "drill.no_dkim": "The reports give no DKIM result for this mail: it was not signed, or "
    "the receiver did not say.",
    "drill.no_spf": "The reports give no SPF result for this mail.",
    "drill.none": "Pick an address to see its details.",
    "reports.kind": "Show",
    "reports.kind_help": "Narrow the list to the reports behind one of the Overview's "
    "data-quality counts.",
    "reports.kind.all": "All reports",
    "reports.kind_note": "Listed: {kind}, of the reports the filter shows. Pick \"All reports\" "
    "to list them all.",
    "reports.kind.issues": "Reports with issues",
    "reports.kind.partial": "Partial reports",
    "reports.kind.conflicts": "Reports that arrived again with other data",
    "reports.kind.multi_day": "Reports covering more than a day",
    "reports.kind.doubtful": "Reports with doubtful verdicts",
    "report.pick": "Report",
    "report.pick_help": "Reports of the rows shown above, newest first; type a report's "
    "ID, or its key (the list's Key column) as #1234, to open any other.",
    "report.pick_placeholder": "Pick a report or type its ID",
    "report.not_found": "No stored report has the ID or key {text}.",
    "report.several": "{reports} reports have this ID ({keys}); this is the first stored. "
    "Type another one's key to open it.",
    "report.option": "{begin} · {reporter} · {domain} · {messages} messages · #{report_key}",
    "report.option.one": "{begin} · {reporter} · {domain} · {messages} message · #{report_key}",
    "report.gone": "This report is no longer stored.",
    "report.no_archive": "The original of this report is not in the archive {folder} "
    "(archiving was off when it was ingested, or the archive was moved or damaged).",
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
    "authentication results, one row per record, report times in the chosen time zone. "
    "UTF-8 with BOM; opens in Excel.",
    "table.empty": "Nothing to show for this filter.",
    # the record-level CSV's own address (ui_routes)
    "export.bad_link": "This download link is from an earlier start of the app or was "
    "changed: open the page again and download from there.",
    "export.bad_zone": "The link's time zone is not one this app knows.",
    "export.failed": "The record-level CSV could not be written: {reason}",
    # column labels (keys are the library's column names)
    "col.source_ip": "Source IP",
    "col.messages": "Messages",
    "col.dmarc_fail": "Failing DMARC",
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
    "col.category": "What it shows",
    "col.meaning": "Meaning",
    "col.domains": "Authenticated as",
    "col.dkim_recomputed": "Recomputed: DKIM aligned",
    "col.spf_recomputed": "Recomputed: SPF aligned",
    "col.doubtful": "Doubtful",
    "col.verdict": "Judged",
    "col.requested": "Policy asked",
    "col.tag": "By tag",
    "col.applied": "Applied",
    "col.reasons": "Override reasons",
    "col.sampled": "pct < 100 or t=y",
    "col.issue_codes": "Issue codes",
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
    "meta.reporter": "Reporter",
    "meta.org_name": "Organisation name (as reported)",
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
    "chart.month_axis": "Month ({zone})",
    "chart.monthly_title.dmarc": "Messages per month by DMARC result",
    "chart.monthly_title.disposition": "Messages per month by disposition",
    "chart.messages_axis": "Messages",
    "chart.before_dmarc": "Not drawn: {messages} messages in reports dated before 2012, when "
    "no DMARC report was sent (their dates are wrong; the Reports page lists them)",
    "chart.before_dmarc.one": "Not drawn: 1 message in a report dated before 2012, when no "
    "DMARC report was sent (its date is wrong; the Reports page lists it)",
    "chart.in_future": "Not drawn: {messages} messages in reports dated after today (their "
    "dates are wrong; the Reports page lists them)",
    "chart.in_future.one": "Not drawn: 1 message in a report dated after today (its date is "
    "wrong; the Reports page lists it)",
    "chart.messages_hover": "messages",
    "chart.disposition_title": "Messages per day by disposition",
    "chart.disposition_title_week": "Messages per week by disposition",
    "chart.disposition_title_month": "Messages per month by disposition",
    "chart.timeline_title": "Messages per day from {ip} by DMARC result",
    "chart.timeline_title_month": "Messages per month from {ip} by DMARC result",
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
    "series.disposition.pass": "pass (delivered)",
    "series.disposition.none": "none",
    "series.disposition.quarantine": "quarantine",
    "series.disposition.reject": "reject",
    # ingest page
    "upload.label": "Drop report files or folders here",
    "upload.help": "Any mix of .xml, .xml.gz, .zip, .eml and .mbox files, or a folder of them "
    "(its subfolders too); the format is recognised from the content. The button picks "
    "files; a folder is dragged onto the box. Files are ingested as soon as they are "
    "uploaded.",
    "upload.limit": "Up to {megabytes} MB per file. A bigger one, such as a whole mailbox "
    "exported as mbox, goes in the drop folder {inbox} or to `python -m dmarc_analytics "
    "ingest`; so does a folder of many hundreds of files, which the browser uploads one by "
    "one, more slowly the more there are.",
    "upload.progress": "Ingesting {name} ({done} of {total})…",
    "upload.done": "Ingested {total} files: {inserted} inserted, {duplicate} duplicate, "
    "{rejected} rejected.",
    "upload.done.one": "Ingested {total} file: {inserted} inserted, {duplicate} duplicate, "
    "{rejected} rejected.",
    "upload.conflicts": "{conflicts} reports had the identity of a stored report but other "
    "data: the stored ones are kept, and the new copies are archived and listed as "
    "conflicts (see the reason of each file below).",
    "upload.conflicts.one": "1 report had the identity of a stored report but other data: "
    "the stored one is kept, and the new copy is archived and listed as a conflict (see the "
    "reason of its file below).",
    "upload.none": "No uploads in this session yet.",
    "ledger.outcome": "Outcome",
    # an input's outcome, and how it came in (codes of the ledger and of ingest --json)
    "outcome.inserted": "inserted",
    "outcome.duplicate": "duplicate",
    "outcome.rejected": "rejected",
    "via.cli": "command line",
    "via.watch": "command line (--watch)",
    "via.upload": "upload",
    "via.dropfolder": "drop folder",
    "via.demo": "demo data",
    "via.reparse": "re-parse",
    "ledger.all": "All",
    "ledger.search": "Search file names and reasons",
    "dropfolder.status": "Files put in {inbox} are ingested within a few seconds while the "
    "app is open in a browser, and at the next page load otherwise. Each file is ingested "
    "once: the ledger knows it by its hash.",
    "store.reparse_unfinished": "A re-parse started at {started} UTC has not finished, so "
    "reports are missing until it does. If it was stopped, run it again (Ingest page, *Re-parse "
    "from the archive*, or `python -m dmarc_analytics reparse`).",
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
    "dropfolder.ingested_rejected": "Drop folder: {files} new files, {rejected} of them "
    "rejected (the Ingest page's ledger says why).",
    "dropfolder.ingested_rejected.one": "Drop folder: {files} new file, rejected (the Ingest "
    "page's ledger says why).",
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
    "manage.reparse_help": "Reads every archived original again and rebuilds its reports "
    "(after an upgrade of the parser). Reports whose original is not in the archive stay as "
    "they are.",
    "manage.reparse_kept": "{reports} reports were kept as they were: the archive {folder} has "
    "no original of them (ingested with archiving off, or the archive was moved or damaged).",
    "manage.reparse_kept.one": "1 report was kept as it was: the archive {folder} has no "
    "original of it (ingested with archiving off, or the archive was moved or damaged).",
    "manage.reparse_purged": "{reports} reports removed earlier (purge) stay removed.",
    "manage.reparse_purged.one": "1 report removed earlier (purge) stays removed.",
    "manage.reparse_confirm": "I understand that every report is rebuilt from the archive",
    "manage.reparse_button": "Re-parse everything",
    "manage.reparsed": "Re-parsed {total} archived files: {inserted} inserted, {rejected} "
    "rejected.",
    "manage.reparsed.one": "Re-parsed {total} archived file: {inserted} inserted, {rejected} "
    "rejected.",
    "manage.archive": "Keep originals in the archive",
    "manage.archive_help": "Kept with the database: uploads, the drop folder and the command "
    "line follow it. Archived originals are what re-parse and the Reports page's original XML "
    "read; with this off, files are still ingested but not kept.",
    "manage.archive_configured": "Set by the `archive` setting (config file, "
    "`DMARC_ANALYTICS_ARCHIVE` or a command-line option): {state}.",
    "manage.archive_dir": "Archive folder: {path}.",
}
