"""Page latency in a real browser: from a filter change until the page is drawn, per page.

Usage: python bench/bench_pages.py [--records 1000000] [--rounds 1] [--pages Overview,...]
       [--seed 1] [--workdir bench/out] [--keep-corpus] [--build-only] [--no-csv] [--json]

The database is built once and cached in the work folder (``bench/out``, git-ignored):
``dmarc_analytics.synth.write_corpus`` writes ``records / 20`` synthetic reports spread over
a year, ``python -m dmarc_analytics ingest`` stores them, and the corpus is deleted again
(``--keep-corpus`` keeps it). 1,000,000 records take a few minutes to build on two cores;
``--records 10000000`` works the same way but takes about ten times as long.

Then ``streamlit run app.py`` serves that database, Debian's Chromium (``/usr/bin/chromium``,
driven by Playwright) opens every page in turn and makes 12 filter changes in the sidebar on
each: the DMARC result (selectbox) and the reporter (multiselect: add one, remove one), so
that every change leads to a filter the page has not shown before. Each change is timed in
the browser, from ``performance.now()`` at the ``pointerdown`` (a capture listener armed
after the list was opened) to the first animation frame in which the page is *drawn*:

- the script ran for the change and the app is idle, with no stale element left;
- the URL carries the new filter (every page writes it back while it runs);
- the ``Messages`` metric shows the value ``summary --json`` gave for the new filter
  (Overview), the first chart's values add up to what the same chart built from the library
  holds, and the first table's first row shows the expected value in its key column (on
  the Alignment page, whose first table is a static one, so does its first interactive
  table: the interactive grid shows new values a frame or more after the rest).

All expected values are computed before the server starts. "idle" (the first frame with the
app idle and nothing stale after the script ran) is reported beside "drawn", as in
``../shared/docs/performance-notes.md`` §3. Last, the record-level CSV of the whole database
is downloaded from the Sources page five times, each timed from the click until the file
is complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import numbers
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

from dmarc_analytics import charts, insights, synth  # noqa: E402
from dmarc_analytics.filters import Filter  # noqa: E402
from dmarc_analytics.i18n import t  # noqa: E402
from dmarc_analytics.store import open_store  # noqa: E402
from dmarc_analytics.ui_tables import mail_summary_frame  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
RECORDS_PER_REPORT = 20
START = date(2025, 11, 1)
DAYS = 365
CHANGE_TIMEOUT_MS = 60_000
LOAD_TIMEOUT_MS = 120_000
PAUSE_SECONDS = 0.5  # between changes, as in performance-notes.md
PACKAGES = ("streamlit", "duckdb", "plotly", "pandas", "pyarrow", "playwright")
PAGE_NAMES = ("Overview", "Sources", "Reporters", "Alignment", "Reports", "Ingest")
# (median, max) goals in seconds by database size, from the app's spec
TARGETS = {1_000_000: (0.8, 1.2), 10_000_000: (1.2, None)}
CSV_TARGET_SECONDS = 2.0
CSV_CLICKS = 5
MESSAGES_COLUMN = t("col.messages")  # of the Alignment page's first static table


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the database


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMARC_ANALYTICS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH"))))
    return env | extra


def run_cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dmarc_analytics", *args],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"dmarc_analytics {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def summary(db: Path, flt: Filter) -> dict[str, Any]:
    options = [part for k, v in flt.to_params().items() for part in (f"--{k}".replace("_", "-"), v)]
    return json.loads(run_cli("summary", "--json", "--db", str(db), *options))


def ensure_database(workdir: Path, records: int, seed: int, keep_corpus: bool) -> Path:
    """The cached database for these parameters; built (corpus + ingest) when missing."""
    fingerprint = hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest()[:10]
    name = f"pages-{records}-seed{seed}-{fingerprint}"
    db, done_marker = workdir / f"{name}.duckdb", workdir / f"{name}.json"
    if db.is_file() and done_marker.is_file():
        log(f"reusing {db}")
        return db
    for leftover in workdir.glob(f"{name}.duckdb*"):
        leftover.unlink()
    corpus = workdir / f"{name}-corpus"
    reports = max(1, records // RECORDS_PER_REPORT)
    if not (corpus / ".complete").is_file():
        shutil.rmtree(corpus, ignore_errors=True)
        log(f"writing {reports:,} synthetic reports into {corpus}")
        started = time.perf_counter()
        stats = synth.write_corpus(corpus, reports, seed, start=START, days=DAYS)
        (corpus / ".complete").write_text(json.dumps(asdict(stats)))
        log(f"  {stats.records:,} records in {time.perf_counter() - started:.0f} s")
    log(f"ingesting into {db}")
    started = time.perf_counter()
    run_cli("ingest", str(corpus), "--db", str(db), "--no-archive")
    log(f"  ingested in {time.perf_counter() - started:.0f} s")
    totals = summary(db, Filter())
    done_marker.write_text(json.dumps(totals, indent=2))
    if not keep_corpus:
        shutil.rmtree(corpus)
    return db


# ------------------------------------------------------------------ the filter changes


@dataclass(frozen=True, slots=True)
class Change:
    """One click in the sidebar and the filter it leads to."""

    action: str  # "dmarc" (pick in the selectbox), "add" / "remove" (reporter multiselect)
    value: str  # the option text, or the reporter's name as the multiselect shows it
    params: dict[str, str]  # the filter after the change

    @property
    def label(self) -> str:
        return {"dmarc": "DMARC result = ", "add": "+ reporter ", "remove": "- reporter "}[
            self.action
        ] + self.value


def plan(reporters: list[str]) -> list[Change]:
    """12 changes; no filter repeats and none is the empty filter a page opens with."""
    r0, r1, r2 = reporters[:3]
    steps = [("dmarc", "fail"), ("add", r0), ("dmarc", "pass"), ("dmarc", "any"), ("add", r1),
             ("dmarc", "fail"), ("remove", r0), ("dmarc", "pass"), ("add", r2),
             ("dmarc", "any"), ("remove", r1), ("dmarc", "fail")]  # fmt: skip
    chosen: list[str] = []
    dmarc = "any"
    changes = []
    for action, value in steps:
        if action == "dmarc":
            dmarc = value
        elif action == "add":
            chosen.append(value)
        else:
            chosen.remove(value)
        params = {"reporter": ",".join(chosen)} if chosen else {}
        if dmarc != "any":
            params["dmarc"] = dmarc
        changes.append(Change(action, value, params))
    assert len({tuple(sorted(c.params.items())) for c in changes}) == len(changes)
    return changes


def busiest_reporters(db: Path, count: int = 3) -> list[str]:
    """Reporters with the most messages (names without commas: the filter splits on them)."""
    with open_store(db, read_only=True) as con:
        frame = insights.reporters(con, Filter())
    names = [r for r in frame.sort_values("messages", ascending=False)["reporter"] if "," not in r]
    if len(names) < count:
        sys.exit(f"need {count} reporters in the database, found {len(names)}")
    return names[:count]


# ------------------------------------------------------------------ expected page contents


@dataclass(frozen=True, slots=True)
class PageSpec:
    name: str
    path: str
    chart: Callable[[Any, Filter], Any] | None  # the page's first chart, from the library
    table: Callable[[Any, Filter], Any] | None  # a frame whose first row is the table's
    column: str = ""  # the column of the first row to check
    metric: bool = False  # the Overview's Messages metric
    label: str = ""  # the column's heading, when it is not the catalogue's ``col.<column>``
    static: bool = False  # the table is an ``st.table`` (HTML), not the interactive grid
    # with ``static``: (frame, column) of the page's first interactive table, checked too
    grid: tuple[Callable[[Any, Filter], Any], str] | None = None


def _overview_chart(con: Any, flt: Filter) -> Any:
    return charts.daily_messages(insights.daily_messages(con, flt, by="dmarc"), "dmarc", "UTC")


PAGES = {
    spec.name: spec
    for spec in (
        PageSpec(
            "Overview",
            "/",
            _overview_chart,
            lambda con, f: insights.top_sources(con, f, limit=10),
            "source_ip",
            True,
        ),
        PageSpec(
            "Sources",
            "/Sources",
            None,
            lambda con, f: insights.top_sources(con, f, limit=10),
            "source_ip",
        ),
        PageSpec(
            "Reporters",
            "/Reporters",
            lambda con, f: charts.reporters(insights.reporters(con, f)),
            lambda con, f: insights.reporters(con, f),
            "reporter",
        ),
        PageSpec(
            "Alignment",
            "/Alignment",
            lambda con, f: charts.disposition_over_time(insights.disposition_over_time(con, f)),
            lambda con, f: mail_summary_frame(insights.mail_summary(con, f)),
            MESSAGES_COLUMN,
            label=MESSAGES_COLUMN,
            static=True,
            grid=(lambda con, f: insights.authenticated_unaligned(con, f, limit=10), "source_ip"),
        ),
        PageSpec(
            "Reports",
            "/Reports",
            None,
            lambda con, f: insights.report_list(con, f, limit=10),
            "report_key",
        ),
        PageSpec("Ingest", "/Ingest", None, None),
    )  # fmt: skip
}


def _total(values: Any) -> float:
    if values is None:
        return 0.0
    if isinstance(values, numbers.Real):
        return 0.0 if math.isnan(values) else float(values)
    if isinstance(values, str):
        return 0.0
    return sum(_total(v) for v in values)


def figure_total(figure: Any) -> float:
    """What the page's JavaScript adds up: z of heatmaps, x of horizontal bars, else y."""
    total = 0.0
    for trace in figure.data:
        if trace.type == "heatmap":
            total += _total(trace.z)
        elif getattr(trace, "orientation", None) == "h":
            total += _total(trace.x)
        else:
            total += _total(trace.y)
    return total


