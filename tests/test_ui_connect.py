"""The app's connection keeper: it keeps the database open over the burst of questions of a
page run (a new DuckDB instance costs 25-40 ms) and lets go soon after, so that nobody is
kept out of the file between operations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmarc_analytics import ui_connect
from dmarc_analytics.store import initialise_store, open_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "kept.duckdb"
    initialise_store(path)
    yield path
    ui_connect.release()


def use(db: Path) -> None:
    with ui_connect.connect(db, timeout=5) as con:
        assert con.execute("SELECT count(*) FROM reports").fetchone() == (0,)


def held(db: Path) -> bool:
    return str(db) in ui_connect._keeper._held


def test_the_database_is_kept_over_a_burst_of_uses_and_released_soon_after(db):
    use(db)
    assert held(db)
    time.sleep(ui_connect.IDLE_SECONDS / 2)
    use(db)  # a use while kept starts the idle time again
    time.sleep(ui_connect.IDLE_SECONDS / 4)
    assert held(db)
    deadline = time.monotonic() + 3
    while held(db) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not held(db)


def test_a_command_in_another_process_gets_the_database_right_after_a_page_run(db):
    use(db)
    assert held(db)
    done = subprocess.run(
        [sys.executable, "-m", "dmarc_analytics", "summary", "--json", "--db", str(db)],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        env={**os.environ, "DMARC_ANALYTICS_LOCK_TIMEOUT": "5"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["messages"] == 0


def test_a_read_only_open_in_the_app_process_gets_the_database_right_after_a_use(db):
    # DuckDB refuses a read-only connection beside a read-write one in one process: the open
    # waits for the keeper to let go.
    use(db)
    started = time.monotonic()
    with open_store(db, read_only=True, timeout=5) as con:
        assert con.execute("SELECT count(*) FROM records").fetchone() == (0,)
    assert time.monotonic() - started < 3
