"""Reporters: per reporting organisation, coverage, volumes, the pass rates it sees and what
it did with the mail (messages per disposition)."""

import streamlit as st

from dmarc_analytics import charts, insights, ui
from dmarc_analytics.i18n import t
from dmarc_analytics.ui_ingest import demo_banner
from dmarc_analytics.ui_tables import show_table

page = ui.page_setup("reporters")
ui.require_data(page)
demo_banner(page)  # the numbers below include made-up reports

reporters = page.query(insights.reporters)
if not reporters.empty:
    st.plotly_chart(charts.reporters(reporters), key="reporters_chart")
st.subheader(t("section.reporters"))
show_table(reporters, "reporters", page.zone)