def cell_text(value: Any) -> str:
    """A table cell as the grid's accessible table holds it (the raw value, not formatted)."""
    if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype.kind == "b"):
        return str(bool(value)).lower()
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return str(value)


def expectation(con: Any, db: Path, spec: PageSpec, params: dict[str, str],
                messages: dict[tuple, str]) -> dict[str, Any]:  # fmt: skip
    """What page ``spec`` shows when drawn for the filter ``params`` (for the browser)."""
    flt = Filter.from_params(params)
    key = tuple(sorted(params.items()))
    if spec.metric and key not in messages:
        messages[key] = f"{summary(db, flt)['messages']:,}"
    want: dict[str, Any] = {
        "search": flt.to_params(), "metric": messages[key] if spec.metric else None,
        "chart": None, "cells": [],
    }  # fmt: skip
    if spec.chart is not None:
        want["chart"] = figure_total(spec.chart(con, flt))
    if spec.table is not None:
        frame = spec.table(con, flt)
        first = cell_text(frame[spec.column].iloc[0])
        want["cells"].append({"label": spec.label or t(f"col.{spec.column}"), "text": first,
                              "static": spec.static})
    if spec.grid is not None:
        frame, column = spec.grid[0](con, flt), spec.grid[1]
        if len(frame):
            want["cells"].append({"label": t(f"col.{column}"), "static": False,
                                  "text": cell_text(frame[column].iloc[0])})
    return want


