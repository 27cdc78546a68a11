"""Tables: column configuration from the catalogue, times in the chosen zone, "show more",
and a CSV download with the same columns and every matching row.

Column labels and formats are looked up by the library's column names, so every page
formats a rate, a count or a time the same way. Report data stays text: tables go through
``st.dataframe``, never through Markdown or HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from dmarc_analytics.charts import PASS_COLOUR
from dmarc_analytics.export import frame_to_csv_bytes
from dmarc_analytics.i18n import domain_display, percent, t, visible_controls

STEP = 1000  # rows shown at first, and added by each "show more"
# A table with coloured cells goes through pandas' Styler, which writes HTML and CSS for
# every cell: 1,000 rows of one report took 0.4 s on the server and about 1 s to draw.
STYLED_STEP = 250
_STEPS = {"reports_rows": STYLED_STEP}
RATE_COLUMNS = frozenset({"dmarc_pass_rate", "spf_aligned_rate", "dkim_aligned_rate"})
SHARE_COLUMNS = frozenset({"share"})
COUNT_COLUMNS = frozenset({
    "messages", "count", "reports", "records", "days_covered", "gap_days", "max_records",
    "issues", "duplicates", "conflicts", "partial_reports", "rejected_parts", "report_key",
    "ordinal",
})  # fmt: skip
DATETIME_COLUMNS = frozenset({"first_seen", "last_seen", "begin_utc", "end_utc", "ingested_at"})
DATE_COLUMNS = frozenset({"first_day", "last_day", "day"})
WIDE_TEXT_COLUMNS = frozenset({"reason", "comment", "message", "meaning"})  # sentences
# A sentence column drawn narrower, to leave room beside it (an IP's summary: its numbers).
MEDIUM_TEXT_COLUMNS = frozenset({"meaning"})
# A sentence longer than a wide column holds on one line (a rejected file's reason, what an
# IP's mail shows) makes its table's rows tall enough for the longest, up to six lines: the
# grid wraps text only in rows taller than 4rem, and a cut-off reason is the one thing the
# row is there for (the CSV has it whole, however long).
WRAP_CHARS = 48  # about what a "large" column (400 px) shows of a sentence on a line
WRAP_CHARS_MEDIUM = 28  # and a "medium" one (200 px)
WRAP_ROW_HEIGHT = 70  # three lines, the least a wrapping row is given
WRAP_LINE_PX, WRAP_PADDING_PX, WRAP_MAX_LINES = 20, 10, 6
# Columns of domain names: an internationalised one is shown in its script beside its ASCII
# form (``i18n.domain_display``); the CSV keeps the ASCII form that is stored.
DOMAIN_COLUMNS = frozenset({
    "policy_domain", "header_from", "envelope_from", "envelope_to", "domain", "domains",
    "dkim_results", "spf_results", "reporter", "reporters",
})  # fmt: skip


def localize(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    """Naive UTC datetime columns as tz-aware times in ``zone`` (for display and CSV alike)."""
    frame = frame.copy()
    for column in frame.columns:
        if column in DATETIME_COLUMNS and pd.api.types.is_datetime64_any_dtype(frame[column]):
            values = frame[column]
            if values.dt.tz is None:
                values = values.dt.tz_localize("UTC")
            frame[column] = values.dt.tz_convert(zone)
    return frame


CSV_TIME = "%Y-%m-%d %H:%M:%S"  # what Excel reads as a time (an offset or a "T" it does not)
CSV_DECIMALS = 4  # rates and shares: 0.9997, the page's 99.97 %


def csv_frame(frame: pd.DataFrame, zone: str) -> pd.DataFrame:
    """A table as its CSV holds it, in a form a spreadsheet reads as the page shows it: the
    page's column labels (a time's label names its zone), times in ``zone`` as
    ``YYYY-MM-DD HH:MM:SS``, ``true``/``false`` as in the record-level CSV, and rates,
    shares and other fractions rounded as the page rounds them."""
    frame = localize(frame, zone)
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.strftime(CSV_TIME)
        elif pd.api.types.is_bool_dtype(values):
            values = values.map({True: "true", False: "false"})
        elif name in RATE_COLUMNS or name in SHARE_COLUMNS:
            values = _csv_fraction(values.astype("float64"))
        elif pd.api.types.is_float_dtype(values):  # shown as %.1f: 7.3, not 7.333333333333333
            values = values.round(1)
        label = _label(name, zone)
        columns[label if label not in columns else f"{label} ({name})"] = values
    return pd.DataFrame(columns, index=frame.index)


def _csv_fraction(values: pd.Series) -> pd.Series:
    """Rates and shares to ``CSV_DECIMALS`` places, with more where that would round a
    fraction strictly between 0 and 1 to 0 or 1 (29,999 of 30,000 is 0.99997, not 1.0)."""
    rounded = values.round(CSV_DECIMALS)
    for decimals in range(CSV_DECIMALS + 1, _CSV_DECIMALS_MAX + 1):
        hidden = (values > 0) & (values < 1) & ((rounded == 0) | (rounded == 1))
        if not hidden.any():
            return rounded
        rounded = rounded.mask(hidden, values.round(decimals))
    # closer to 0 or 1 than that (one message in billions): the nearest value short of it
    nearest = 10.0**-_CSV_DECIMALS_MAX
    hidden = (values > 0) & (values < 1) & ((rounded == 0) | (rounded == 1))
    return rounded.mask(hidden, values.clip(nearest, 1 - nearest))


_CSV_DECIMALS_MAX = 9


# The grid's percent format shows at most two decimals (99.997 % reads "100%"): a rate
# strictly between 0 and 1 is shown no closer to either than these (as ``i18n.percent``
# does in words).
_SHOWN_LOW, _SHOWN_HIGH = 0.0001, 0.9999


def _shown_fractions(frame: pd.DataFrame) -> pd.DataFrame:
    """Rates and shares as the grid can show them honestly: never 0 % or 100 % unless exact."""
    names = [c for c in frame.columns if c in RATE_COLUMNS or c in SHARE_COLUMNS]
    if not names:
        return frame
    changes = {}
    for name in names:
        values = frame[name].astype("float64")
        between = (values > 0) & (values < 1)
        changes[name] = values.mask(between, values.clip(_SHOWN_LOW, _SHOWN_HIGH))
    return frame.assign(**changes)


def _shown_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as shown: missing text as an empty cell (the grid writes "None", which
    reads like a value the report gave), characters that reorder text shown by name."""
    text = [
        c
        for c in frame.columns
        if c not in DATE_COLUMNS
        and (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c]))
    ]
    if not text:
        return frame
    return frame.assign(**{
        c: frame[c].map(_shown_domains if c in DOMAIN_COLUMNS else _shown_cell) for c in text
    })  # fmt: skip


