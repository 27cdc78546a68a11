"""Everything Streamlit: page setup, navigation, the shared filter, cached queries, errors.

Each page script starts with ``page = ui.page_setup("<page key>")``. That call sets the page
config, ingests what is new in the drop folder (and keeps it watched), draws the sidebar
(page links, the filter, the time zone), mirrors the filter to the URL, writes the title and
the filter in words, and returns a ``Page`` whose ``query``/``lookup`` methods run library
questions through ``st.cache_data``, keyed by the filter and the data version.

The database is never held between page runs: every query opens a short-lived read-write
connection (``ui_connect``; DuckDB refuses read-only and read-write connections to one file
in the same process at the same time, and a long-lived connection would lock the CLI out).
"""

from __future__ import annotations

import contextlib
import html
import importlib
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from dmarc_analytics import i18n, insights, ui_routes
from dmarc_analytics.config import Settings, load_settings
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.filters import Filter
from dmarc_analytics.i18n import error_text, markdown_escape, single_address, t
from dmarc_analytics.parse_fields import normalise_ip
from dmarc_analytics.store import data_version, pending_migrations, reparse_started
from dmarc_analytics.ui_connect import connect
from dmarc_analytics.ui_dropfolder import Arrivals, scan_inbox, watch_inbox
from dmarc_analytics.ui_filter import (
    LINK_PROBLEMS,
    dates_in_zone,
    draw_filter,
    mirror_to_url,
    restore_filter,
)
from dmarc_analytics.ui_tables import GO_TO
from dmarc_analytics.zones import time_zones


class StateKeys:
    """Session-state keys shared by every page; page-specific ones start with the page key."""

    FILTER = "filter"
    FILTER_ERROR = "filter_error"
    TZ = "tz"
    UPLOADS = "ingest_uploads"
    UPLOADED_IDS = "ingest_uploaded_ids"
    NOTICE = "notice"  # a success message for the next run (after a rerun)
    NOTICE_ERROR = "notice_error"  # an error message for the next run
    INBOX_SEEN = "inbox_seen"  # the last drop-folder ingest this session has announced
    OPENED_BY_ROW = "opened_by_row"  # this page was opened by a row clicked on another


# (page key, script path relative to app.py); the sidebar shows them in this order.
PAGES: tuple[tuple[str, str], ...] = (
    ("overview", "app.py"),
    ("sources", "pages/1_Sources.py"),
    ("reporters", "pages/2_Reporters.py"),
    ("alignment", "pages/3_Alignment.py"),
    ("reports", "pages/4_Reports.py"),
    ("ingest", "pages/5_Ingest.py"),
)
PAGE_PATHS = dict(PAGES)
ZONES: tuple[str, ...] = time_zones()