# ------------------------------------------------------------------ the browser side

BENCH_JS = r"""
(() => {
  const APP = '[data-testid="stApp"]';
  const STALE = '[data-testid="stElementContainer"][data-stale="true"]';
  const norm = (v) => String(v).split(',').map((s) => s.trim().toLowerCase()).sort().join(',');
  const total = (v) => {
    if (v === null || v === undefined) return 0;
    if (typeof v === 'number') return Number.isNaN(v) ? 0 : v;
    if (typeof v === 'string') return 0;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += total(v[i]);
    return s;
  };
  const text = (el) => (el ? el.textContent.trim() : null);
  const MAIN = '[data-testid="stMain"] ';
  const idle = () => {
    const app = document.querySelector(APP);
    return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector(STALE);
  };
  // null when the first table of its kind shows ``cell.text`` in its first row
  const staticCell = (cell) => {
    const table = document.querySelector(MAIN + '[data-testid="stTable"] table');
    if (!table) return 'no table';
    const heads = [...table.querySelectorAll('thead tr:last-child th')];
    const col = heads.findIndex((h) => text(h) === cell.label);
    if (col < 0) return `no column ${cell.label}`;
    const row = table.querySelector('tbody tr');
    const shown = row ? text(row.children[col]) : null;
    return shown === cell.text ? null : `first ${cell.label} ${shown}, want ${cell.text}`;
  };
  const gridCell = (cell) => {
    const grid = document.querySelector(MAIN + '[data-testid="stDataFrame"] table[role="grid"]');
    if (!grid) return 'no table';
    const th = [...grid.querySelectorAll('th')].find((h) => text(h) === cell.label);
    if (!th) return `no column ${cell.label}`;
    const col = th.getAttribute('aria-colindex');
    const shown = text(grid.querySelector(`tr[aria-rowindex="2"] td[aria-colindex="${col}"]`));
    return shown === cell.text ? null : `first ${cell.label} ${shown}, want ${cell.text}`;
  };
  // null when the page shows what ``e`` expects, else what differs
  const mismatch = (e) => {
    const params = new URLSearchParams(location.search);
    const keys = new Set(params.keys());
    if (keys.size !== Object.keys(e.search).length) return `url ${location.search}`;
    for (const [k, v] of Object.entries(e.search)) {
      if (norm(params.getAll(k).join(',')) !== norm(v)) return `url ${location.search}`;
    }
    if (e.metric !== null) {
      const m = [...document.querySelectorAll('[data-testid="stMetric"]')].find(
        (x) => text(x.querySelector('[data-testid="stMetricLabel"]')) === 'Messages');
      const shown = m ? text(m.querySelector('[data-testid="stMetricValue"]')) : null;
      if (shown !== e.metric) return `Messages ${shown}, want ${e.metric}`;
    }
    if (e.chart !== null) {
      const gd = document.querySelector(MAIN + '[data-testid="stPlotlyChart"] .js-plotly-plot');
      if (!gd || !gd._fullData) return 'no chart drawn';
      let sum = 0;
      for (const tr of gd._fullData) {
        sum += total(tr.type === 'heatmap' ? tr.z : (tr.orientation === 'h' ? tr.x : tr.y));
      }
      if (Math.abs(sum - e.chart) > 0.5) return `chart total ${sum}, want ${e.chart}`;
    }
    for (const cell of e.cells) {
      const wrong = cell.static ? staticCell(cell) : gridCell(cell);
      if (wrong !== null) return wrong;
    }
    return null;
  };
  const watch = (want, startsAtClick, timeoutMs) => {
    const st = { want, t0: startsAtClick ? null : 0, ran: !startsAtClick, idle: null,
                 drawn: null, timedOut: false, seen: null, aborted: false,
                 scriptStart: null, scriptEnd: null };
    const app = document.querySelector(APP);
    const observer = new MutationObserver((records) => {
      if (st.t0 === null) return;
      for (const r of records) {
        const now = performance.now() - st.t0;
        if (app.getAttribute('data-test-script-state') === 'running' && st.scriptStart === null) {
          st.scriptStart = now;
        }
        if (r.oldValue === 'running') st.scriptEnd = now;  // the last run's end
        if (r.oldValue === 'running' || app.getAttribute('data-test-script-state') === 'running') {
          st.ran = true;
        }
      }
    });
    if (app) {
      observer.observe(app, { attributes: true, attributeOldValue: true,
                              attributeFilter: ['data-test-script-state'] });
    }
    if (startsAtClick) {
      document.addEventListener('pointerdown', () => {
        st.t0 = performance.now();
        if (app && app.getAttribute('data-test-script-state') === 'running') st.ran = true;
      }, { capture: true, once: true });
    }
    const tick = () => {
      if (st.aborted) { observer.disconnect(); return; }
      if (st.t0 !== null) {
        const now = performance.now();
        if (st.ran && idle()) {
          if (st.idle === null) st.idle = now - st.t0;
          if (mismatch(st.want) === null) {
            st.drawn = now - st.t0;
            observer.disconnect();
            return;
          }
        }
        if (now - st.t0 > timeoutMs) {
          st.timedOut = true;
          const tags = [...document.querySelectorAll(
            '[data-testid="stSidebar"] .st-key-_filter_reporter [data-tag]')].map(text);
          const dmarc = document.querySelector(
            '[data-testid="stSidebar"] .st-key-_filter_dmarc input');
          st.seen = { ran: st.ran, idle: idle(), mismatch: mismatch(st.want),
                      widgets: { reporter: tags, dmarc: dmarc ? dmarc.value : null } };
          observer.disconnect();
          return;
        }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    window.__bench = st;
  };
  window.__benchWatch = watch;
})();
"""


