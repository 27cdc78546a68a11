"""Plotly figures for the pages, built with ``go.Figure`` (much cheaper than plotly express).

One colour-blind-safe palette (Okabe–Ito) serves every chart, and a meaning keeps its
colour everywhere: DMARC pass is blue and fail vermillion on every page, and each
disposition has its own fixed colour. Text that comes from reports (series names,
reporters, IPs) is HTML-escaped, because plotly renders some HTML in labels and hover text.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go

from dmarc_analytics.i18n import t, visible_controls
from dmarc_analytics.model import FIRST_DMARC_REPORTS

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
    "pass": OKABE_ITO["bluish_green"],  # delivered as passing: not DMARC pass's blue
    "none": OKABE_ITO["sky_blue"],
    "quarantine": OKABE_ITO["orange"],
    "reject": FAIL_COLOUR,
}
OTHER_COLOURS = (
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["yellow"],
    OKABE_ITO["black"],
)
BAR_DAYS = 62  # daily charts over more days are drawn as stacked areas
MONTHLY_AFTER_DAYS = 731  # over more days, messages are summed per month
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
FEW_MESSAGES = 10  # a y axis up to this many messages gets a tick per message
DAY_MS = 86_400_000
# A report dated before any DMARC report was sent has a wrong date, and drawing it would
# squeeze every real day into a sliver.
FIRST_CHART_DAY = datetime.fromtimestamp(FIRST_DMARC_REPORTS, UTC).date()
Span = tuple[date | None, date | None]


def stacked_days(
    frame: pd.DataFrame,
    series_column: str,
    title: str,
    zone: str = "UTC",
    by_disposition: bool = False,
    weekly_title: str | None = None,
    span: Span = (None, None),
    monthly_title: str | None = None,
) -> go.Figure:
    """Messages per day stacked by ``series_column``: bars over up to ``BAR_DAYS`` days (or
    with mail on no more than ``BAR_DAYS`` days), else stacked areas (one shape per series
    instead of one bar per day and series, which the browser draws several times faster
    for a year of days; as flat steps they took about 60 ms more to draw at 366 days); days
    without messages are 0. With ``weekly_title``, a
    longer span is summed per week (from Monday) under that title; with ``monthly_title``,
    a span of more than two years per month (thousands of days make a chart slow to send
    and draw, and a day in it is thinner than a pixel).

    ``span`` is the filter's first and last day: the axis covers it even where no report
    falls. Days before 2012 are left out (and counted in a subtitle) unless the filter's
    first day asks for them; so are days after tomorrow, which no report can be about yet."""
    since, until = span
    notes = []
    days_of = pd.to_datetime(frame["day"])
    if since is None or since >= FIRST_CHART_DAY:
        frame, days_of = _leave_out(frame, days_of, days_of < pd.Timestamp(FIRST_CHART_DAY),
                                    "chart.before_dmarc", notes)  # fmt: skip
    tomorrow = pd.Timestamp(date.today() + timedelta(days=1))
    frame, days_of = _leave_out(frame, days_of, days_of > tomorrow, "chart.in_future", notes)
    subtitle = _wrapped(notes) if notes else None
    order = DISPOSITION_ORDER if by_disposition else RESULT_ORDER
    fixed = DISPOSITION_COLOURS if by_disposition else RESULT_COLOURS
    series = frame[series_column].astype(str)
    values = _ordered(series, order)
    colours = colours_for(values, fixed)
    hover = "%{y:,} " + t("chart.messages_hover")
    first, last = _bounds(frame, since, until)
    days = pd.date_range(first, last, freq="D") if first is not None else None
    step = pd.Timedelta(days=1)
    if days is not None and len(days) <= BAR_DAYS:
        days = None
    axis = t("chart.day_axis", zone=escape(zone))
    monthly = monthly_title is not None and days is not None and len(days) > MONTHLY_AFTER_DAYS
    period: dict = {}  # weeks and months are bars across their period (few, so cheap)
    stamps = days_of  # each row's bucket (day, week or month), as datetimes: parsed once
    if monthly:
        stamps = stamps.dt.to_period("M").dt.start_time
        days = pd.date_range(pd.Timestamp(first).to_period("M").start_time, last, freq="MS")
        step = pd.DateOffset(months=1)
        title, axis = monthly_title, t("chart.month_axis", zone=escape(zone))
        period = {"xperiod": "M1", "width": DAY_MS * 24}
    elif days is not None and weekly_title is not None:
        stamps = stamps - pd.to_timedelta(stamps.dt.day_of_week, unit="D")  # the week's Monday
        monday = pd.Timestamp(first) - pd.Timedelta(days=pd.Timestamp(first).day_of_week)
        days = pd.date_range(monday, last, freq="7D")
        step = pd.Timedelta(days=7)
        title, axis = weekly_title, t("chart.week_axis", zone=escape(zone))
        period = {"xperiod": DAY_MS * 7, "width": DAY_MS * 6}
    elif days is not None and days_of.nunique() <= BAR_DAYS:
        # Few days with mail over a long span: a bar for each of them. As areas, a day of
        # one message between empty days would be drawn as a spike several days wide.
        days = None
    # One grouping for all series (a grouping and a date parse per series cost 30 ms of a
    # page's 0.8 s at a year of days).
    sums = None if days is None else (
        frame["messages"].groupby([stamps, series]).sum().unstack(fill_value=0)
    )  # fmt: skip
    traces = []
    for value in values:
        name = series_label(value, "disposition" if by_disposition else "result")
        if days is None:  # a bar is most of its day wide, also when it is alone
            part = frame[series == value]
            traces.append({"type": "bar", "x": part["day"], "y": part["messages"], "name": name,
                           "marker": {"color": colours[value]}, "hovertemplate": hover,
                           "width": DAY_MS * 0.8})  # fmt: skip
            continue
        assert sums is not None
        daily = sums[value].reindex(days, fill_value=0)
        if period:  # a sparse month among busy ones stays visible as a bar, not a spike
            traces.append({
                "type": "bar", "x": days.date, "y": daily.to_numpy(), "name": name,
                "marker": {"color": colours[value]}, "hovertemplate": hover,
                "xperiod0": _iso(days[0]), "xperiodalignment": "middle", **period,
            })  # fmt: skip
            continue
        traces.append({
            "type": "scatter", "x": days.date, "y": daily.to_numpy(), "name": name, "mode": "lines",
            "stackgroup": "days", "hovertemplate": hover,
            "line": {"width": 0.5, "color": colours[value]},
            "fillcolor": colours[value],
        })  # fmt: skip
    xaxis: dict = {"title": {"text": axis}, "type": "date"}
    if first is not None:
        if days is None:  # bars are centred on their day
            xaxis["range"] = [_iso(pd.Timestamp(first) - step / 2),
                              _iso(pd.Timestamp(last) + step / 2)]  # fmt: skip
        else:  # a step of room after the last day, so it is not drawn on the edge
            xaxis["range"] = [_iso(days[0]), _iso(days[-1] + step)]
        if (pd.Timestamp(last) - pd.Timestamp(first)).days < FEW_DAYS:
            # a tick per day: left to itself, Plotly marks hours (or fractions of a second)
            xaxis |= {"dtick": DAY_MS, "tickformat": "%Y-%m-%d"}
    yaxis: dict = {"title": {"text": t("chart.messages_axis")}, "rangemode": "tozero"}
    peak = (frame.groupby("day")["messages"].sum() if sums is None else sums.sum(axis=1)).max()
    if len(frame) and peak <= FEW_MESSAGES:
        yaxis |= {"dtick": 1, "tickformat": ",d"}  # no 0.2 of a message
    title_spec: dict = {"text": title}
    if subtitle is not None:
        title_spec["subtitle"] = {"text": subtitle}
    layout = {"barmode": "stack", "title": title_spec, "xaxis": xaxis, "yaxis": yaxis, **_LAYOUT}
    if subtitle is not None:  # the notes take the top; the legend goes under the chart
        lines = subtitle.count("<br>") + 1
        layout["margin"] = {**_LAYOUT["margin"], "t": 52 + SUBTITLE_LINE_PX * lines, "b": 50}
        layout["legend"] = {**_LAYOUT["legend"], "yref": "container", "y": 0,
                            "yanchor": "bottom", "xanchor": "left", "x": 0}  # fmt: skip
        layout["height"] = _LAYOUT["height"] + SUBTITLE_LINE_PX * lines
    return _figure(traces, layout)


SUBTITLE_CHARS = 75  # a subtitle line: what a chart in a narrow window shows of it
SUBTITLE_LINE_PX = 18


def _wrapped(notes: list[str]) -> str:
    """The notes under a chart's title, each on lines of at most ``SUBTITLE_CHARS``:
    Plotly does not wrap a subtitle, and a long one ran past the chart's edge."""
    return "<br>".join(line for note in notes for line in textwrap.wrap(note, SUBTITLE_CHARS))