@dataclass(frozen=True, slots=True)
class Question:
    """A library question and its arguments after ``(con, filter)``, for ``Page.prefetch``."""

    func: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def ask(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Question:
    return Question(func, args, kwargs)


# Page questions answered side by side (DuckDB works outside the GIL; see Page.prefetch).
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dmarc-analytics-query")


@dataclass(frozen=True, slots=True)
class Page:
    """What a page script needs after ``page_setup``."""

    key: str
    settings: Settings
    flt: Filter
    version: int
    zone: str

    def query(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(con, self.flt, *args, **kwargs)``, cached by filter and data version."""
        return _guarded(self, func, True, args, kwargs)

    def lookup(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(con, *args, **kwargs)`` (no filter), cached by data version."""
        return _guarded(self, func, False, args, kwargs)

    def prefetch(self, *questions: Question) -> None:
        """Answer these filtered questions at the same time, each on its own connection, so
        that the page's ``query`` calls for them are cache hits. Errors are left for those
        calls to report."""
        ctx = get_script_run_ctx()

        def answer(question: Question) -> None:
            if ctx is not None:
                add_script_run_ctx(threading.current_thread(), ctx)
            with contextlib.suppress(DmarcAnalyticsError):
                _cached(self, question.func, True, question.args, question.kwargs)

        list(_POOL.map(answer, questions))

    def deferred(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        """``func(con, self.flt, ...)`` to run later, uncached (the data of a download)."""
        settings, flt = self.settings, self.flt
        return lambda: run_direct(settings, func, flt, *args, **kwargs)

    @property
    def span(self) -> tuple[date | None, date | None]:
        """The filter's first and last day, for chart axes."""
        return self.flt.since, self.flt.until

    @property
    def has_data(self) -> bool:
        return bool(self.lookup(insights.has_data))


def app_settings() -> Settings:
    """The settings (defaults, config file, environment). Whether originals are kept is
    the database's (``store.keeps_originals``), the same for every tab and writer."""
    settings = load_settings()
    # Parsing in forked workers from inside a threaded server is not worth the risk.
    return replace(settings, workers=1)


def page_setup(page_key: str) -> Page:
    """Set up a page: config, drop folder, sidebar, URL, title. Call it first on every page."""
    i18n.set_language(i18n.DEFAULT_LANGUAGE)
    target = st.session_state.pop(GO_TO, None)  # a row was clicked that opens another page
    if target is not None and target != PAGE_PATHS.get(page_key):
        st.session_state[StateKeys.OPENED_BY_ROW] = True
        st.switch_page(target)
    st.set_page_config(page_title=f"{t('page.' + page_key)} · {t('app.name')}", layout="wide")
    try:
        settings = app_settings()
        upgrade_store(settings)
        ingested = scan_inbox(settings) + watch_inbox(settings, StateKeys.INBOX_SEEN)
        version, unfinished_reparse = read_state(settings)
    except DmarcAnalyticsError as exc:
        show_error(exc)
    if ingested:
        st.toast(arrivals_text(ingested))
    flt = restore_filter(
        StateKeys.FILTER, StateKeys.TZ, {param: key for param, (_, key) in DRILL_DOWNS.items()}
    )
    with st.sidebar:
        _draw_navigation(flt)
        zone = st.session_state.get(StateKeys.TZ, settings.time_zone)
        page = Page(page_key, settings, flt, version, zone)
        choices = page.lookup(insights.filter_choices)
        flt = draw_filter(StateKeys.FILTER, StateKeys.FILTER_ERROR, choices)
        zone = _draw_zone_picker(settings.time_zone)
        in_zone = dates_in_zone(flt, zone)
        if in_zone is not None:
            st.caption(in_zone)
    page = Page(page_key, settings, flt, version, zone)
    mirror_to_url(flt, zone, _drill_down_params(page_key), settings.time_zone)
    st.title(t(f"page.{page_key}"))
    st.caption(t(f"intro.{page_key}"))
    if page_key != "ingest":
        st.markdown(i18n.describe_filter(flt, quote=markdown_code))
    else:
        st.caption(t("ingest.filter_note"))
    for problem in st.session_state.pop(LINK_PROBLEMS, ()):
        st.error(problem)
    notice = st.session_state.pop(StateKeys.NOTICE, None)
    if notice:
        st.success(notice)
    if unfinished_reparse is not None:
        started = f"{unfinished_reparse:%Y-%m-%d %H:%M}"
        st.warning(t("store.reparse_unfinished", started=started))
    problem = st.session_state.pop(StateKeys.NOTICE_ERROR, None)
    if problem:
        st.error(markdown_escape(problem))
    return page


# What a link can open besides the filter: URL parameter -> (page, session key of its
# picker). ``/Sources?ip=192.0.2.1`` opens that source's detail, ``/Reports?report=g1``
# the report with ID g1 (``#12``: the report numbered 12; ``insights.find_linked_report``).
# URL parameter -> (page, session key): what is picked on a page, also in its link. The
# Reports page's narrowing (``listed=issues``) is one too, so a link to "the reports behind
# a data-quality count" opens them, not the whole list.
DRILL_DOWNS = {
    "ip": ("sources", "sources_ip"), "report": ("reports", "reports_pick"),
    "listed": ("reports", "reports_kind"),
}  # fmt: skip
_NOT_IN_LINKS = {"reports_kind": "all"}  # a picker's value that needs no parameter


def check_linked_choice(key: str, options: list[str], param: str) -> None:
    """A choice a link set (``DRILL_DOWNS``) that is not one of ``options`` is said and
    dropped, so the picker starts at its default instead of failing."""
    value = st.session_state.get(key)
    if value is not None and value not in options:
        del st.session_state[key]
        st.error(t("filter.bad_choice", param=param, value=markdown_escape(str(value)[:100]),
                   choices=", ".join(options)))  # fmt: skip


def _drill_down_params(page_key: str) -> dict[str, str]:
    """The URL parameters of what is picked on this page (only this page writes them)."""
    params = {}
    for param, (owner, key) in DRILL_DOWNS.items():
        value = st.session_state.get(key)
        if value == _NOT_IN_LINKS.get(key):
            continue
        if owner == page_key and value is not None and str(value).strip():
            params[param] = st.session_state.get(LINK_NAMES, {}).get(value, str(value))
    return params


# Session key: picked value -> how the link names it, where that differs (a report's ID
# instead of its key, which a re-parse changes). Set by the page that shows the pick.
LINK_NAMES = "link_names"


def name_in_link(param: str, picked: Any, name: str) -> None:
    """Name the picked value ``picked`` in the URL as ``name`` (now, and on every run)."""
    st.session_state.setdefault(LINK_NAMES, {})[picked] = name
    if st.query_params.get(param) != name:
        st.query_params[param] = name


_UP_TO_DATE: set[str] = set()  # databases this process has opened read-write


def upgrade_store(settings: Settings) -> None:
    """Apply pending migrations with a message on the page: on a large database an upgrade
    builds new tables and takes a while, and a silent first page would look hung."""
    key = str(settings.db)
    if key in _UP_TO_DATE:
        return
    pending = pending_migrations(settings.db, settings.lock_timeout)
    if pending:
        with (
            st.spinner(t("store.upgrading")),
            connect(settings.db, settings.lock_timeout),
        ):
            pass
    _UP_TO_DATE.add(key)


def arrivals_text(arrivals: Arrivals) -> str:
    """What the drop folder gave, rejected files included (they were announced as ingested)."""
    files = f"{arrivals.files:,}"
    if not arrivals.rejected:
        return t("dropfolder.ingested", arrivals.files, files=files)
    return t("dropfolder.ingested_rejected", arrivals.files, files=files,
             rejected=f"{arrivals.rejected:,}")  # fmt: skip


def read_state(settings: Settings) -> tuple[int, datetime | None]:
    """The data version and when an unfinished reparse began (or None), read with a
    short-lived connection on every run."""
    with connect(settings.db, settings.lock_timeout) as con:
        return data_version(con), reparse_started(con)


def _draw_navigation(flt: Filter) -> None:
    params = flt.to_params()
    for key, path in PAGES:
        st.page_link(path, label=t(f"page.{key}"), query_params=params)
    st.divider()


def _draw_zone_picker(default: str) -> str:
    """The zone picker: the session's zone, else ``default`` (the ``time_zone`` setting)."""
    shadow = "_" + StateKeys.TZ
    current = st.session_state.get(StateKeys.TZ, default)
    st.session_state[shadow] = current if current in ZONES else "UTC"

    def copy() -> None:
        st.session_state[StateKeys.TZ] = st.session_state[shadow]

    st.selectbox(t("tz.label"), ZONES, key=shadow, on_change=copy, help=t("tz.help"))
    return str(st.session_state[shadow])


def require_data(page: Page, offer_demo: bool = False) -> None:
    """On an empty database, say what to do (and offer the demo data) and stop the page."""
    if page.has_data:
        return
    st.subheader(t("empty.title"))
    inbox = markdown_code(str(page.settings.inbox))
    st.markdown(t("empty.body" if offer_demo else "empty.body_no_demo", inbox=inbox))
    if offer_demo:
        from dmarc_analytics.ui_ingest import demo_button

        demo_button(page)
    if page.key != "ingest":
        st.page_link(PAGE_PATHS["ingest"], label=t("empty.link"), icon=":material/upload:")
    st.stop()


def with_picked(options: list[Any], key: str) -> list[Any]:
    """A picker's options and its current value if that is not among them (typed, or
    picked before the list changed), so that it stays picked and shown."""
    current = st.session_state.get(key)
    return options if current is None or current in options else [*options, current]


def typed_source_ip(value: str) -> str:
    """An address as stored: typed ``2001:DB8::1`` is ``2001:db8::1``; a value that is no
    address stays as typed (reports may carry one, kept as reported)."""
    typed = single_address(_INVISIBLE.sub("", value).strip())
    return normalise_ip(typed)[0] or typed


def is_ip_address(value: str) -> bool:
    """Whether ``value`` is an IP address (a report may carry something else, kept as
    reported, so a value that is none can still match stored mail)."""
    return "invalid-source-ip" not in normalise_ip(value)[1]


_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff]")  # pasted along with an address


def records_csv_download(page: Page) -> None:
    """The link to the record-level CSV of the whole filter: the server writes it with
    DuckDB when the link is followed, and sends it while it is written (``ui_routes``)."""
    url = ui_routes.records_csv_url(page.flt, page.zone)
    with st.container(key=f"{page.key}_filter_records_csv"):
        st.html(
            f'<a class="records-csv" href="{html.escape(url)}" '
            f'download="{html.escape(ui_routes.download_file_name())}" '
            f'title="{html.escape(t("table.records_csv_help"))}">'
            f"{html.escape(t('table.records_csv'))}</a>{_LINK_STYLE}"
        )


# A link drawn like the app's download buttons, in the light and the dark theme.
_LINK_STYLE = """<style>
a.records-csv {
  display: inline-flex; align-items: center; min-height: 2.5rem; padding: 0.25rem 0.75rem;
  border: 1px solid rgba(128, 128, 128, 0.4); border-radius: 0.5rem; color: inherit;
  text-decoration: none; line-height: 1.6;
}
a.records-csv::before { content: "↓"; margin-right: 0.6rem; font-weight: 600; }
a.records-csv:hover, a.records-csv:focus-visible {
  border-color: var(--primary-color, #ff4b4b); color: var(--primary-color, #ff4b4b);
}
</style>"""


def format_time(moment: datetime, zone: str) -> str:
    """A naive UTC datetime as text in ``zone``."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


_DIRECTIVE = re.compile(r":(?=([A-Za-z_]+)[/\[])")  # :material/…, :red[…] (linear)
_HEX = frozenset("0123456789abcdefABCDEF")


def markdown_code(text: str) -> str:
    """Data shown exactly as it is inside Markdown, as a code span: nothing in a code span
    is Markdown, and Streamlit makes no links, icons or colours there either (though it
    rewrites ``:material/name:`` even there, so a zero-width space follows such a colon)."""
    # Not after a colon followed by hex digits only: an IPv6 range like 2001:db8:abc/48.
    text = _DIRECTIVE.sub(lambda m: ":" if _HEX.issuperset(m.group(1)) else ":\u200b", text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def show_error(exc: DmarcAnalyticsError) -> NoReturn:
    """An expected library error: its message, and nothing more on this page."""
    st.error(markdown_escape(error_text(exc)))
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises; this satisfies type checkers


def clear_caches() -> None:
    """After a write from the app; other writers are seen through the data version."""
    st.cache_data.clear()


def run_direct(settings: Settings, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(con, *args, **kwargs)`` on a short-lived connection, uncached (downloads)."""
    with connect(settings.db, settings.lock_timeout) as con:
        return func(con, *args, **kwargs)


def _guarded(
    page: Page, func: Callable[..., Any], with_filter: bool, args: tuple, kwargs: dict
) -> Any:
    try:
        return _cached(page, func, with_filter, args, kwargs)
    except DmarcAnalyticsError as exc:
        show_error(exc)


def _cached(
    page: Page, func: Callable[..., Any], with_filter: bool, args: tuple, kwargs: dict
) -> Any:
    target = f"{func.__module__}:{func.__qualname__}"
    flt = page.flt if with_filter else None
    flt_key = tuple(sorted(flt.to_params().items())) if flt is not None else None
    return _cached_call(
        target,
        str(page.settings.db),
        page.settings.lock_timeout,
        page.version,
        flt_key,
        args,
        tuple(sorted(kwargs.items())),
        flt,
    )


@st.cache_data(show_spinner=False, max_entries=1000)
def _cached_call(
    target: str,
    db: str,
    lock_timeout: float,
    version: int,
    flt_key: tuple | None,
    args: tuple,
    kwargs: tuple,
    _flt: Filter | None,
) -> Any:
    module_name, name = target.split(":")
    func = getattr(importlib.import_module(module_name), name)
    with connect(Path(db), lock_timeout) as con:
        if _flt is None:
            return func(con, *args, **dict(kwargs))
        return func(con, _flt, *args, **dict(kwargs))