@dataclass
class Timing:
    page: str
    change: str
    round: int
    idle_ms: float | None
    drawn_ms: float | None  # None: not drawn within the timeout
    script_start_ms: float | None = None  # click → the app shows the script running
    script_end_ms: float | None = None  # click → it shows the script done (then the browser draws)


@dataclass
class PageResult:
    name: str
    first_load_ms: float | None = None
    timings: list[Timing] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def streamlit_server(db: Path, workdir: Path) -> Iterator[str]:
    """``streamlit run app.py`` on ``db`` (an empty drop folder); stopped on exit."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    inbox, archive = workdir / "pages-inbox", workdir / "pages-archive"
    inbox.mkdir(parents=True, exist_ok=True)
    env = cli_env(
        DMARC_ANALYTICS_DB=str(db),
        DMARC_ANALYTICS_INBOX=str(inbox),
        DMARC_ANALYTICS_ARCHIVE_DIR=str(archive),
    )
    log_path = workdir / "bench-pages-streamlit.log"
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with log_path.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"streamlit did not start; see {log_path}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_result(page: Any, timeout_ms: int = CHANGE_TIMEOUT_MS) -> dict[str, Any]:
    page.wait_for_function(
        "() => window.__bench && (window.__bench.drawn !== null || window.__bench.timedOut)",
        timeout=timeout_ms + 10_000, polling=100,
    )  # fmt: skip
    return page.evaluate("() => window.__bench")


def _open(page: Any, url: str, want: dict[str, Any]) -> dict[str, Any]:
    """Navigate (a new session, empty filter) and wait until the page is drawn."""
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => typeof window.__benchWatch === 'function'")
    page.evaluate("([w, ms]) => window.__benchWatch(w, false, ms)", [want, LOAD_TIMEOUT_MS])
    return _wait_result(page, LOAD_TIMEOUT_MS)


def _sidebar(page: Any, key: str) -> Any:
    return page.get_by_test_id("stSidebar").locator(f".st-key-{key}")


WIDGET_SHOWS_JS = """([action, value]) => {
  const box = (key) => document.querySelector(`[data-testid="stSidebar"] .st-key-${key}`);
  if (action === 'dmarc') {
    const input = box('_filter_dmarc')?.querySelector('input[role="combobox"]');
    return !!input && input.value === value;
  }
  const tags = [...(box('_filter_reporter')?.querySelectorAll('[data-tag]') ?? [])]
    .map((tag) => tag.textContent.trim());
  return (action === 'add') === tags.includes(value);
}"""


SCROLL_TO_MIDDLE_JS = """(el) => new Promise((done) => {
  el.scrollIntoView({block: 'center'});
  requestAnimationFrame(() => requestAnimationFrame(done));
})"""


def _click_timed(page: Any, change: Change, want: dict[str, Any]) -> dict[str, Any]:
    """Prepare the widget, arm the watcher, click (timed from the pointerdown).

    The widget is scrolled to the middle of the sidebar first, as a person would: an open
    list closes when the sidebar scrolls under it, and Playwright would otherwise scroll in
    the frame of its click. A click that does not take is an error.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    key = "_filter_dmarc" if change.action == "dmarc" else "_filter_reporter"
    _sidebar(page, key).evaluate(SCROLL_TO_MIDDLE_JS)
    if change.action == "remove":
        target = _sidebar(page, key).get_by_role(
            "button", name=f"Remove {change.value}", exact=True
        )
    else:
        option_text = t(f"filter.{change.value}") if change.action == "dmarc" else change.value
        target = page.get_by_role("option", name=option_text, exact=True)
        _sidebar(page, key).get_by_role("button", name="Open").click()
        target.wait_for(timeout=10_000)
    page.evaluate("([w, ms]) => window.__benchWatch(w, true, ms)", [want, CHANGE_TIMEOUT_MS])
    target.click()
    shown = t(f"filter.{change.value}") if change.action == "dmarc" else change.value
    try:
        page.wait_for_function(WIDGET_SHOWS_JS, arg=[change.action, shown], timeout=3_000)
    except PlaywrightTimeout:
        sys.exit(f"the click for {change.label} did not take (the widget shows no change)")
    result = _wait_result(page)
    page.keyboard.press("Escape")  # a multiselect keeps its list open
    return result


