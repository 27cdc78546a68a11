"""Alignment: dispositions over time, SPF × DKIM alignment, unaligned senders, overrides."""

import streamlit as st

from dmarc_analytics import charts, insights, ui
from dmarc_analytics.i18n import t
from dmarc_analytics.ui_ingest import demo_banner
from dmarc_analytics.ui_tables import (
    alignment_grid,
    show_mail_summary,
    show_policy_applied,
    show_table,
    shown_rows,
)

page = ui.page_setup("alignment")
ui.require_data(page)
demo_banner(page)  # the numbers below include made-up reports

page.prefetch(
    ui.ask(insights.mail_summary),
    ui.ask(insights.disposition_over_time, tz=page.zone),
    ui.ask(insights.alignment_matrix),
    ui.ask(insights.authenticated_unaligned, limit=shown_rows("alignment_unaligned")),
    ui.ask(insights.override_reasons),
)
st.subheader(t("section.mail_summary"))
show_mail_summary(page.query(insights.mail_summary), "alignment_summary", page.zone)

st.subheader(t("section.disposition_mix"))
mix = page.query(insights.disposition_over_time, tz=page.zone)
st.plotly_chart(charts.disposition_over_time(mix, page.zone, page.span), key="alignment_mix")

st.subheader(t("section.matrix"))
matrix = page.query(insights.alignment_matrix)
alignment_grid(matrix, "alignment_matrix", page.zone)

st.subheader(t("section.unaligned"))
st.caption(t("section.unaligned_caption"))
unaligned = page.query(insights.authenticated_unaligned, limit=shown_rows("alignment_unaligned"))
show_table(unaligned, "alignment_unaligned", page.zone,
           all_rows=page.deferred(insights.authenticated_unaligned),
           pick=("source_ip", "sources_ip"), pick_page=ui.PAGE_PATHS["sources"])  # fmt: skip

st.subheader(t("section.overrides"))
st.caption(t("section.overrides_caption"))
show_table(page.query(insights.override_reasons), "alignment_overrides", page.zone)

st.subheader(t("section.policy"))
st.caption(t("section.policy_caption"))
if st.toggle(t("policy.show"), key="alignment_policy", help=t("policy.show_help")):
    show_policy_applied(page.query(insights.policy_applied), page.zone)
