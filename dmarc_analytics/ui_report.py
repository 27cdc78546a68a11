"""One report, human-readable: metadata, published policy, every row coloured by result,
the issues noticed while reading it, and the original XML beside it (from the archive).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dmarc_analytics import insights
from dmarc_analytics.archive import has_original
from dmarc_analytics.i18n import t, yes_no
from dmarc_analytics.insights_original import original_payload, xml_text
from dmarc_analytics.ui import Page, format_time, markdown_code
from dmarc_analytics.ui_connect import connect
from dmarc_analytics.ui_tables import show_table, shown_rows, table_height

# The original is shown up to this size (the whole file is a download). Chromium draws
# about 25 ms of syntax highlighting per KiB: a 300 KiB report took 6 s, so only originals
# up to XML_HIGHLIGHT_BYTES (the usual report of a few records) are highlighted.
XML_SHOWN_BYTES = 100_000
XML_HIGHLIGHT_BYTES = 16_000
XML_HEIGHT = 1250  # about as tall as the report and policy tables beside it
ROWS_IN_VIEW = 20  # a report's rows shown without scrolling; more scroll in the table
META_FIELDS = (
    "reporter", "org_name", "email", "extra_contact_info", "report_id", "begin_utc", "end_utc",
    "format", "version", "generator", "errors", "records", "messages", "partial", "multi_day",
    "origin", "input_sha256", "ingested_at", "demo",
)  # fmt: skip
POLICY_FIELDS = (
    "policy_domain", "p", "sp", "np", "pct", "adkim", "aspf", "fo", "testing", "discovery_method",
)  # fmt: skip
# Cell colours behind the text (the text itself still says pass/fail): tints of the
# chart colours, so a result looks the same in tables and charts.
CELL_STYLES = {
    "pass": "background-color: #D3E6F3; color: #00385A",
    "fail": "background-color: #F7DCCB; color: #6B2F00",
    "none": "",
    "quarantine": "background-color: #FBEBC7; color: #5C4000",
    "reject": "background-color: #F7DCCB; color: #6B2F00",
}
RESULT_COLUMNS = ("disposition", "dkim", "spf")


def report_label(row: Any, zone: str) -> str:
    """The text of one report in the report picker (plain text, never Markdown). It ends
    with the report's key: the picker tells its options apart by their text, and two
    reports of one reporter, domain and day can have the same number of messages."""
    return t(
        "report.option",
        int(row.messages),
        begin=format_time(row.begin_utc, zone),
        reporter=row.reporter,
        domain=row.policy_domain,
        messages=f"{int(row.messages):,}",
        report_key=int(row.report_key),
    )


def show_report(page: Page, report_key: int) -> None:
    detail = page.lookup(insights.report_detail, report_key)
    if detail is None:
        st.warning(t("report.gone"))
        return
    # The report beside its original XML; the issues and the rows below at full width, so
    # that every column of a row shows (half the width showed 5 of 15).
    report_col, xml_col = st.columns(2)
    with report_col:
        st.markdown(f"**{t('section.report_meta')}**")
        meta = _metadata(detail.report, page.zone)
        show_table(meta, "reports_meta", page.zone, height=table_height(len(meta)))
        st.markdown(f"**{t('section.report_policy')}**")
        policy = _policy(detail.report)
        show_table(policy, "reports_policy", page.zone, height=table_height(len(policy)))
    with xml_col:
        st.markdown(f"**{t('section.report_xml')}**")
        _original(page, detail)
    st.markdown(f"**{t('section.report_issues')}**")
    if detail.issues.empty:
        st.caption(t("report.no_issues"))
    else:  # the whole width: the message is what a person reads
        show_table(detail.issues, "reports_issues", page.zone,
                   columns=["message", "code", "severity", "path"])  # fmt: skip
    st.markdown(f"**{t('section.report_rows', records=f'{len(detail.records):,}')}**")
    records = detail.records
    shown = records.head(shown_rows("reports_rows"))
    show_table(shown, "reports_rows", page.zone, total=len(records), all_rows=lambda: records,
               styler=_coloured, height=table_height(min(len(shown), ROWS_IN_VIEW)))  # fmt: skip



def _metadata(report: dict[str, Any], zone: str) -> pd.DataFrame:
    rows = []
    for name in META_FIELDS:
        value = report.get(name)
        if isinstance(value, datetime):
            value = format_time(value, zone)
        elif isinstance(value, list | tuple):
            value = "; ".join(str(v) for v in value)
        rows.append((t(f"meta.{name}", zone=zone), yes_no(value)))
    return pd.DataFrame(rows, columns=["field", "value"])


def _policy(report: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name in POLICY_FIELDS:
        effective = report.get(f"effective_{name}", report.get(name) if name == "policy_domain"
                               else None)  # fmt: skip
        rows.append((t(f"policy.{name}"), yes_no(report.get(name)), yes_no(effective)))
    return pd.DataFrame(rows, columns=["field", "reported", "effective"])


def _coloured(frame: pd.DataFrame) -> Any:
    columns = [c for c in RESULT_COLUMNS if c in frame.columns]
    return frame.style.map(lambda value: CELL_STYLES.get(str(value), ""), subset=columns)


@st.cache_data(show_spinner=False, max_entries=16)
def _payload(
    db: str, archive_dir: str, input_sha256: str, origin: str, _page: Page
) -> bytes | None:
    with connect(Path(db), _page.settings.lock_timeout) as con:
        return original_payload(con, Path(archive_dir), input_sha256, origin,
                                _page.settings.limits)  # fmt: skip


def _original(page: Page, detail: Any) -> None:
    settings = page.settings
    if detail.report.get("demo"):
        st.info(t("report.demo_no_original"))  # generated, never archived
        return
    data = _payload(str(settings.db), str(settings.archive_folder), detail.input_sha256,
                    detail.origin, page)  # fmt: skip
    if data is None:
        try:
            with connect(settings.db, settings.lock_timeout) as con:
                archived = has_original(con, settings.archive_folder, detail.input_sha256)
        except ValueError:
            archived = False
        if archived:
            st.info(t("report.no_payload"))
        else:
            st.info(t("report.no_archive", folder=markdown_code(str(settings.archive_folder))))
        return
    text = xml_text(data)
    if len(data) > XML_SHOWN_BYTES:
        st.caption(t("report.xml_too_big", size=_size(len(data)), shown=_size(XML_SHOWN_BYTES)))
        text = text[:XML_SHOWN_BYTES]
    st.download_button(t("report.download_xml"), data=data, file_name=_xml_name(detail.origin),
                       mime="application/xml", key="reports_xml_download", on_click="ignore",
                       icon=":material/download:")  # fmt: skip
    language = "xml" if len(text) <= XML_HIGHLIGHT_BYTES else None
    st.code(text, language=language, height=XML_HEIGHT)  # lines kept whole: scroll sideways


def _xml_name(origin: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._!-]+", "_", origin.rsplit("/", 1)[-1]) or "report"
    return name if name.lower().endswith(".xml") else name + ".xml"


def _size(count: int) -> str:
    return f"{count / 1024:,.0f} KiB"