def measure_page(page: Any, base_url: str, spec: PageSpec, changes: list[Change],
                 wants: dict[str, list[dict[str, Any]]], first: dict[str, Any],
                 rounds: int) -> PageResult:  # fmt: skip
    result = PageResult(spec.name)
    for number in range(1, rounds + 1):
        loaded = _open(page, base_url + spec.path, first)  # each round from the empty filter
        if loaded["timedOut"]:
            log(f"{spec.name}: not drawn within {LOAD_TIMEOUT_MS // 1000} s of opening it "
                f"({loaded['seen']})")  # fmt: skip
            return result
        if number == 1:
            result.first_load_ms = round(loaded["drawn"])
        time.sleep(1.0)  # let lazily loaded chunks and the first frames finish
        for change, want in zip(changes, wants[spec.name], strict=True):
            got = _click_timed(page, change, want)
            timing = Timing(
                spec.name, change.label, number,
                None if got["idle"] is None else round(got["idle"]),
                None if got["timedOut"] else round(got["drawn"]),
                None if got["scriptStart"] is None else round(got["scriptStart"]),
                None if got["scriptEnd"] is None else round(got["scriptEnd"]),
            )  # fmt: skip
            result.timings.append(timing)
            shown = "TIMEOUT" if timing.drawn_ms is None else f"{timing.drawn_ms} ms"
            log(f"  {spec.name:<9} {change.label:<32} idle {timing.idle_ms} ms, drawn {shown} "
                f"(script {timing.script_start_ms}–{timing.script_end_ms} ms)")
            if got["timedOut"]:
                log(f"    not drawn: {got['seen']}")
            time.sleep(PAUSE_SECONDS)
    return result


