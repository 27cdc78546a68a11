"""The Overview's own parts: the headline numbers, the data-quality counts and the way
from the top sources to the senders that fail."""

from __future__ import annotations

import streamlit as st

from dmarc_analytics import insights
from dmarc_analytics.filters import Filter
from dmarc_analytics.i18n import percent, t
from dmarc_analytics.ui import PAGE_PATHS, Page, StateKeys, format_time
from dmarc_analytics.ui_tables import GO_TO


def overview_metrics(overview: insights.Overview, zone: str) -> None:
    """The six headline numbers (labels fixed by the spec) and the period they cover."""
    rate = overview.dmarc_pass_rate
    values = (
        ("messages", f"{overview.messages:,}"),
        ("dmarc_pass_rate", "—" if rate is None else percent(rate)),
        ("reports", f"{overview.reports:,}"),
        ("reporters", f"{overview.reporters:,}"),
        ("source_ips", f"{overview.source_ips:,}"),
        ("domains", f"{overview.domains:,}"),
    )
    for row in (values[:3], values[3:]):
        for column, (name, value) in zip(st.columns(3), row, strict=True):
            column.metric(t(f"metric.{name}"), value, help=t(f"metric.help.{name}"), border=True)
    if overview.begin is None or overview.end is None:
        st.caption(t("span.none"))
    else:
        st.caption(
            t(
                "span.caption",
                begin=format_time(overview.begin, zone),
                end=format_time(overview.end, zone),
                zone=zone,
            )
        )


QUALITY_FIELDS = (
    "reports_with_issues", "partial_reports", "conflicts", "multi_day_reports",
    "doubtful_reports",
)  # fmt: skip


# The Reports page's list of the reports behind each count (``insights.REPORT_KINDS``).
QUALITY_KINDS = {
    "reports_with_issues": "issues", "partial_reports": "partial", "conflicts": "conflicts",
    "multi_day_reports": "multi_day", "doubtful_reports": "doubtful",
}  # fmt: skip


def quality_metrics(quality: insights.DataQuality) -> None:
    """The data-quality counts, each with a sentence on what it means and, when it is not
    0, a way to the reports behind it (the Reports page, narrowed to them)."""
    values = [int(getattr(quality, name)) for name in QUALITY_FIELDS]
    for column, name, value in zip(st.columns(len(values)), QUALITY_FIELDS, values, strict=True):
        column.metric(t(f"metric.{name}"), f"{value:,}", help=t(f"metric.help.{name}"))
        if value:
            column.button(t("quality.link"), key=f"overview_quality_{name}", type="tertiary",
                          icon=":material/description:", on_click=_list_reports,
                          args=(QUALITY_KINDS[name],))  # fmt: skip
    if not any(values):
        st.caption(t("quality.fine"))


def _list_reports(kind: str) -> None:
    st.session_state["reports_kind"] = kind
    st.session_state[GO_TO] = PAGE_PATHS["reports"]  # opened by the next page setup


def failing_only_button(page: Page) -> None:
    """One click from the top sources (biggest first, mostly passing) to the senders that
    fail DMARC: the same page, filtered to failing mail."""
    if page.flt.dmarc is None:
        st.button(t("overview.only_failing"), key="overview_only_failing", type="tertiary",
                  icon=":material/filter_alt:", help=t("overview.only_failing_help"),
                  on_click=_narrow_filter, args=("dmarc", "fail"))  # fmt: skip


def _narrow_filter(name: str, value: str) -> None:
    flt: Filter = st.session_state[StateKeys.FILTER]
    st.session_state[StateKeys.FILTER] = flt.replace(**{name: value})
