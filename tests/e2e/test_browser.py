"""The app in a real browser, used the way a person uses it.

One Streamlit server runs for the session on a fresh database (``conftest.py``). The tests
run in file order, like a first session with the app: upload reports on the Ingest page,
read the Overview and watch it grow when a file lands in the drop folder, filter in the
sidebar and through a link, download CSVs, then visit every page and keep a screenshot of
each in ``test-artifacts/screenshots/``. Every number the pages show is checked against the CLI
(``summary --json``, ``export``) run as a separate process on the same database. A test run
alone finds its data loaded by the CLI instead of the upload.
"""

from __future__ import annotations

import csv
import io
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect

from dmarc_analytics import synth
from dmarc_analytics.filters import Filter
from dmarc_analytics.i18n import describe_filter, t
from dmarc_analytics.ui_dropfolder import WATCH_SECONDS
from tests.e2e.conftest import App, cli_summary, open_page, run_cli, settle
from tests.support import REPO

pytestmark = pytest.mark.browser

PAGE_NAMES = ["Overview", "Sources", "Reporters", "Alignment", "Reports", "Ingest"]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DROP_FOLDER_SECONDS = 10  # the spec says 5 s; the rest is slack for a busy machine
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Reports:
    """The report files of the session: uploaded ones, a broken one, one for the drop folder."""

    folder: Path
    uploads: list[Path]  # six reports (xml, xml.gz, zip), then the broken file
    broken: Path
    inbox_name: str
    inbox_bytes: bytes
    inbox_messages: int
    uploaded_messages: int
    reporter: str  # an org name among the uploaded reports, for the reporter filter


@pytest.fixture(scope="session")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    folder = tmp_path_factory.mktemp("reports")
    generated = list(synth.generate_reports(7, seed=5, start=date(2026, 10, 5), days=14))
    containers = [synth.CONTAINERS[i % len(synth.CONTAINERS)] for i in range(len(generated))]
    uploads = []
    for report, container in zip(generated[:6], containers, strict=False):
        name, data = synth.package_report(report, container)
        (folder / name).write_bytes(data)
        uploads.append(folder / name)
    broken = folder / "damaged.zip"
    broken.write_bytes(b"PK\x03\x04 the rest of this zip archive never arrived")
    inbox_name, inbox_bytes = synth.package_report(generated[6], "xml.gz")
    orgs = Counter(ET.fromstring(r.xml).findtext("report_metadata/org_name") for r in generated[:6])
    return Reports(
        folder, [*uploads, broken], broken, inbox_name, inbox_bytes, generated[6].messages,
        sum(r.messages for r in generated[:6]), str(orgs.most_common(1)[0][0]),
    )  # fmt: skip


