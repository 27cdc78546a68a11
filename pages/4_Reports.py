"""Reports: the list of reports, and one report read like a person would (with its XML)."""

from types import SimpleNamespace

import streamlit as st

from dmarc_analytics import insights, ui
from dmarc_analytics.i18n import t
from dmarc_analytics.ui_filter import linked_pick
from dmarc_analytics.ui_ingest import demo_banner
from dmarc_analytics.ui_report import report_label, show_report
from dmarc_analytics.ui_tables import show_table, shown_rows

page = ui.page_setup("reports")
ui.require_data(page)
demo_banner(page)  # the numbers below include made-up reports

st.subheader(t("section.reports"))
ui.check_linked_choice("reports_kind", ["all", *insights.REPORT_KINDS], "listed")
shown = st.columns(3)[0].selectbox(
    t("reports.kind"), ["all", *insights.REPORT_KINDS], key="reports_kind",
    format_func=lambda k: t(f"reports.kind.{k}"), help=t("reports.kind_help"),
)  # fmt: skip
kind = None if shown == "all" else shown
if kind is not None:  # the sentence at the top describes the filter, not this narrowing
    st.caption(t("reports.kind_note", kind=t(f"reports.kind.{kind}")))
reports = page.query(insights.report_list, limit=shown_rows("reports"), kind=kind)
show_table(reports, "reports", page.zone, total=page.query(insights.count_reports, kind=kind),
           all_rows=page.deferred(insights.report_list, kind=kind),
           pick=("report_key", "reports_pick"))  # fmt: skip
ui.records_csv_download(page)

st.subheader(t("section.report"))
labels = {int(row.report_key): report_label(row, page.zone) for row in reports.itertuples()}
picked = st.session_state.get("reports_pick")
if isinstance(picked, int) and picked not in labels:  # picked before the list changed
    detail = page.lookup(insights.report_detail, picked)
    if detail is not None:
        labels[picked] = report_label(SimpleNamespace(**detail.report), page.zone)
key = st.selectbox(t("report.pick"), ui.with_picked(list(labels), "reports_pick"), index=None,
                   key="reports_pick",
                   format_func=lambda k: labels.get(k, str(k)), help=t("report.pick_help"),
                   accept_new_options=True, placeholder=t("report.pick_placeholder"))  # fmt: skip
if isinstance(key, str):  # typed (a report ID or a report key), or from a link
    linked = linked_pick("reports_pick") == key
    find = insights.find_linked_report if linked else insights.find_reports
    found = page.lookup(find, key)
    if not found:
        st.info(t("report.not_found", text=ui.markdown_code(key)))
        st.stop()
    if len(found) > 1:
        st.caption(t("report.several", reports=f"{len(found):,}",
                     keys=", ".join(f"#{k}" for k in found)))  # fmt: skip
    key = found[0]
if key is not None:
    link = page.lookup(insights.report_link, key)
    if link is not None:  # by its report ID where unique: a re-parse renumbers reports
        ui.name_in_link("report", st.session_state["reports_pick"], link)
    show_report(page, key)
