"""Overview: the headline numbers, messages per day, top sources and reporters, data quality.

Run the app with ``streamlit run app.py``; the other pages live in ``pages/``. The same
file makes the server (``app``): Streamlit's, plus the address of the record-level CSV
(``ui_routes``). The server imports this file for ``app`` alone; the page is drawn when
Streamlit runs the file as the Overview.
"""

import streamlit as st

from dmarc_analytics import charts, insights, ui, ui_overview, ui_routes
from dmarc_analytics.i18n import t
from dmarc_analytics.ui_ingest import demo_banner
from dmarc_analytics.ui_tables import show_table

TOP = 10

app = st.App("app.py", routes=ui_routes.routes())


def draw_overview() -> None:
    page = ui.page_setup("overview")
    ui.require_data(page, offer_demo=True)
    demo_banner(page)

    page.prefetch(
        ui.ask(insights.overview),
        ui.ask(
            insights.daily_messages, by=st.session_state.get("overview_by", "dmarc"), tz=page.zone
        ),
        ui.ask(insights.top_sources, limit=TOP),
        ui.ask(insights.reporters),
        ui.ask(insights.data_quality),
    )
    overview = page.query(insights.overview)
    ui_overview.overview_metrics(overview, page.zone)
    if not overview.messages:
        st.info(t("empty.filtered"))
        st.stop()

    st.subheader(t("section.daily"))
    by = st.segmented_control(
        t("daily.by"), ["dmarc", "disposition"], default="dmarc", required=True, key="overview_by",
        format_func=lambda value: t(f"daily.by_{value}"),
    )
    daily = page.query(insights.daily_messages, by=by, tz=page.zone)
    st.plotly_chart(charts.daily_messages(daily, by, page.zone, page.span), key="overview_daily")

    left, right = st.columns(2)
    with left:
        st.subheader(t("section.top_sources"))
        columns = ["source_ip", "messages", "dmarc_pass_rate", "header_from"]
        show_table(page.query(insights.top_sources, limit=TOP), "overview_sources", page.zone,
                   total=overview.source_ips, columns=columns,
                   all_rows=page.deferred(insights.top_sources), preview=True,
                   pick=("source_ip", "sources_ip"), pick_page=ui.PAGE_PATHS["sources"])
        ui_overview.failing_only_button(page)
        st.page_link(ui.PAGE_PATHS["sources"], label=t("page.sources"), icon=":material/dns:")
    with right:
        st.subheader(t("section.top_reporters"))
        reporters = page.query(insights.reporters)
        columns = ["reporter", "reports", "messages", "dmarc_pass_rate"]
        show_table(reporters.head(TOP), "overview_reporters", page.zone, total=len(reporters),
                   columns=columns, all_rows=lambda: reporters, preview=True)
        st.page_link(ui.PAGE_PATHS["reporters"], label=t("page.reporters"), icon=":material/inbox:")

    st.subheader(t("section.quality"))
    ui_overview.quality_metrics(page.query(insights.data_quality))


if __name__ == "__main__":  # a page run (the server's import of ``app`` draws nothing)
    draw_overview()
