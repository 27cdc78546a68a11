"""Fixtures for the browser tests: Debian's Chromium, one Streamlit server per session.

The server runs ``python -m streamlit run app.py`` from the repository root on a free port,
with its database, drop folder and archive in a fresh temporary folder. The CLI runs as a
separate process against the same database (``run_cli``), so the pages are checked against
an independent reading of the data. Without ``/usr/bin/chromium`` every test here skips
(fails under ``DMARC_ANALYTICS_NO_SKIP=1``); ``playwright install`` is never needed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support import REPO, skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
START_TIMEOUT = 60.0  # seconds until /_stcore/health answers "ok"
WAIT_MS = 30_000  # Playwright waits; generous, the machine may be busy with other work

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
STALE = '[data-testid="stElementContainer"][data-stale="true"]'

expect.set_options(timeout=WAIT_MS)


@dataclass(frozen=True, slots=True)
class App:
    """The running app: its URL and the folders it reads and writes."""

    url: str
    db: Path
    inbox: Path
    archive: Path
    log: Path


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``DMARC_ANALYTICS_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMARC_ANALYTICS_")}
    env.update(extra)
    return env


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m dmarc_analytics ARGS`` as its own process, from the repository root."""
    result = subprocess.run(
        [sys.executable, "-m", "dmarc_analytics", *args],
        cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"CLI {args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def cli_summary(db: Path, **flt: str) -> dict[str, Any]:
    """``summary --json`` for the filter (keyword = CLI option without ``--``, ``_`` → ``-``).

    A fresh app creates its database on its first page load, which may run beside this:
    ``summary`` refuses a database that does not exist, so wait for the file first.
    """
    deadline = time.monotonic() + 60
    while not db.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    options = [part for k, v in flt.items() for part in (f"--{k.replace('_', '-')}", v)]
    return json.loads(run_cli("summary", "--json", "--db", str(db), *options).stdout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except (OSError, urllib.error.URLError):
        return False


@pytest.fixture(scope="session", autouse=True)
def chromium_present() -> None:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        skip_or_fail(f"the browser tests need Debian's Chromium at {CHROMIUM} "
                     "(apt-get install -y chromium)")  # fmt: skip


@pytest.fixture(scope="session")
def streamlit_app(
    chromium_present: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[App]:
    """``streamlit run app.py`` on a free port with a fresh database; stopped at the end."""
    root = tmp_path_factory.mktemp("e2e-app")
    app = App("", root / "dmarc.duckdb", root / "inbox", root / "archive", root / "streamlit.log")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        DMARC_ANALYTICS_DB=str(app.db),
        DMARC_ANALYTICS_INBOX=str(app.inbox),
        DMARC_ANALYTICS_ARCHIVE_DIR=str(app.archive),
    )
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with app.log.open("wb") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start (exit code {proc.poll()}):\n"
                            + app.log.read_text(errors="replace")[-3000:])  # fmt: skip
            time.sleep(0.2)
        yield App(url, app.db, app.inbox, app.archive, app.log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def base_url(streamlit_app: App) -> str:
    """Overrides pytest-playwright's ``base_url``: ``page.goto("/Sources")`` opens the app."""
    return streamlit_app.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "accept_downloads": True,
        "viewport": {"width": 1400, "height": 1000},
    }


@pytest.fixture(scope="session")
def shared_context(
    browser: Browser, browser_context_args: dict[str, Any]
) -> Iterator[BrowserContext]:
    """One browser context for the session: the app's scripts are fetched and cached once."""
    context = browser.new_context(**browser_context_args)
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


@pytest.fixture
def app_page(shared_context: BrowserContext) -> Iterator[Page]:
    """A new tab, hence a new Streamlit session (its own filter and uploads), per test."""
    page = shared_context.new_page()
    yield page
    page.close()


def settle(page: Page) -> None:
    """The page is idle and no element is stale. Call it after waiting for expected content."""
    page.locator(IDLE).wait_for()
    expect(page.locator(STALE)).to_have_count(0)


def open_page(page: Page, path: str = "/") -> None:
    """Navigate, wait until the session is connected and its first run has finished."""
    page.goto(path)
    page.locator(CONNECTED).wait_for()
    page.get_by_test_id("stHeading").first.wait_for()
    settle(page)
