"""Rollups never change an answer: every question that reads them gives the same result as
the records alone, for filters that cut months or not, while months are stale, after a
purge, a reparse, and when an existing database is upgraded."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from dmarc_analytics import insights as ins
from dmarc_analytics import pipeline, rollups
from dmarc_analytics.config import Settings
from dmarc_analytics.filters import Filter
from dmarc_analytics.maintenance import purge, reparse
from dmarc_analytics.pipeline import Ingestor
from dmarc_analytics.sources import expand_inputs
from dmarc_analytics.store import open_store
from dmarc_analytics.synth import write_corpus
from tests.support import back_to_before_rollups

START = date(2026, 1, 20)  # 100 days: Jan 20 .. Apr 29, so the first and last months are cut

FILTERS = [
    Filter(),
    Filter(since=date(2026, 2, 1), until=date(2026, 3, 31)),  # whole months only
    Filter(since=date(2026, 2, 10), until=date(2026, 4, 5)),  # cut at both ends
    Filter(since=date(2026, 3, 1)),
    Filter(until=date(2026, 2, 28)),
    Filter(since=date(2026, 2, 14), until=date(2026, 2, 14)),  # one day
    Filter(reporter=("google.com",), dmarc="fail"),
    Filter(dmarc="pass", spf_aligned=False),
    Filter(dkim_aligned=True, disposition=("none", "quarantine")),
    Filter(source_ip=("0.0.0.0/1", "2001:db8::/32"), since=date(2026, 2, 1)),
    Filter(policy_domain=("example.com",), header_from=("example.com",)),
    Filter(disposition=("reject",), since=date(2026, 1, 25), until=date(2026, 4, 2)),
]


def questions(con, flt):
    return {
        "overview": lambda: ins.overview(con, flt),
        "daily": lambda: ins.daily_messages(con, flt),
        "daily by disposition, Tokyo": lambda: ins.daily_messages(
            con, flt, by="disposition", tz="Asia/Tokyo"
        ),
        "disposition_over_time": lambda: ins.disposition_over_time(con, flt),
        "top_sources": lambda: ins.top_sources(con, flt),
        "top_sources limit": lambda: ins.top_sources(con, flt, limit=7),
        "count_sources": lambda: ins.count_sources(con, flt),
        "reporters": lambda: ins.reporters(con, flt),
        "alignment_matrix": lambda: ins.alignment_matrix(con, flt),
        "authenticated_unaligned": lambda: ins.authenticated_unaligned(con, flt),
        "override_reasons": lambda: ins.override_reasons(con, flt),
        "data_quality": lambda: ins.data_quality(con, flt),
        "count_reports": lambda: ins.count_reports(con, flt),
        "report_list": lambda: ins.report_list(con, flt),
    }


def assert_same_answers(db: Path, filters=FILTERS) -> None:
    with open_store(db, read_only=True) as con:
        for flt in filters:
            for name, ask in questions(con, flt).items():
                fast = ask()
                with rollups.bypassed():
                    plain = ask()
                where = f"{name} for {flt.to_params()}"
                if isinstance(fast, pd.DataFrame):
                    pd.testing.assert_frame_equal(fast, plain, check_exact=False, obj=where)
                else:
                    assert fast == plain, where


def months(db: Path) -> dict[date, bool]:
    with open_store(db, read_only=True) as con:
        return dict(con.execute("SELECT month, fresh FROM rollup_months").fetchall())


def rollup_rows(db: Path) -> dict[str, int]:
    with open_store(db, read_only=True) as con:
        return {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            for table in rollups.ROLLUP_TABLES
        }


@pytest.fixture(scope="module", autouse=True)
def rollups_at_any_size():
    """This corpus is far below the size at which ingest rebuilds rollups (see
    ``rollups.refresh``); the tests here are about the rollups, so they are always built,
    but in the test that says otherwise."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollups, "REBUILD_MIN_RECORDS", 0)
        yield


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    write_corpus(folder, 160, seed=5, start=START, days=100, records_mean=12)
    return folder


def settings_in(folder: Path) -> Settings:
    return Settings(db=folder / "db.duckdb", archive_dir=folder / "archive", workers=1)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, corpus) -> Settings:
    settings = settings_in(tmp_path_factory.mktemp("ingested"))
    Ingestor(settings).ingest_paths(expand_inputs([str(corpus)]))
    return settings