def measure_csv(page: Any, base_url: str, want_rows: int) -> dict[str, Any]:
    """Download the record-level CSV of the whole database from the Sources page,
    ``CSV_CLICKS`` times; each timed from the click until the file is complete."""
    page.goto(base_url + "/Sources")
    link = page.locator(".st-key-sources_filter_records_csv a.records-csv")
    link.wait_for(timeout=120_000)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
    times, rows, size = [], [], 0
    for _ in range(CSV_CLICKS):
        time.sleep(1.0)
        with page.expect_download(timeout=300_000) as info:
            started = time.perf_counter()
            link.click()
        path = Path(info.value.path())
        times.append(round(time.perf_counter() - started, 2))
        with path.open("rb") as fh:
            rows.append(sum(1 for _ in fh) - 1)
        size = path.stat().st_size
        path.unlink()
    return {"seconds": times, "rows": rows, "expected_rows": want_rows,
            "megabytes": round(size / 1e6, 1)}  # fmt: skip


def run_browser(db: Path, workdir: Path, names: list[str], rounds: int, with_csv: bool,
                changes: list[Change], wants: dict[str, list[dict[str, Any]]],
                firsts: dict[str, dict[str, Any]], records: int) -> dict[str, Any]:  # fmt: skip
    from playwright.sync_api import sync_playwright

    results: list[PageResult] = []
    csv_result: dict[str, Any] | None = None
    with streamlit_server(db, workdir) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                          accept_downloads=True)  # fmt: skip
            context.set_default_timeout(120_000)
            context.add_init_script(BENCH_JS)
            page = context.new_page()
            for name in names:
                log(f"{name}: opening {PAGES[name].path}")
                results.append(
                    measure_page(page, url, PAGES[name], changes, wants, firsts[name], rounds)
                )
            if with_csv:
                log("record-level CSV of the whole database")
                csv_result = measure_csv(page, url, records)
        finally:
            browser.close()
    return {"pages": results, "csv": csv_result}