@pytest.fixture(scope="session")
def oracle(streamlit_app: App, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield Oracle(streamlit_app.db, tmp_path_factory.mktemp("cli"), pool)


@pytest.fixture
def loaded(streamlit_app: App, reports: Reports, oracle: Oracle) -> App:
    """The database holds the session's reports (ingested by the CLI if no upload ran yet;
    run alone, a test may find no database at all: no page has been opened yet)."""
    if not streamlit_app.db.exists() or oracle.expected().summary.result()["reports"] == 0:
        run_cli("ingest", "--db", str(streamlit_app.db), *map(str, reports.uploads))
        oracle.changed()
    return streamlit_app


# ------------------------------------------------------------------ expected values


@dataclass(frozen=True, slots=True)
class Expected:
    """What the Overview must show for a filter, from the CLI only."""

    summary: dict[str, Any]
    records: list[dict[str, str]]  # `export` rows

    @property
    def metrics(self) -> dict[str, str]:
        s = self.summary
        rate = s["dmarc_pass_messages"] / s["messages"] if s["messages"] else None
        distinct = {
            column: len({row[column] for row in self.records})
            for column in ("reporter", "source_ip", "policy_domain")
        }
        return {  # formatted like the page (``ui_overview.overview_metrics``)
            "Messages": f"{s['messages']:,}",
            "DMARC pass rate": "—" if rate is None else f"{rate:.1%}",
            "Reports": f"{s['reports']:,}",
            "Reporters": f"{distinct['reporter']:,}",
            "Source IPs": f"{distinct['source_ip']:,}",
            "Domains": f"{distinct['policy_domain']:,}",
        }

    @property
    def span(self) -> str:
        begin, end = (
            datetime.fromisoformat(self.summary[k].replace("Z", "+00:00")).strftime(
                "%Y-%m-%d %H:%M")
            for k in ("begin", "end")
        )  # fmt: skip
        return t("span.caption", begin=begin, end=end, zone="UTC")


class Oracle:
    """The CLI's answers (``summary --json`` and ``export``), each from its own process.

    ``expected(**flt)`` starts both processes in the background and returns at once, so the
    browser works meanwhile; answers are kept until ``changed()`` says the data changed.
    """

    def __init__(self, db: Path, folder: Path, pool: ThreadPoolExecutor) -> None:
        self.db, self.folder, self.pool = db, folder, pool
        self._known: dict[tuple[tuple[str, str], ...], Pending] = {}
        self._generation = 0

    def expected(self, **flt: str) -> Pending:
        key = tuple(sorted(flt.items()))
        if key not in self._known:
            self._known[key] = Pending(
                self.pool.submit(cli_summary, self.db, **flt),
                self.pool.submit(self._export, self._generation, **flt),
            )
        return self._known[key]

    def changed(self) -> None:
        self._known.clear()
        self._generation += 1

    def _export(self, generation: int, **flt: str) -> list[dict[str, str]]:
        name = "-".join([f"export{generation}", *(f"{k}_{v}" for k, v in sorted(flt.items()))])
        target = self.folder / f"{name}.csv"
        options = [part for k, v in flt.items() for part in (f"--{k.replace('_', '-')}", v)]
        run_cli("export", "--db", str(self.db), "-o", str(target), *options)
        return read_csv(target.read_bytes())


@dataclass(frozen=True, slots=True)
class Pending:
    """``Expected`` being computed in the background; ``result()`` waits for it."""

    summary: Future[dict[str, Any]]
    records: Future[list[dict[str, str]]]

    def result(self) -> Expected:
        return Expected(self.summary.result(), self.records.result())


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


# ------------------------------------------------------------------ page helpers


def metric(page: Page, label: str) -> Locator:
    """The value of the metric labelled exactly ``label``."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    return (
        page.get_by_test_id("stMetric")
        .filter(has=page.get_by_test_id("stMetricLabel").filter(has_text=exact))
        .get_by_test_id("stMetricValue")
    )


def expect_overview(page: Page, want: Expected, flt: Filter | None = None) -> None:
    """Wait for the Overview to show ``want`` (Messages first: it changes with the data)."""
    metrics = want.metrics
    expect(metric(page, "Messages")).to_have_text(metrics["Messages"])
    settle(page)
    shown = {label: metric(page, label).inner_text().strip() for label in metrics}
    assert shown == metrics
    expect(page.get_by_text(want.span, exact=True)).to_be_visible()
    sentence = describe_filter(flt or Filter())
    expect(
        page.get_by_test_id("stMarkdownContainer").get_by_text(sentence, exact=True)
    ).to_be_visible()


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def sidebar_links(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar").get_by_test_id("stPageLink-NavLink")


def go_to(page: Page, name: str) -> None:
    """Click the sidebar link of page ``name`` and wait until that page has run."""
    sidebar_links(page).filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")).click()
    expect(heading(page)).to_have_text(name)
    settle(page)


def sidebar_widget(page: Page, key: str) -> Locator:
    return page.get_by_test_id("stSidebar").locator(f".st-key-{key}")


def choose(page: Page, key: str, option: str) -> None:
    """Pick ``option`` in the sidebar selectbox or multiselect whose widget key is ``key``.

    The widget is first scrolled to the middle of the sidebar, the way a person scrolls to
    it before clicking: an open list closes when the sidebar scrolls under it, and a click
    that makes the browser scroll the sidebar (Playwright scrolls to the element in the
    same frame as it clicks) closes the list it has just opened. Every click must then take
    at the first try.
    """
    widget = sidebar_widget(page, key)
    if widget.get_by_test_id("stMultiSelect").count():
        shown = widget.locator("[data-tag]").filter(has_text=option)
    else:
        shown = widget.locator(f'input[role="combobox"][value="{option}"]')
    scroll_to_middle(widget)
    widget.get_by_role("button", name="Open").click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")  # a multiselect keeps its list open
    expect(shown).to_have_count(1, timeout=3_000)


def scroll_to_middle(locator: Locator) -> None:
    """Scroll ``locator`` to the middle of its scrolling container and let the scroll end."""
    locator.evaluate(
        "(el) => new Promise(done => { el.scrollIntoView({block: 'center'});"
        " requestAnimationFrame(() => requestAnimationFrame(done)); })"
    )


def download(page: Page, key: str) -> tuple[str, bytes]:
    """Click the download button (or the record-level CSV's link) with key ``key``; the
    file's name and bytes."""
    with page.expect_download() as info:
        page.locator(f".st-key-{key}").locator("a.records-csv, button").first.click()
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def table_rows(table: Locator) -> Locator:
    """The body rows of an ``st.dataframe`` (its accessible grid holds the visible rows)."""
    return table.locator("[role=row]:not([aria-rowindex='1'])")


def screenshot(page: Page, path: Path) -> None:
    """The whole page, not only the viewport: the app scrolls inside ``stMain`` (and the
    sidebar), so the viewport grows to their height for the picture."""
    viewport = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stSidebarContent'].map(id =>"
        " document.querySelector(`[data-testid=${id}]`)?.scrollHeight ?? 0))"
    )
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    try:
        page.evaluate(  # two frames: the resized page has been laid out and painted
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        wait_for_charts(page)
        page.screenshot(path=path, full_page=True)
    finally:
        page.set_viewport_size(viewport)


def wait_for_charts(page: Page) -> None:
    """Every Plotly chart on the page has drawn (they load lazily after the page is idle)."""
    charts = page.get_by_test_id("stPlotlyChart")
    for index in range(charts.count()):
        expect(charts.nth(index).locator(".main-svg").first).to_be_visible()


# ------------------------------------------------------------------ tests


def test_upload_several_reports_on_the_ingest_page(
    app_page: Page, reports: Reports, oracle: Oracle
) -> None:
    page = app_page
    stored = oracle.expected()
    open_page(page, "/")
    if stored.summary.result()["reports"] == 0:  # the session's first test: a fresh app
        expect(page.get_by_text(t("empty.title"), exact=True)).to_be_visible()
    go_to(page, "Ingest")

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(reports.uploads)
    done = t("upload.done", total=7, inserted=6, duplicate=0, rejected=1)
    expect(page.get_by_text(done, exact=True)).to_be_visible()
    settle(page)
    oracle.changed()
    now = oracle.expected()

    # The outcome table is the page's first table (a table without row selection has no
    # key class in the page).
    rows = table_rows(page.get_by_test_id("stDataFrame").first)
    expect(rows).to_have_count(len(reports.uploads))
    for path in reports.uploads:
        row = rows.filter(has_text=path.name)
        expect(row).to_have_count(1)
        expect(row).to_contain_text("rejected" if path == reports.broken else "inserted")
    expect(page.get_by_test_id("stException")).to_have_count(0)

    summary = now.summary.result()
    assert (summary["reports"], summary["messages"]) == (6, reports.uploaded_messages)


def drop_from_desktop(page: Page, target: Locator, paths: list[Path]) -> None:
    """Drag files or folders from the desktop onto ``target``: the browser is handed their
    paths, as from the file manager, and reads folders itself."""
    box = target.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
    cdp = page.context.new_cdp_session(page)
    try:
        for kind in ("dragEnter", "dragOver", "drop"):
            cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
    finally:
        cdp.detach()


def test_a_folder_dropped_on_the_uploader_is_ingested_with_its_subfolders(
    app_page: Page, loaded: App, oracle: Oracle, tmp_path: Path
) -> None:
    # A newcomer drops the folder their mail client saved the reports in.
    page = app_page
    folder = tmp_path / "DMARC reports"
    (folder / "October").mkdir(parents=True)
    extra = list(synth.generate_reports(3, seed=23, start=date(2026, 10, 20), days=5))
    for index, report in enumerate(extra):
        name, data = synth.package_report(report, synth.CONTAINERS[index % 3])
        (folder if index == 0 else folder / "October").joinpath(name).write_bytes(data)
    before = oracle.expected().summary.result()
    open_page(page, "/")
    go_to(page, "Ingest")

    drop_from_desktop(page, page.get_by_test_id("stFileUploaderDropzone"), [folder])
    done = t("upload.done", total=3, inserted=3, duplicate=0, rejected=0)
    expect(page.get_by_text(done, exact=True)).to_be_visible()
    settle(page)
    oracle.changed()
    after = oracle.expected().summary.result()
    assert after["reports"] - before["reports"] == 3
    assert after["messages"] - before["messages"] == sum(r.messages for r in extra)


def test_overview_matches_the_cli_and_grows_with_the_drop_folder(
    app_page: Page, loaded: App, reports: Reports, oracle: Oracle
) -> None:
    page = app_page
    pending = oracle.expected()
    open_page(page, "/")
    before = pending.result()
    expect_overview(page, before)

    # A report put in the drop folder appears without anything being pressed.

    loaded.inbox.mkdir(parents=True, exist_ok=True)
    partial = loaded.inbox / f".{reports.inbox_name}.part"  # hidden names are not scanned
    partial.write_bytes(reports.inbox_bytes)
    partial.rename(loaded.inbox / reports.inbox_name)

    grown = before.summary["messages"] + reports.inbox_messages
    expect(metric(page, "Messages")).to_have_text(f"{grown:,}", timeout=DROP_FOLDER_SECONDS * 1000)
    settle(page)
    oracle.changed()
    after = oracle.expected().result()
    assert after.summary["reports"] == before.summary["reports"] + 1
    expect_overview(page, after)


# Counts finished runs from the mutation records themselves: a quick run's start and end
# can reach the observer in one batch, after which the attribute no longer says "running".
RUNS_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__runs = 0;
  new MutationObserver((records) => {
    for (const r of records) if (r.oldValue === 'running') window.__runs += 1;
  }).observe(app, {attributes: true, attributeOldValue: true,
                   attributeFilter: ['data-test-script-state']});
}"""


def test_a_watched_drop_folder_leaves_the_page_still_and_no_click_is_lost(
    app_page: Page, loaded: App
) -> None:
    page = app_page
    open_page(page, "/")
    page.evaluate(RUNS_JS)
    # Scans that find nothing (several watcher periods) run no script in the browser.
    page.wait_for_timeout(3 * WATCH_SECONDS * 1000 + 500)
    assert page.evaluate("window.__runs") == 0

    # Sidebar changes at unrelated moments: every one takes at the first click.
    pauses = random.Random(7)
    values = ("fail", "pass", "any") * 4
    for value in values:
        page.wait_for_timeout(pauses.uniform(0, WATCH_SECONDS) * 1000)
        choose(page, "_filter_dmarc", t(f"filter.{value}"))
        # The run for this change has written it to the URL: without waiting for that, the
        # page can look idle before the run starts, and the next change then joins it.
        page.wait_for_function(
            "(want) => new URLSearchParams(location.search).get('dmarc') === want",
            arg=None if value == "any" else value,
        )
        settle(page)
    assert page.evaluate("window.__runs") == len(values)  # one run per change, nothing else


def test_sidebar_filter_and_csv_downloads(
    app_page: Page, loaded: App, reports: Reports, oracle: Oracle
) -> None:
    page = app_page
    failing = oracle.expected(dmarc="fail")
    narrowed = oracle.expected(dmarc="fail", reporter=reports.reporter)
    open_page(page, "/")

    choose(page, "_filter_dmarc", "fail")
    expect_overview(page, failing.result(), Filter.from_params({"dmarc": "fail"}))
    assert "dmarc=fail" in page.url

    assert narrowed.result().metrics["Messages"] != failing.result().metrics["Messages"]
    choose(page, "_filter_reporter", reports.reporter)
    flt = Filter.from_params({"dmarc": "fail", "reporter": reports.reporter})
    expect_overview(page, narrowed.result(), flt)
    assert "reporter=" in page.url

    # The filter is kept on another page; its record-level CSV is the CLI's export.
    go_to(page, "Sources")
    expect(sidebar_widget(page, "_filter_dmarc").get_by_role("combobox")).to_have_value("fail")
    assert "dmarc=fail" in page.url and "reporter=" in page.url
    name, data = download(page, "sources_filter_records_csv")
    assert name.endswith(".csv") and data.startswith(BOM)
    rows = read_csv(data)
    want = narrowed.result()
    assert len(rows) == want.summary["records"]
    assert sum(int(row["count"]) for row in rows) == want.summary["messages"]
    assert {row["dmarc"] for row in rows} == {"fail"}
    assert Counter(map(frozenset, (r.items() for r in rows))) == Counter(
        map(frozenset, (r.items() for r in want.records))
    )

    # A table's CSV has every row of the table: one per source IP, all the messages.
    name, data = download(page, "sources_csv")
    assert name.endswith(".csv") and data.startswith(BOM)
    table = read_csv(data)
    assert len(table) == len({row["source_ip"] for row in want.records})
    assert sum(int(row["Messages"]) for row in table) == want.summary["messages"]
    assert {row["Source IP"] for row in table} == {row["source_ip"] for row in want.records}

    # The grid offers no CSV of its own (only the rows it has loaded, unguarded, no BOM).
    grid = page.get_by_test_id("stDataFrame").first
    grid.hover()
    toolbar = page.get_by_test_id("stElementToolbarButton")
    expect(toolbar.get_by_role("button", name="Search")).to_be_visible()
    expect(toolbar.get_by_role("button", name="Download as CSV")).to_have_count(0)


def test_filter_in_the_url_is_applied(app_page: Page, loaded: App, oracle: Oracle) -> None:
    want = oracle.expected(dmarc="fail")
    open_page(app_page, "/?dmarc=fail")
    expect_overview(app_page, want.result(), Filter.from_params({"dmarc": "fail"}))
    combobox = sidebar_widget(app_page, "_filter_dmarc").get_by_role("combobox")
    expect(combobox).to_have_value("fail")


def test_text_from_a_link_is_shown_as_text(app_page: Page, loaded: App) -> None:
    # Streamlit makes links of addresses and icons of :material/…: codes after parsing
    # Markdown; a crafted link must not make the app show either.
    hostile = "Security notice :material/lock: re-authenticate at https://evil.example/login"
    open_page(app_page, "/?reporter=" + quote(hostile))
    sentence = app_page.get_by_test_id("stMarkdownContainer").filter(has_text="re-authenticate")
    expect(sentence.first).to_contain_text(re.compile(r":\u200b?material/lock:"))
    expect(app_page.locator('a[href^="https://evil.example"]')).to_have_count(0)  # no link to it
    expect(sentence.first.get_by_test_id("stIconMaterial")).to_have_count(0)


def test_every_page_from_the_sidebar(app_page: Page, loaded: App) -> None:
    page = app_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    open_page(page, "/")
    expect(sidebar_links(page)).to_have_text(PAGE_NAMES)
    for name in [*PAGE_NAMES[1:], PAGE_NAMES[0]]:
        go_to(page, name)
        wait_for_charts(page)
        settle(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        screenshot(page, SCREENSHOTS / f"{name.lower()}.png")
    expect(page.get_by_test_id("stMetric").first).to_be_visible()  # back on the Overview
