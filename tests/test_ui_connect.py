"""The app's connection keeper: it keeps the database open between the page runs of a person
changing filters (a new DuckDB instance costs 25-40 ms and starts with empty buffers), lets
go when idle, and lets go at once when another open waits for the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmarc_analytics import ui_connect
from dmarc_analytics.store import initialise_store, open_store, waiting_marker

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


def wait_until(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_database_is_kept_open_after_a_use_and_released_when_idle(db, monkeypatch):
    monkeypatch.setattr(ui_connect, "IDLE_SECONDS", 0.5)
    use(db)
    assert ui_connect._keeper.holds(db)
    time.sleep(0.25)
    use(db)  # a use while kept starts the idle time again
    time.sleep(0.35)
    assert ui_connect._keeper.holds(db)
    assert wait_until(lambda: not ui_connect._keeper.holds(db), 3)


def test_a_command_in_another_process_gets_the_database_without_waiting_out_the_idle_time(
    db, monkeypatch
):
    monkeypatch.setattr(ui_connect, "IDLE_SECONDS", 600)
    use(db)
    assert ui_connect._keeper.holds(db)
    # Without the marker the command would find the file locked until its deadline (15 s)
    # and fail; with it, the keeper lets go within a poll or two.
    done = subprocess.run(
        [sys.executable, "-m", "dmarc_analytics", "summary", "--json", "--db", str(db)],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        env={**os.environ, "DMARC_ANALYTICS_LOCK_TIMEOUT": "15"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["messages"] == 0
    assert not ui_connect._keeper.holds(db)
    assert not waiting_marker(db).exists()  # the command removed it once it was in
    use(db)  # and the app opens it again on its next use
    assert ui_connect._keeper.holds(db)


def test_a_read_only_open_in_the_app_process_gets_the_database_too(db, monkeypatch):
    # DuckDB refuses a read-only connection beside a read-write one in one process; the
    # open waits and says so, as it does for another process.
    monkeypatch.setattr(ui_connect, "IDLE_SECONDS", 600)
    use(db)
    started = time.monotonic()
    with open_store(db, read_only=True, timeout=10) as con:
        assert con.execute("SELECT count(*) FROM records").fetchone() == (0,)
    assert time.monotonic() - started < 5
    assert not waiting_marker(db).exists()


def test_an_old_marker_does_not_make_the_keeper_let_go(db, monkeypatch):
    monkeypatch.setattr(ui_connect, "IDLE_SECONDS", 600)
    marker = waiting_marker(db)
    marker.touch()
    past = time.time() - 60
    os.utime(marker, (past, past))  # left by a command that was killed while it waited
    use(db)
    time.sleep(5 * ui_connect.POLL_SECONDS)
    assert ui_connect._keeper.holds(db)