# ------------------------------------------------------------------ report


def read_value(path: str, key: str, separator: str = ":") -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(separator, 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, Any]:
    mem_kb = read_value("/proc/meminfo", "MemTotal").split()[0]
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    chromium = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True,
                              check=False).stdout.strip()  # fmt: skip
    return {
        "cpu": read_value("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem_kb) / 1024**2, 1) if mem_kb.isdigit() else None,
        "os": f"{read_value('/etc/os-release', 'PRETTY_NAME', '=')}, kernel {platform.release()}",
        "python": platform.python_version(),
        "chromium": chromium or "unknown",
        "packages": versions,
    }


def stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values)), "max": round(max(values))}


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    pages = {}
    every: list[float] = []
    timeouts = 0
    for result in run["pages"]:
        drawn = [x.drawn_ms for x in result.timings if x.drawn_ms is not None]
        idle = [x.idle_ms for x in result.timings if x.idle_ms is not None]
        script = [x.script_end_ms for x in result.timings if x.script_end_ms is not None]
        timeouts += sum(1 for x in result.timings if x.drawn_ms is None)
        every += drawn
        pages[result.name] = {
            "changes": len(result.timings), "drawn": stats(drawn), "idle": stats(idle),
            "script_done": stats(script),
            "first_load_ms": result.first_load_ms,
            "timeouts": sum(1 for x in result.timings if x.drawn_ms is None),
        }  # fmt: skip
    return {"pages": pages, "overall": stats(every), "timeouts": timeouts, "csv": run["csv"]}


def seconds(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.2f}"