def _leave_out(
    frame: pd.DataFrame, days: pd.Series, wrong: pd.Series, note: str, notes: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """The rows whose day is not ``wrong``; the messages left out, said in ``notes``."""
    if not wrong.any():
        return frame, days
    messages = int(frame.loc[wrong, "messages"].sum())
    notes.append(t(note, messages, messages=f"{messages:,}"))
    return frame[~wrong], days[~wrong]


def _bounds(frame: pd.DataFrame, since: date | None, until: date | None) -> Span:
    """The first and last day to draw: the data's, widened to the filter's span (but not
    past today: a link may say 2199)."""
    today = date.today()
    until = None if until is None else min(until, today)
    if not len(frame):
        return (since, until) if since is not None and until is not None else (None, None)
    first, last = frame["day"].min(), frame["day"].max()
    first = pd.Timestamp(first).date()
    last = pd.Timestamp(last).date()
    if since is not None and since < first:
        first = since
    if until is not None and until > last:
        last = until
    return first, last


def _iso(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M")


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """One figure built in one go: plotly validates the whole spec once, about three times
    faster than adding traces and updating the layout step by step."""
    return go.Figure(data=traces, layout=layout)


def daily_messages(
    frame: pd.DataFrame, by: str = "dmarc", zone: str = "UTC", span: Span = (None, None)
) -> go.Figure:
    """The Overview chart: ``insights.daily_messages`` stacked by DMARC result or disposition."""
    by = "disposition" if by == "disposition" else "dmarc"
    return stacked_days(frame, "series", t(f"chart.daily_title.{by}"), zone, by == "disposition",
                        span=span, monthly_title=t(f"chart.monthly_title.{by}"))  # fmt: skip


def disposition_over_time(
    frame: pd.DataFrame, zone: str = "UTC", span: Span = (None, None)
) -> go.Figure:
    """The disposition mix: per day, or per week over more than ``BAR_DAYS`` days."""
    return stacked_days(frame, "disposition", t("chart.disposition_title"), zone, True,
                        weekly_title=t("chart.disposition_title_week"), span=span,
                        monthly_title=t("chart.disposition_title_month"))  # fmt: skip


def source_timeline(
    frame: pd.DataFrame, source_ip: str, zone: str = "UTC", span: Span = (None, None)
) -> go.Figure:
    return stacked_days(frame, "series", t("chart.timeline_title", ip=escape(source_ip)), zone,
                        span=span, monthly_title=t("chart.timeline_title_month",
                                                   ip=escape(source_ip)))  # fmt: skip


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
