"""Sources: one row per sending IP, and one IP in detail (records, DKIM/SPF, timeline)."""

import streamlit as st

from dmarc_analytics import charts, insights, ui
from dmarc_analytics.i18n import t
from dmarc_analytics.ui_ingest import demo_banner
from dmarc_analytics.ui_tables import show_source_summary, show_table, shown_rows

page = ui.page_setup("sources")
ui.require_data(page)
demo_banner(page)  # the numbers below include made-up reports

picked = st.session_state.get("sources_ip")
if st.session_state.pop(ui.StateKeys.OPENED_BY_ROW, False) and picked:  # its detail is far below
    st.info(t("drill.opened", ip=ui.markdown_code(str(picked))))
st.subheader(t("section.sources"))
sources = page.query(insights.top_sources, limit=shown_rows("sources"))
show_table(sources, "sources", page.zone, total=page.query(insights.count_sources),
           all_rows=page.deferred(insights.top_sources), pick=("source_ip", "sources_ip"))
ui.records_csv_download(page)

st.subheader(t("section.drill"), anchor="source-detail")
ip = st.selectbox(t("drill.pick"), ui.with_picked(sources["source_ip"].tolist(), "sources_ip"),
                  index=None,
                  key="sources_ip", help=t("drill.pick_help"), accept_new_options=True,
                  placeholder=t("drill.pick_placeholder"))  # fmt: skip
if ip is None:
    st.caption(t("drill.none"))
    st.stop()
ip = ui.typed_source_ip(ip)

summary = page.query(insights.source_summary, ip)
if summary.empty:
    shown = ui.markdown_code(ip)
    st.info(t("drill.no_mail" if ui.is_ip_address(ip) else "drill.not_an_address", ip=shown))
    st.stop()
st.markdown(f"**{t('section.drill_summary')}**")
show_source_summary(summary, page.zone)
timeline = page.query(insights.source_timeline, ip, tz=page.zone)
st.plotly_chart(charts.source_timeline(timeline, ip, page.zone, page.span), key="sources_timeline")
dkim, spf = page.query(insights.source_auth, ip)
left, right = st.columns(2)
with left:
    st.markdown(f"**{t('section.drill_dkim')}**")
    # the messages before the selector, which can be long enough to push them out of sight
    show_table(dkim, "sources_dkim", page.zone, empty=t("drill.no_dkim"),
               columns=["domain", "result", "aligned", "messages", "selector"])
with right:
    st.markdown(f"**{t('section.drill_spf')}**")
    show_table(spf, "sources_spf", page.zone, empty=t("drill.no_spf"),
               columns=["domain", "result", "aligned", "messages", "scope"])

st.markdown(f"**{t('section.drill_records', ip=ui.markdown_code(ip))}**")
records = page.query(insights.source_records, ip, limit=shown_rows("sources_records"))
show_table(records, "sources_records", page.zone,
           all_rows=page.deferred(insights.source_records, ip))