def test_an_ingest_leaves_every_month_fresh_and_the_rollups_filled(ingested):
    assert months(ingested.db) == {date(2026, m, 1): True for m in (1, 2, 3, 4)}
    counts = rollup_rows(ingested.db)
    assert all(counts[table] > 0 for table in rollups.ROLLUP_TABLES), counts
    with open_store(ingested.db, read_only=True) as con:
        records = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
    # The day rollup sums records: fewer rows, or it would not be worth reading.
    assert counts["rollup_days"] < records


def test_answers_from_rollups_equal_answers_from_records(ingested):
    assert_same_answers(ingested.db)


def test_questions_do_read_the_rollups(ingested):
    with open_store(ingested.db, read_only=True) as con:
        used = rollups.source_rows(con, Filter(since=date(2026, 2, 10)))
        assert "rollup_ip_months" in used.sql and "FROM records" in used.sql
        assert "rollup_days" in rollups.day_rows(con, Filter()).sql
        assert "rollup_reports" in rollups.report_rows(con, Filter(dmarc="fail")).sql
        # A source IP filter needs the IPs, which the day rollup does not have.
        assert "rollup_days" not in rollups.day_rows(con, Filter(source_ip=("10.0.0.0/8",))).sql
        # No whole month inside the range: nothing to read from a month rollup.
        one_day = Filter(since=date(2026, 3, 5), until=date(2026, 3, 5))
        assert "rollup_ip_months" not in rollups.source_rows(con, one_day).sql


def test_stale_months_are_read_from_records_until_refreshed(tmp_path, corpus, monkeypatch):
    settings = settings_in(tmp_path)
    files = expand_inputs([str(corpus)])
    Ingestor(settings).ingest_paths(files[:80])
    with monkeypatch.context() as patch:  # a run that stops before its end: no refresh
        patch.setattr(pipeline, "refresh_rollups", lambda con: 0)
        Ingestor(settings).ingest_paths(files[80:])
    stale = [month for month, fresh in months(settings.db).items() if not fresh]
    assert stale, "the second run touched no month"
    assert_same_answers(settings.db)
    with open_store(settings.db) as con:
        assert rollups.refresh(con) == len(stale)
    assert all(months(settings.db).values())
    assert_same_answers(settings.db)


def test_purge_and_reparse_keep_the_rollups_exact(tmp_path, corpus):
    settings = settings_in(tmp_path)
    Ingestor(settings).ingest_paths(expand_inputs([str(corpus)]))
    before = rollup_rows(settings.db)
    assert purge(settings, since=date(2026, 2, 20), until=date(2026, 3, 10)) > 0
    assert all(months(settings.db).values())
    assert rollup_rows(settings.db)["rollup_days"] < before["rollup_days"]
    assert_same_answers(settings.db)
    reparse(settings)
    assert all(months(settings.db).values())
    assert_same_answers(settings.db)


def test_upgrading_a_database_builds_its_rollups(tmp_path, corpus):
    settings = settings_in(tmp_path)
    Ingestor(settings).ingest_paths(expand_inputs([str(corpus)]))
    expected = rollup_rows(settings.db)
    with open_store(settings.db) as con:
        back_to_before_rollups(con)
    with open_store(settings.db):  # any read-write open applies pending migrations
        pass
    assert rollup_rows(settings.db) == expected
    assert all(months(settings.db).values())
    assert_same_answers(settings.db, FILTERS[:3])


def test_stale_months_are_rebuilt_once_they_hold_enough_records(tmp_path, corpus, monkeypatch):
    # Below the threshold the rollups would not pay for their rebuild: the months stay
    # stale and every answer comes from records, the same answers.
    settings = settings_in(tmp_path)
    files = expand_inputs([str(corpus)])
    monkeypatch.setattr(rollups, "REBUILD_MIN_RECORDS", 10**9)
    Ingestor(settings).ingest_paths(files[:40])
    Ingestor(settings).ingest_paths(files[40:80])  # not enough yet: left to records
    months_now = months(settings.db)
    assert months_now and not any(months_now.values())
    assert rollup_rows(settings.db)["rollup_days"] == 0
    assert_same_answers(settings.db)
    with open_store(settings.db, read_only=True) as con:
        (so_far,) = con.execute("SELECT count(*) FROM records").fetchall()[0]
    monkeypatch.setattr(rollups, "REBUILD_MIN_RECORDS", so_far + 1)
    Ingestor(settings).ingest_paths(files[80:])  # now the stale months hold enough
    assert all(months(settings.db).values())
    assert rollup_rows(settings.db)["rollup_days"] > 0
    assert_same_answers(settings.db)