def _shown_cell(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return visible_controls(value) if isinstance(value, str) else value


def _shown_domains(value: object) -> object:
    shown = _shown_cell(value)
    return domain_display(shown) if isinstance(shown, str) else shown


def column_config(frame: pd.DataFrame, zone: str) -> dict[str, Any]:
    """Labels from the catalogue (``col.<name>``) and formats by name and type of column."""
    config: dict[str, Any] = {}
    for name in frame.columns:
        label = _label(name, zone)
        dtype = frame[name].dtype
        if name in RATE_COLUMNS:
            config[name] = st.column_config.ProgressColumn(
                label, format="percent", min_value=0.0, max_value=1.0, color=PASS_COLOUR
            )
        elif name in SHARE_COLUMNS:
            config[name] = st.column_config.NumberColumn(label, format="percent")
        elif pd.api.types.is_bool_dtype(dtype):
            config[name] = st.column_config.CheckboxColumn(label)
        elif pd.api.types.is_integer_dtype(dtype) or name in COUNT_COLUMNS:
            config[name] = st.column_config.NumberColumn(label, format="localized")
        elif pd.api.types.is_float_dtype(dtype):
            config[name] = st.column_config.NumberColumn(label, format="%.1f")
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            config[name] = st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm:ss")
        elif name in DATE_COLUMNS:
            config[name] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
        else:
            width = (
                "medium" if name in MEDIUM_TEXT_COLUMNS
                else "large" if name in WIDE_TEXT_COLUMNS else None
            )  # fmt: skip
            config[name] = st.column_config.TextColumn(label, width=width)
    return config


def _label(name: str, zone: str) -> str:
    try:
        return t(f"col.{name}", zone=zone)
    except KeyError:
        return name


GO_TO = "_pick_go_to"  # the page a row click leads to, read at the next page setup


def _picker(
    frame: pd.DataFrame, key: str, column: str, target: str, page: str | None = None
) -> Callable[[], None]:
    values = frame[column].tolist()

    def on_select() -> None:
        rows = st.session_state[f"{key}_table"].selection.rows
        if rows and rows[0] < len(values):
            value = values[rows[0]]
            st.session_state[target] = value.item() if hasattr(value, "item") else value
            if page is not None:
                st.session_state[GO_TO] = page

    return on_select


def wrapped_row_height(frame: pd.DataFrame) -> int | None:
    """The row height that shows a table's longest sentence whole (up to ``WRAP_MAX_LINES``
    lines), or None when every sentence fits on one line of its column."""
    lines = 1
    for name in WIDE_TEXT_COLUMNS.intersection(frame.columns):
        longest = frame[name].astype("string").str.len().max()
        if pd.notna(longest):
            per_line = WRAP_CHARS_MEDIUM if name in MEDIUM_TEXT_COLUMNS else WRAP_CHARS
            lines = max(lines, -(-int(longest) // per_line))
    if lines <= 1:
        return None
    return max(WRAP_ROW_HEIGHT, WRAP_PADDING_PX + WRAP_LINE_PX * min(lines, WRAP_MAX_LINES))


def table_height(rows: int) -> int:
    """A height that shows ``rows`` rows without scrolling (for short tables)."""
    return 38 + 35 * max(rows, 1)


def shown_rows(key: str) -> int:
    """How many rows the table ``key`` shows now (grows by its step with "show more")."""
    return int(st.session_state.get(f"{key}_rows", step_of(key)))


def step_of(key: str) -> int:
    """The rows the table ``key`` shows at first and adds with each "show more"."""
    return _STEPS.get(key, STEP)


def _show_more(key: str) -> None:
    st.session_state[f"{key}_rows"] = shown_rows(key) + step_of(key)


def show_table(
    frame: pd.DataFrame,
    key: str,
    zone: str = "UTC",
    total: int | None = None,
    all_rows: Callable[[], pd.DataFrame] | None = None,
    styler: Callable[[pd.DataFrame], Any] | None = None,
    height: int | str = "auto",
    columns: list[str] | None = None,
    preview: bool = False,
    pick: tuple[str, str] | None = None,
    empty: str | None = None,
    pick_page: str | None = None,
) -> None:
    """A table with its configuration, a "show more" control and a CSV of all its rows.

    ``frame`` holds the rows to show; ``total`` the number of rows the filter matches (None:
    unknown, and "show more" is offered while the frame fills ``shown_rows(key)``);
    ``all_rows`` returns every matching row (for the CSV, run only when downloaded);
    ``columns`` picks the columns to show, and the CSV has the same ones; a ``preview``
    (the top rows of a table another page shows in full) has no "show more". With
    ``pick = (column, state key)``, clicking a row puts its ``column`` value in the state key
    (the value of the picker below the table), and with ``pick_page`` the next run opens
    that page (where the picker is; see ``ui.page_setup``). ``empty``: what an empty table
    says, when more is known than that nothing matches the filter.
    """
    if columns is not None:
        frame = frame[columns]
    shown = _shown_fractions(_shown_text(localize(frame, zone)))
    if shown.empty:
        st.caption(empty or t("table.empty"))
    else:
        data = styler(shown) if styler is not None else shown
        selection: dict[str, Any] = {}
        if pick is not None:
            selection = {"on_select": _picker(frame, key, *pick, pick_page),
                         "selection_mode": "single-row"}  # fmt: skip
        st.dataframe(
            data,
            column_config=column_config(shown, zone),
            hide_index=True,
            width="stretch",
            height=height,
            key=f"{key}_table",
            row_height=wrapped_row_height(shown),
            **selection,
        )
    more = total > len(frame) if total is not None else len(frame) >= shown_rows(key)
    rows = all_rows if all_rows is not None else (lambda: frame)
    picked = list(frame.columns)
    with st.container(horizontal=True, vertical_alignment="center"):
        if more:
            shown_text = f"{len(frame):,}"
            st.caption(t("table.rows", shown=shown_text, total=f"{total:,}") if total is not None
                       else t("table.rows_more", shown=shown_text))  # fmt: skip
            if not preview:
                st.button(t("table.more", step=f"{step_of(key):,}"), key=f"{key}_more",
                          on_click=_show_more, args=(key,))  # fmt: skip
        csv_download(
            t("table.csv", total, total=f"{total:,}") if total is not None else t("table.csv_all"),
            lambda: frame_to_csv_bytes(csv_frame(rows()[picked], zone)),
            f"{key}.csv",
            key=f"{key}_csv",
        )


def download_name(file_name: str, day: date | None = None) -> str:
    """The app, the table and the day: ``sources.csv`` → ``dmarc-sources-2026-11-28.csv``,
    so that downloads made on other days keep their own names."""
    stem, dot, suffix = file_name.rpartition(".")
    stem = stem.replace("_", "-").removeprefix("dmarc-")
    return f"dmarc-{stem}-{(day or date.today()).isoformat()}{dot}{suffix}"


def csv_download(label: str, make: Callable[[], Any], file_name: str, key: str,
                 help: str | None = None, mime: str = "text/csv") -> None:  # fmt: skip
    """A download button whose CSV (bytes or a file open for reading) is built only when it
    is clicked, named by ``download_name``."""
    st.download_button(
        label,
        data=make,
        file_name=download_name(file_name),
        mime=mime,
        key=key,
        help=help,
        on_click="ignore",
        icon=":material/download:",
    )


def _in_words(codes: pd.Series, prefix: str) -> pd.Series:
    """Code words (a verdict, a category) as the catalogue's text ``<prefix>.<code>``."""
    return codes.map(lambda code: t(f"{prefix}.{code}"))


def show_source_summary(frame: pd.DataFrame, zone: str) -> None:
    """``insights.source_summary`` in words: what each part of an IP's mail shows."""
    words = frame.assign(
        meaning=_in_words(frame["category"], "source.meaning"),
        category=_in_words(frame["category"], "source.category"),
    )
    show_table(words, "sources_summary", zone,
               columns=["category", "messages", "share", "meaning", "domains"])  # fmt: skip


def mail_summary_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``insights.mail_summary`` as its static table shows it: labelled columns of text."""
    return pd.DataFrame({
        t("col.category"): _in_words(frame["category"], "source.category").tolist(),
        t("col.messages"): [f"{int(m):,}" for m in frame["messages"]],
        t("col.share"): [percent(float(s)) for s in frame["share"]],
        t("col.meaning"): _in_words(frame["category"], "source.meaning").tolist(),
    })  # fmt: skip


def mail_summary_text(frame: pd.DataFrame) -> list[str]:
    """The sentences over the table: what fails DMARC (so what p=reject would have rejected),
    split by what it shows, and what passes by SPF alone."""
    messages = dict(zip(frame["category"], frame["messages"].astype(int), strict=True))
    total = sum(messages.values())
    failing = messages.get("nothing", 0) + messages.get("unaligned", 0)
    if failing:
        parts = t("mail.part.join").join(
            t(f"mail.part.{kind}", messages=f"{messages[kind]:,}")
            for kind in ("unaligned", "nothing") if messages.get(kind)
        )  # fmt: skip
        lines = [t("mail.failing", failing, failing=f"{failing:,}", total=f"{total:,}",
                   share=percent(failing / total), parts=parts)]  # fmt: skip
    else:
        lines = [t("mail.all_pass", total, total=f"{total:,}")]
    spf_only = messages.get("spf_only", 0)
    if spf_only:
        lines.append(t("mail.spf_only", spf_only, messages=f"{spf_only:,}",
                       share=percent(spf_only / total)))  # fmt: skip
    return lines


def show_mail_summary(frame: pd.DataFrame, key: str, zone: str) -> None:
    """What the filter's mail shows, in sentences and a static table of our own words and
    numbers (no report text: ``st.table`` renders Markdown), with a CSV of the numbers."""
    if frame.empty:
        st.caption(t("table.empty"))
        return
    for line in mail_summary_text(frame):
        st.caption(line)
    st.table(mail_summary_frame(frame), width="content", hide_index=True)
    words = frame.assign(category=_in_words(frame["category"], "source.category"))
    csv_download(t("table.csv_all"), lambda: frame_to_csv_bytes(csv_frame(words, zone)),
                 f"{key}.csv", key=f"{key}_csv")  # fmt: skip


def show_policy_applied(frame: pd.DataFrame, zone: str) -> None:
    """``insights.policy_applied`` with its verdicts in words and the unexplained total."""
    unexplained = int(frame.loc[frame["verdict"] == "unexplained", "messages"].sum())
    if unexplained:
        st.warning(t("policy.unexplained", unexplained, messages=f"{unexplained:,}"))
    words = frame.assign(verdict=_in_words(frame["verdict"], "policy.verdict"))
    show_table(words, "alignment_policy", zone)


def alignment_grid_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The SPF-aligned × DKIM-aligned matrix (``insights.alignment_matrix``) as a 2×2 frame
    of "messages (share)" texts, and the CSS of each cell (shaded by share)."""
    labels = {True: t("chart.aligned"), False: t("chart.not_aligned")}
    cells = {(bool(r.spf_aligned), bool(r.dkim_aligned)): (int(r.messages), float(r.share))
             for r in frame.itertuples()}  # fmt: skip
    order = (True, False)
    values = [[cells.get((spf, dkim), (0, 0.0)) for dkim in order] for spf in order]
    grid = pd.DataFrame(
        [[f"{messages:,} ({percent(share)})" for messages, share in row] for row in values],
        index=[t("matrix.spf", state=labels[spf]) for spf in order],
        columns=[t("matrix.dkim", state=labels[dkim]) for dkim in order],
    )
    css = pd.DataFrame([[_shade(share) for _, share in row] for row in values],
                       index=grid.index, columns=grid.columns)  # fmt: skip
    return grid, css


def alignment_grid(frame: pd.DataFrame, key: str, zone: str = "UTC") -> None:
    """The alignment matrix as a shaded 2×2 grid, with a CSV of the matrix in long form
    (spf_aligned, dkim_aligned, messages, share): one grid to draw instead of a chart and a
    table. A static table: four cells need no scrolling or sorting, and the interactive
    grid showed new values a frame or more after the rest of the page (90-130 ms later)."""
    grid, css = alignment_grid_frame(frame)
    st.caption(t("chart.matrix_title"))
    st.table(grid.style.apply(lambda _: css, axis=None), width="content")
    csv_download(t("table.csv_all"), lambda: frame_to_csv_bytes(csv_frame(frame, zone)),
                 f"{key}.csv", key=f"{key}_csv")  # fmt: skip


def _shade(share: float) -> str:
    """A cell colour from light grey (no messages) to the pass colour (all of them)."""
    low, high = (0xF2, 0xF2, 0xF2), tuple(int(PASS_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    rgb = "".join(f"{round(a + (b - a) * share):02x}" for a, b in zip(low, high, strict=True))
    return f"background-color: #{rgb}; color: {'white' if share > 0.5 else 'black'}"
