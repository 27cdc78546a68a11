"""Plotly figures for the pages, built with ``go.Figure`` (much cheaper than plotly express).

One colour-blind-safe palette (Okabe–Ito) serves every chart, and a meaning keeps its
colour everywhere: DMARC pass is blue and fail vermillion on every page, and each
disposition has its own fixed colour. Text that comes from reports (series names,
reporters, IPs) is HTML-escaped, because plotly renders some HTML in labels and hover text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

import pandas as pd
import plotly.graph_objects as go

from dmarc_analytics.i18n import t, visible_controls

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
PASS_COLOUR = OKABE_ITO["blue"]
FAIL_COLOUR = OKABE_ITO["vermillion"]
RESULT_COLOURS = {"pass": PASS_COLOUR, "fail": FAIL_COLOUR}
DISPOSITION_COLOURS = {
    "pass": PASS_COLOUR,
    "none": OKABE_ITO["sky_blue"],
    "quarantine": OKABE_ITO["orange"],
    "reject": FAIL_COLOUR,
}
OTHER_COLOURS = (
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["yellow"],
    OKABE_ITO["black"],
)
BAR_DAYS = 62  # daily charts over more days are drawn as stacked areas
RESULT_ORDER = ("pass", "fail")
DISPOSITION_ORDER = ("pass", "none", "quarantine", "reject")
_LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1,
               "traceorder": "normal"},
    "hovermode": "x unified",
    "height": 360,
}


LABEL_CHARS = 40  # longer category labels are cut (in full in the hover text)


def escape(value: object) -> str:
    """Report text made safe for plotly labels: ``<``, ``>`` and ``&`` as entities, and
    characters that reorder text shown by name."""
    return html.escape(visible_controls("" if value is None else str(value)), quote=False)


def short_label(value: object) -> str:
    """An escaped category label of at most ``LABEL_CHARS`` characters."""
    text = visible_controls("" if value is None else str(value))
    if len(text) > LABEL_CHARS:
        text = text[: LABEL_CHARS - 1] + "…"
    return html.escape(text, quote=False)


def series_label(value: str, kind: str = "result") -> str:
    """The legend text for a series value: a DMARC ``result`` or a ``disposition``."""
    try:
        return t(f"series.{kind}.{value}")
    except KeyError:
        return escape(value)


def colours_for(values: Iterable[str], fixed: Mapping[str, str]) -> dict[str, str]:
    """Fixed colours for known values; the rest of the palette, in order, for others."""
    result, spare = {}, iter(OTHER_COLOURS * 4)
    for value in values:
        result[value] = fixed.get(value) or next(spare, OKABE_ITO["black"])
    return result


def _ordered(values: Iterable[str], order: tuple[str, ...]) -> list[str]:
    present = list(dict.fromkeys(values))
    known = [v for v in order if v in present]
    return known + sorted(v for v in present if v not in order)


FEW_DAYS = 8
DAY_MS = 86_400_000


def stacked_days(
    frame: pd.DataFrame,
    series_column: str,
    title: str,
    zone: str = "UTC",
    by_disposition: bool = False,
    weekly_title: str | None = None,
) -> go.Figure:
    """Messages per day stacked by ``series_column``: bars over up to ``BAR_DAYS`` days, else
    stacked areas (one shape per series instead of one bar per day and series, which the
    browser draws several times faster for a year of days); days without messages are 0.
    With ``weekly_title``, a longer span is summed per week (from Monday) under that title."""
    order = DISPOSITION_ORDER if by_disposition else RESULT_ORDER
    fixed = DISPOSITION_COLOURS if by_disposition else RESULT_COLOURS
    series = frame[series_column].astype(str)
    values = _ordered(series, order)
    colours = colours_for(values, fixed)
    hover = "%{y:,} " + t("chart.messages_hover")
    days = pd.date_range(frame["day"].min(), frame["day"].max(), freq="D") if len(frame) else None
    if days is not None and len(days) <= BAR_DAYS:
        days = None
    axis = t("chart.day_axis", zone=escape(zone))
    if days is not None and weekly_title is not None:
        stamps = pd.to_datetime(frame["day"])
        starts = stamps - pd.to_timedelta(stamps.dt.day_of_week, unit="D")  # the week's Monday
        frame = frame.assign(day=starts.dt.date)
        days = pd.date_range(starts.min(), starts.max(), freq="7D")
        title, axis = weekly_title, t("chart.week_axis", zone=escape(zone))
    traces = []
    for value in values:
        part = frame[series == value]
        name = series_label(value, "disposition" if by_disposition else "result")
        if days is None:
            traces.append({"type": "bar", "x": part["day"], "y": part["messages"], "name": name,
                           "marker": {"color": colours[value]}, "hovertemplate": hover})
            continue
        daily = part.groupby(pd.to_datetime(part["day"]))["messages"].sum()
        daily = daily.reindex(days, fill_value=0)
        traces.append({
            "type": "scatter", "x": days.date, "y": daily.to_numpy(), "name": name,
            "mode": "lines", "stackgroup": "days", "hovertemplate": hover,
            "line": {"width": 0.5, "color": colours[value]}, "fillcolor": colours[value],
        })  # fmt: skip
    xaxis: dict = {"title": {"text": axis}, "type": "date"}
    stamps = pd.to_datetime(frame["day"]) if len(frame) else None
    if stamps is not None and (stamps.max() - stamps.min()).days < FEW_DAYS:
        # a tick per day: left to itself, Plotly marks hours (or fractions of a second)
        xaxis |= {"dtick": DAY_MS, "tickformat": "%Y-%m-%d"}
    return _figure(traces, {
        "barmode": "stack", "title": {"text": title}, "xaxis": xaxis,
        "yaxis": {"title": {"text": t("chart.messages_axis")}},
        **_LAYOUT,
    })  # fmt: skip


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """One figure built in one go: plotly validates the whole spec once, about three times
    faster than adding traces and updating the layout step by step."""
    return go.Figure(data=traces, layout=layout)


def daily_messages(frame: pd.DataFrame, by: str = "dmarc", zone: str = "UTC") -> go.Figure:
    """The Overview chart: ``insights.daily_messages`` stacked by DMARC result or disposition."""
    by = "disposition" if by == "disposition" else "dmarc"
    return stacked_days(frame, "series", t(f"chart.daily_title.{by}"), zone, by == "disposition")


def disposition_over_time(frame: pd.DataFrame, zone: str = "UTC") -> go.Figure:
    """The disposition mix: per day, or per week over more than ``BAR_DAYS`` days."""
    return stacked_days(frame, "disposition", t("chart.disposition_title"), zone, True,
                        weekly_title=t("chart.disposition_title_week"))  # fmt: skip


def source_timeline(frame: pd.DataFrame, source_ip: str, zone: str = "UTC") -> go.Figure:
    return stacked_days(frame, "series", t("chart.timeline_title", ip=escape(source_ip)), zone)


def reporters(frame: pd.DataFrame, top: int = 15) -> go.Figure:
    """Horizontal bars per reporter, split into DMARC pass and fail messages."""
    part = frame.head(top).iloc[::-1]
    names = [escape(name) for name in part["reporter"]]  # the categories, in full
    labels = [short_label(name) for name in part["reporter"]]
    passed = (part["messages"] * part["dmarc_pass_rate"]).round().astype("int64")
    failed = part["messages"].astype("int64") - passed
    hover = "%{x:,} " + t("chart.messages_hover")  # the unified hover names the reporter
    traces = [
        {"type": "bar", "y": names, "x": numbers, "orientation": "h",
         "name": series_label(value), "marker": {"color": RESULT_COLOURS[value]},
         "hovertemplate": hover}
        for value, numbers in (("pass", passed), ("fail", failed))
    ]  # fmt: skip
    return _figure(traces, {
        **_LAYOUT, "hovermode": "y unified", "height": max(260, 60 + 28 * len(part)),
        "barmode": "stack",
        "title": {"text": t("chart.reporters_title") if len(frame) <= top
                  else t("chart.reporters_title_top", top=top, total=len(frame))},
        "xaxis": {"title": {"text": t("chart.messages_axis")}},
        "yaxis": {"title": {"text": t("chart.reporter_axis")}, "type": "category",
                  "tickmode": "array", "tickvals": names, "ticktext": labels},
    })  # fmt: skip