def markdown(report: dict[str, Any]) -> str:
    m, s, d = report["machine"], report["summary"], report["database"]
    goal = TARGETS.get(report["records_target"])
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
        f"Python {m['python']}, {m['chromium']}",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        f"Load average before / after: {report['load_before']} / {report['load_after']}",
        f"Database: {d['records']:,} records, {d['messages']:,} messages, {d['reports']:,} "
        f"reports ({report['db_megabytes']} MB)",
        f"Changes per page: {report['changes_per_round']} × {report['rounds']} round(s); "
        "times in seconds from the click to the first frame drawn (idle in brackets)",
        "",
        "| page | changes | drawn median | drawn max | idle median | idle max | script done "
        "median | first load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, p in s["pages"].items():
        lines.append(
            f"| {name} | {p['changes']} | {seconds(p['drawn']['median'])} | "
            f"{seconds(p['drawn']['max'])} | ({seconds(p['idle']['median'])}) | "
            f"({seconds(p['idle']['max'])}) | {seconds(p['script_done']['median'])} | "
            f"{seconds(p['first_load_ms'])} |"
        )
    o = s["overall"]
    lines.append(f"| **all pages** | | **{seconds(o['median'])}** | **{seconds(o['max'])}** "
                 "| | | | |")  # fmt: skip
    if s["timeouts"]:
        lines.append(f"\n{s['timeouts']} change(s) were not drawn within "
                     f"{CHANGE_TIMEOUT_MS // 1000} s.")  # fmt: skip
    if goal is not None:
        median_goal, max_goal = goal
        worst_median = max((p["drawn"]["median"] or math.inf) for p in s["pages"].values())
        worst_max = max((p["drawn"]["max"] or math.inf) for p in s["pages"].values())
        verdict = "met" if worst_median <= median_goal * 1000 else "MISSED"
        text = f"Goal: median ≤ {median_goal} s on every page: {verdict}"
        if max_goal is not None:
            verdict = "met" if worst_max <= max_goal * 1000 and not s["timeouts"] else "MISSED"
            text += f"; none over {max_goal} s: {verdict}"
        lines += ["", text]
    csv = s["csv"]
    if csv is not None:
        clicks = csv["seconds"]
        whole = all(rows == csv["expected_rows"] for rows in csv["rows"])
        verdict = "met" if max(clicks) <= CSV_TARGET_SECONDS and whole else "MISSED"
        lines += ["", f"Record-level CSV of the whole database, {len(clicks)} clicks: "
                  f"{', '.join(f'{x:.2f}' for x in clicks)} s from the click until "
                  f"downloaded (median {statistics.median(clicks):.2f} s), rows "
                  f"{', '.join(f'{r:,}' for r in sorted(set(csv['rows'])))} (expected "
                  f"{csv['expected_rows']:,}), {csv['megabytes']} MB; goal every click ≤ "
                  f"{CSV_TARGET_SECONDS:g} s: {verdict}"]  # fmt: skip
    return "\n".join(lines)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000,
                        help="size of the database (default 1,000,000)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of 12 changes per page (later rounds are cache hits)")
    parser.add_argument("--pages", default=",".join(PAGE_NAMES),
                        help="comma-separated page names (default: every page)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--db", type=Path, help="use this database instead of building one")
    parser.add_argument("--keep-corpus", action="store_true", help="keep the generated reports")
    parser.add_argument("--build-only", action="store_true", help="build the database and stop")
    parser.add_argument("--no-csv", action="store_true", help="skip the CSV download")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    names = [n.strip() for n in args.pages.split(",") if n.strip()]
    unknown = [n for n in names if n not in PAGES]
    if unknown:
        sys.exit(f"unknown page(s) {', '.join(unknown)}; known: {', '.join(PAGES)}")
    if not CHROMIUM.is_file():
        sys.exit(f"needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    db = args.db.resolve() if args.db else ensure_database(
        workdir, args.records, args.seed, args.keep_corpus)  # fmt: skip
    if args.build_only:
        print(db)
        return
    totals = summary(db, Filter())
    changes = plan(busiest_reporters(db))
    log(f"expected values for {len(changes) + 1} filters on {len(names)} pages")
    wants: dict[str, list[dict[str, Any]]] = {}
    firsts: dict[str, dict[str, Any]] = {}
    messages: dict[tuple, str] = {}
    with open_store(db, read_only=True) as con:
        for name in names:
            spec = PAGES[name]
            firsts[name] = expectation(con, db, spec, {}, messages)
            wants[name] = [expectation(con, db, spec, c.params, messages) for c in changes]
    load_before = load_average()
    run = run_browser(db, workdir, names, args.rounds, not args.no_csv, changes, wants, firsts,
                      totals["records"])  # fmt: skip
    report = {
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_average(),
        "records_target": args.records if not args.db else None,
        "database": totals,
        "db_megabytes": round(db.stat().st_size / 1e6, 1),
        "changes_per_round": len(changes),
        "rounds": args.rounds,
        "changes": [asdict(t) for p in run["pages"] for t in p.timings],
        "summary": summarise(run),
    }
    print(json.dumps(report, indent=2) if args.json else markdown(report))


if __name__ == "__main__":
    main()
