"""The app's pages driven by Streamlit's AppTest: every page on an empty and on a loaded
database, the numbers of a known fixture set, filter changes, the URL, uploads, the drop
folder, the demo data, and the CSV behind each download button.

Each test points the app at its own temporary database, inbox and archive through the
environment (read by the app on every run) and clears Streamlit's caches.
"""

from __future__ import annotations

import base64
import csv
import html
import inspect
import io
import json
import os
import re
import shutil
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy
import pandas
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dmarc_analytics import (
    charts,
    i18n,
    insights,
    maintenance,
    ui,
    ui_overview,
    ui_report,
    ui_tables,
)
from dmarc_analytics.config import load_settings
from dmarc_analytics.filters import Filter
from dmarc_analytics.pipeline import Ingestor
from dmarc_analytics.queries import summary
from dmarc_analytics.sources import expand_inputs
from dmarc_analytics.store import open_store
from dmarc_analytics.ui_ingest import tally_text
from tests import web
from tests.support import back_to_before_rollups

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
PAGES = ["pages/1_Sources.py", "pages/2_Reporters.py", "pages/3_Alignment.py",
         "pages/4_Reports.py", "pages/5_Ingest.py"]  # fmt: skip
SIX = ("Messages", "DMARC pass rate", "Reports", "Reporters", "Source IPs", "Domains")

# (source IP, count, disposition, dkim verdict, spf verdict, header-from, DKIM d=, SPF domain)
G1 = [("192.0.2.1", 10, "none", "pass", "pass", "example.com", "example.com", "example.com"),
      ("192.0.2.2", 5, "quarantine", "fail", "fail", "example.com", "other.net", "spoof.test")]
Y1 = [("192.0.2.1", 7, "none", "pass", "pass", "example.com", "example.com", "example.com"),
      ("198.51.100.9", 3, "reject", "fail", "fail", "example.com", "bad.test", "bad.test")]
G2 = [("203.0.113.5", 20, "none", "fail", "pass", "example.org", "esp.test", "example.org")]
# fmt: skip


def report_xml(org: str, report_id: str, domain: str, day: date, rows: list[tuple]) -> bytes:
    begin = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    records = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>"
        f"<disposition>{disp}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf>"
        f"</policy_evaluated></row><identifiers><header_from>{hfrom}</header_from></identifiers>"
        f"<auth_results><dkim><domain>{d}</domain><selector>s1</selector><result>"
        f"{'pass' if d != 'bad.test' else 'fail'}</result></dkim><spf><domain>{s}</domain>"
        f"<result>{'pass' if s != 'bad.test' else 'fail'}</result></spf></auth_results></record>"
        for ip, count, disp, dkim, spf, hfrom, d, s in rows
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><feedback><version>1.0</version>'
        f"<report_metadata><org_name>{org}</org_name><email>dmarc@{org.lower()}</email>"
        f"<report_id>{report_id}</report_id><date_range><begin>{begin}</begin>"
        f"<end>{begin + 86399}</end></date_range></report_metadata><policy_published>"
        f"<domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>none</sp>"
        f"<pct>100</pct></policy_published>{records}</feedback>"
    ).encode()


FIXTURE = {
    "google.com!example.com!g1.xml": report_xml("google.com", "g1", "example.com",
                                                date(2026, 11, 1), G1),
    "yahoo.com!example.com!y1.xml": report_xml("Yahoo", "y1", "example.com",
                                               date(2026, 11, 2), Y1),
    "google.com!example.org!g2.xml": report_xml("google.com", "g2", "example.org",
                                                date(2026, 11, 3), G2),
}  # fmt: skip


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """A fresh database, inbox and archive for the app; caches cleared before and after."""
    monkeypatch.setenv("DMARC_ANALYTICS_DB", str(tmp_path / "app.duckdb"))
    monkeypatch.setenv("DMARC_ANALYTICS_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("DMARC_ANALYTICS_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.delenv("DMARC_ANALYTICS_CONFIG", raising=False)
    st.cache_data.clear()
    yield load_settings(cwd=tmp_path)
    st.cache_data.clear()


@pytest.fixture
def loaded(app_env):
    outcomes = Ingestor(replace(app_env, workers=1), via="test").ingest_blobs(FIXTURE.items())
    assert [o.outcome for o in outcomes] == ["inserted"] * 3
    return app_env


@pytest.fixture
def downloads(monkeypatch):
    """Every CSV download drawn, by key: (label, function that builds the file, mime type)."""
    seen: dict[str, tuple[str, object, str]] = {}
    original = ui_tables.csv_download

    def spy(label, make, file_name, key, help=None, mime="text/csv"):  # noqa: A002
        seen[key] = (label, make, mime)
        original(label, make, file_name, key, help, mime)

    monkeypatch.setattr(ui_tables, "csv_download", spy)
    return seen


def start(
    page: str | None = None, params: dict[str, str] | None = None, state: dict | None = None
) -> AppTest:
    """The app run on ``page``; ``state``: widget values set before the first run (AppTest
    sets a picker only to a listed value; a typed one is set this way)."""
    at = AppTest.from_file(APP, default_timeout=60)
    if params:
        at.query_params.update(params)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def plain(markdown: str) -> str:
    """Markdown text with its code spans and backslash escapes undone (what the browser
    shows)."""
    text = re.sub(r"(`+) ?(.*?) ?\1", lambda m: m.group(2).replace("\\", "\\\\"), markdown)
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


def nav_links(at: AppTest) -> list[str]:
    return [link.proto.label for link in at.sidebar.get("page_link")]


def chart(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def numbers(values: list | dict) -> list:
    """Plotly JSON numbers: a list, or a typed array (``{"dtype", "bdata"}``)."""
    if isinstance(values, dict):
        return numpy.frombuffer(base64.b64decode(values["bdata"]), values["dtype"]).tolist()
    return values


@pytest.mark.parametrize(
    ("rate", "shown"),
    [(3048 / 3049, "99.97%"), (1.0, "100.0%"), (0.822, "82.2%"), (0.0, "0.0%"),
     (1e-6, "0.0001%"), (0.9996, "99.96%"), (1 - 1e-9, "99.9999%")],
)  # fmt: skip
def test_a_rate_near_all_or_nothing_keeps_the_digits_that_show_it(rate, shown):
    # 3,048 of 3,049 messages passing read "100.0%" on the Overview.
    assert i18n.percent(rate) == shown


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expected_metrics(settings, flt: Filter) -> dict[str, str]:
    with open_store(settings.db) as con:
        s = summary(con, flt)
        o = insights.overview(con, flt)
    rate = "—" if s.dmarc_pass_rate is None else i18n.percent(s.dmarc_pass_rate)
    return {"Messages": f"{s.messages:,}", "DMARC pass rate": rate, "Reports": f"{s.reports:,}",
            "Reporters": f"{o.reporters:,}", "Source IPs": f"{o.source_ips:,}",
            "Domains": f"{o.domains:,}"}  # fmt: skip


def six(at: AppTest) -> dict[str, str]:
    values = metrics(at)
    return {label: values[label] for label in SIX}


def records_link(at: AppTest) -> dict[str, str]:
    """The record-level CSV link a page drew: its address, file name, label and help."""
    (body,) = [e.proto.body for e in at.get("html") if 'class="records-csv"' in e.proto.body]
    attributes = dict(re.findall(r'(href|download|title)="([^"]*)"', body))
    label = re.search(r">([^<]*)</a>", body)
    assert not re.search(r"[\x00-\x08\x0b-\x1f]", body)  # e.g. a CSS escape Python ate
    return {k: html.unescape(v) for k, v in attributes.items()} | {"label": label.group(1)}


def linked_rows(at: AppTest) -> list[dict[str, str]]:
    """The rows of the record-level CSV behind the page's link, as the server sends it."""
    answer = web.get(records_link(at)["href"])
    assert answer.status == 200
    return csv_rows(lambda: answer.body)


def csv_rows(make) -> list[dict[str, str]]:
    data = make()
    if not isinstance(data, bytes):  # a file open for reading
        with data:
            data = data.read()
    assert data.startswith(b"\xef\xbb\xbf") and not data.startswith(b"\xef\xbb\xbf" * 2)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


# --- empty database -------------------------------------------------------------------


@pytest.mark.parametrize("page", [None, *PAGES])
def test_every_page_on_an_empty_database_says_what_to_do(app_env, page):
    at = start(page)
    if page == "pages/5_Ingest.py":
        assert at.get("file_uploader")
        assert [h.value for h in at.main.subheader][:1] == ["This session's uploads"]
        return
    assert [h.value for h in at.main.subheader] == ["No reports yet"]
    assert not at.metric and not at.dataframe
    assert nav_links(at) == ["Overview", "Sources", "Reporters", "Alignment", "Reports", "Ingest"]
    assert [link.proto.label for link in at.main.get("page_link")] == ["Go to Ingest"]
    assert [b.label for b in at.button if b.key == "demo_load"] == (
        ["Load demo data"] if page is None else []
    )


# --- the known fixture set -----------------------------------------------------------


def test_one_click_shows_the_sources_of_failing_mail(loaded):
    at = start()
    at.button(key="overview_only_failing").click().run()
    assert not at.exception
    failing = Filter(dmarc="fail")
    assert at.session_state["filter"] == failing
    assert six(at) == expected_metrics(loaded, failing)
    with open_store(loaded.db) as con:
        expected = insights.top_sources(con, failing, limit=10)["source_ip"].tolist()
    assert at.dataframe[0].value["source_ip"].tolist() == expected
    assert not [b for b in at.button if b.key == "overview_only_failing"]  # already narrowed


def test_overview_shows_the_fixture_numbers(loaded):
    at = start()
    assert six(at) == {"Messages": "45", "DMARC pass rate": "82.2%", "Reports": "3",
                       "Reporters": "2", "Source IPs": "4", "Domains": "2"}  # fmt: skip
    assert six(at) == expected_metrics(loaded, Filter())
    helps = {m.label: m.proto.help for m in at.metric}
    assert all(helps[label] for label in SIX)  # each says what it counts
    assert helps["Domains"].startswith("Policy domains: ")
    assert any(c.value == "Reports from 2026-11-01 00:00 to 2026-11-03 23:59 (UTC)."
               for c in at.caption)  # fmt: skip
    quality = metrics(at)
    assert quality["Reports with issues"] == "0" and quality["Conflicts"] == "0"
    top_sources, top_reporters = (d.value for d in at.dataframe)
    assert top_sources["source_ip"].tolist() == ["203.0.113.5", "192.0.2.1", "192.0.2.2",
                                                 "198.51.100.9"]  # fmt: skip
    assert top_sources["messages"].tolist() == [20, 17, 5, 3]
    assert list(top_sources.columns) == ["source_ip", "messages", "dmarc_pass_rate",
                                         "header_from"]  # fmt: skip
    assert top_reporters[["reports", "messages"]].values.tolist() == [[2, 35], [1, 10]]
    layout = chart(at)["layout"]
    assert layout["title"]["text"] == "Messages per day by DMARC result"
    assert layout["xaxis"]["title"]["text"] == "Day (UTC)"
    assert layout["yaxis"]["title"]["text"] == "Messages"
    bars = {trace["name"]: sum(numbers(trace["y"])) for trace in chart(at)["data"]}
    assert bars == {"DMARC pass": 37, "DMARC fail": 8}


def reporter_choice(at: AppTest, name: str) -> str:
    return next(o for o in at.multiselect(key="_filter_reporter").options if o.lower() == name)


@pytest.mark.parametrize(
    ("change", "flt"),
    [
        (lambda at: at.multiselect(key="_filter_reporter").set_value(
            [reporter_choice(at, "google.com")]), Filter(reporter=("google.com",))),
        (lambda at: at.multiselect(key="_filter_disposition").set_value(["reject"]),
         Filter(disposition=("reject",))),
        (lambda at: at.selectbox(key="_filter_dmarc").set_value("fail"), Filter(dmarc="fail")),
        (lambda at: at.text_input(key="_filter_source_ip").input("192.0.2.0/24"),
         Filter(source_ip=("192.0.2.0/24",))),
        (lambda at: at.date_input(key="_filter_since").set_value(date(2026, 11, 2)),
         Filter(since=date(2026, 11, 2))),
        (lambda at: at.multiselect(key="_filter_policy_domain").set_value(["example.org"]),
         Filter(policy_domain=("example.org",))),
        (lambda at: at.selectbox(key="_filter_spf_aligned").set_value("no"),
         Filter(spf_aligned=False)),
    ],
    ids=["reporter", "disposition", "dmarc", "source_ip", "since", "policy_domain", "spf"],
)
def test_a_filter_change_moves_the_metrics_to_the_library_numbers(loaded, change, flt):
    at = start()
    change(at)
    at.run()
    assert not at.exception
    assert at.session_state["filter"] == flt
    assert six(at) == expected_metrics(loaded, flt)
    assert at.query_params == flt.to_params()
    assert i18n.describe_filter(flt) in [plain(m.value) for m in at.markdown]


def test_filter_numbers_are_exact_for_known_filters(loaded):
    at = start()
    at.multiselect(key="_filter_reporter").set_value([reporter_choice(at, "google.com")]).run()
    assert six(at) == {"Messages": "35", "DMARC pass rate": "85.7%", "Reports": "2",
                       "Reporters": "1", "Source IPs": "3", "Domains": "2"}  # fmt: skip
    at.multiselect(key="_filter_disposition").set_value(["quarantine"]).run()
    assert six(at) == {"Messages": "5", "DMARC pass rate": "0.0%", "Reports": "1",
                       "Reporters": "1", "Source IPs": "1", "Domains": "1"}  # fmt: skip
    at.button(key="_filter_clear").click().run()
    assert six(at)["Messages"] == "45" and at.query_params == {}


def test_the_filter_survives_a_page_switch_and_is_written_back_to_the_url(loaded):
    at = start()
    at.selectbox(key="_filter_dmarc").set_value("fail").run()
    at.switch_page("pages/1_Sources.py").run()
    assert at.query_params == {"dmarc": "fail"}
    assert at.selectbox(key="_filter_dmarc").value == "fail"
    assert at.dataframe[0].value["source_ip"].tolist() == ["192.0.2.2", "198.51.100.9"]
    assert "Showing DMARC fail." in [m.value for m in at.markdown]


def test_a_link_with_filter_params_restores_the_filter(loaded):
    at = start(params={"reporter": "Yahoo", "since": "2026-11-01"})
    assert at.session_state["filter"] == Filter(since=date(2026, 11, 1), reporter=("Yahoo",))
    assert at.multiselect(key="_filter_reporter").value == ["Yahoo"]
    assert six(at)["Messages"] == "10"


def test_a_link_opens_the_source_or_report_it_names_and_picking_one_writes_it(loaded):
    # A picked source or report was not in the URL, so a shared link lost it.
    at = start("pages/1_Sources.py", params={"ip": "192.0.2.1", "since": "2026-11-01"})
    assert not at.error
    assert at.session_state["filter"] == Filter(since=date(2026, 11, 1))
    assert at.selectbox(key="sources_ip").value == "192.0.2.1"
    assert at.query_params == {"since": "2026-11-01", "ip": "192.0.2.1"}
    other = next(o for o in at.selectbox(key="sources_ip").options if o != "192.0.2.1")
    at.selectbox(key="sources_ip").set_value(other).run()
    assert at.query_params["ip"] == other
    at.switch_page(APP).run()
    assert "ip" not in at.query_params  # only the page it belongs to writes it
    with open_store(loaded.db) as con:
        key = int(con.execute("SELECT min(report_key) FROM reports").fetchall()[0][0])
        report_id = con.execute(
            "SELECT report_id FROM reports WHERE report_key = $key", {"key": key}
        ).fetchall()[0][0]
    at = start("pages/4_Reports.py", params={"report": f"#{key}"})  # a key: "#" and it
    assert at.selectbox(key="reports_pick").value == f"#{key}"
    # named by its report ID, which a re-parse keeps (it gives reports new keys)
    assert at.query_params == {"report": report_id}
    assert any(d.value["field"].tolist()[:1] == ["Reporter"] for d in at.dataframe
               if "field" in d.value.columns)  # the report's detail is shown
    at.selectbox(key="reports_pick").set_value(key).run()  # picked from the list: the same
    assert at.query_params == {"report": report_id}


def test_a_report_link_uses_the_key_where_the_id_cannot_name_the_report(loaded):
    long_id = "x" * 250  # longer than a link value the app reads
    shared = report_xml("Yahoo", "g1", "example.com", date(2026, 11, 6), Y1)  # google's ID too
    Ingestor(replace(loaded, workers=1), via="test").ingest_blobs([
        ("long.xml", report_xml("google.com", long_id, "example.com", date(2026, 11, 5), G1)),
        ("shared.xml", shared),
    ])  # fmt: skip
    with open_store(loaded.db) as con:
        keys = dict(con.execute("SELECT report_id, report_key FROM reports").fetchall())
        assert insights.report_link(con, keys[long_id]) == f"#{keys[long_id]}"
        assert insights.report_link(con, keys["g1"]) == f"#{keys['g1']}"
        assert insights.report_link(con, keys["y1"]) == "y1"
        assert insights.report_link(con, 10_000) is None


def test_a_report_link_never_takes_a_report_number_for_a_key(loaded):
    # A link to report ID "2" whose report was purged opened the report numbered 2.
    Ingestor(replace(loaded, workers=1), via="test").ingest_blobs(
        [("two.xml", report_xml("google.com", "2", "example.net", date(2026, 11, 7), G1))]
    )
    at = start("pages/4_Reports.py", params={"report": "2"})
    shown = [d.value for d in at.dataframe if "field" in d.value.columns][0]
    assert "2026-11-07 00:00" in shown["value"].astype(str).tolist()  # report ID 2's
    maintenance.purge(loaded, policy_domain="example.net")
    st.cache_data.clear()
    at = start("pages/4_Reports.py", params={"report": "2"})
    assert [plain(i.value) for i in at.info] == [i18n.t("report.not_found", text="2")]
    # "#" and a number is a key; an ID that itself reads "#1" is linked by its key instead
    with open_store(loaded.db) as con:
        assert insights.find_linked_report(con, "#2") == [2]
        assert insights.find_linked_report(con, "#99") == []


def test_a_report_id_matches_in_any_case_as_duckdb_lowers_it(loaded):
    # Python lowers "İ" to "i̇", DuckDB to "i": the link to RAPOR-İ-1 found nothing.
    Ingestor(replace(loaded, workers=1), via="test").ingest_blobs(
        [("tr.xml", report_xml("google.com", "RAPOR-İ-1", "example.com", date(2026, 11, 8), G1)),
         ("hash.xml", report_xml("google.com", "#1", "example.com", date(2026, 11, 9), G1))]
    )  # fmt: skip
    with open_store(loaded.db) as con:
        (key,) = insights.find_reports(con, "rapor-İ-1")
        assert insights.find_linked_report(con, "RAPOR-İ-1") == [key]
        assert insights.report_link(con, key) == "RAPOR-İ-1"
        (hashed,) = insights.find_reports(con, "#1")  # typed: the ID first
        assert insights.report_link(con, hashed) == f"#{hashed}"
        assert insights.find_linked_report(con, f"#{hashed}") == [hashed]


def test_a_report_link_still_opens_its_report_after_a_reparse(loaded):
    # A re-parse stores every report again under new keys: a link by key opened another
    # report or none. A link names the report by its ID where that is unique.
    unarchived = report_xml("google.com", "g9", "example.com", date(2026, 11, 5), G1)
    Ingestor(replace(loaded, workers=1, archive=False), via="test").ingest_blobs(
        [("g9.xml", unarchived)]
    )  # kept by the reparse (no original), so the others come back under new keys
    with open_store(loaded.db) as con:
        key, report_id = con.execute(
            "SELECT report_key, report_id FROM reports WHERE report_id = 'g2'"
        ).fetchall()[0]
    at = start("pages/4_Reports.py")
    at.selectbox(key="reports_pick").set_value(key).run()
    assert at.query_params["report"] == report_id
    maintenance.reparse(replace(loaded, workers=1))
    with open_store(loaded.db) as con:
        assert con.execute(
            "SELECT report_key FROM reports WHERE report_id = $id", {"id": report_id}
        ).fetchall() != [(key,)]  # renumbered
    st.cache_data.clear()
    at = start("pages/4_Reports.py", params={"report": report_id})
    assert not at.warning and not at.info
    shown = [d.value for d in at.dataframe if "field" in d.value.columns][0]
    assert report_id in shown["value"].astype(str).tolist()


def test_a_source_link_that_is_no_address_says_so(loaded):
    at = start("pages/1_Sources.py", params={"ip": "999.1.1.1"})
    assert [plain(i.value) for i in at.info] == [
        "999.1.1.1 is not an IP address, and no report names it as a source for this filter."
    ]
    at = start("pages/1_Sources.py", params={"ip": "203.0.113.77"})
    assert [plain(i.value) for i in at.info] == ["No mail from 203.0.113.77 matches the filter."]


def test_a_bad_link_param_is_a_clear_error_and_the_page_still_works(loaded):
    at = start(params={"dmarc": "maybe"})
    assert [plain(e.value) for e in at.error] == [
        "Left out of the link's filter: dmarc: 'maybe' is not one of pass, fail"
    ]
    assert six(at)["Messages"] == "45"
    # The link's other parameters are kept: one typo no longer throws the view away.
    at = start(params={"dmarc": "maybe", "reporter": "Yahoo", "since": "2026-11-01"})
    assert [plain(e.value) for e in at.error] == [
        "Left out of the link's filter: dmarc: 'maybe' is not one of pass, fail"
    ]
    assert at.session_state["filter"] == Filter(since=date(2026, 11, 1), reporter=("Yahoo",))


def test_a_link_s_problems_are_shown_under_the_page_title(loaded):
    # Shown where the filter was read, above the title, they read like a crash.
    at = start(params={"dmarc": "maybe", "tz": "Mars/Base"})
    kinds = [node.type for node in at.main if node.type in ("title", "error")]
    assert kinds == ["title", "error", "error"]
    at.run()  # shown once, not on every run
    assert not at.error


def test_the_uploader_says_its_size_limit_and_where_bigger_files_go(app_env):
    at = start("pages/5_Ingest.py")
    limit = [plain(c.value) for c in at.caption if "MB per file" in c.value]
    assert limit == [
        f"Up to {st.get_option('server.maxUploadSize')} MB per file. A bigger one, such as a "
        f"whole mailbox exported as mbox, goes in the drop folder {app_env.inbox} or to "
        "python -m dmarc_analytics ingest; so does a folder of many hundreds of files, which "
        "the browser uploads one by one, more slowly the more there are."
    ]


def test_the_ingest_page_says_the_sidebar_filter_is_not_its_own(loaded):
    at = start("pages/5_Ingest.py", params={"since": "2026-11-20"})
    assert i18n.t("ingest.filter_note") in [c.value for c in at.caption]
    assert not [m for m in at.markdown if m.value.startswith("Showing")]


def test_every_data_page_says_when_demo_data_is_in_its_numbers(app_env):
    at = start()
    at.button(key="demo_load").click().run()
    for path in PAGES[:4]:
        at.switch_page(path).run()
        assert i18n.t("demo.banner") in [i.value for i in at.info], path


def test_a_link_whose_dates_are_reversed_keeps_the_rest_of_its_filter(loaded):
    at = start(params={"since": "2026-11-03", "until": "2026-11-01", "reporter": "Yahoo"})
    assert [plain(e.value) for e in at.error] == [
        "Left out of the link's filter: since (2026-11-03) is after until (2026-11-01)"
    ]
    assert at.session_state["filter"] == Filter(reporter=("Yahoo",))


def test_an_invalid_sidebar_value_is_reported_and_not_applied(loaded):
    at = start()
    at.text_input(key="_filter_source_ip").input("not-an-ip").run()
    # Under its field, so without the field's internal name
    assert [plain(e.value) for e in at.error] == [
        "Not applied: 'not-an-ip' is not an IP address or CIDR range"
    ]
    assert at.session_state["filter"] == Filter()
    assert six(at)["Messages"] == "45"


def test_a_filter_error_is_worded_by_the_active_catalogue(loaded, monkeypatch):
    # A second language words the library's filter errors too, without touching a page.
    other = {"filter.bad_value": "Nicht angewandt: {message}",
             "filter_error.not_a_network": "{value!r} ist keine IP-Adresse"}  # fmt: skip
    monkeypatch.setitem(i18n.CATALOGUE, "xx", other)
    monkeypatch.setattr(i18n, "DEFAULT_LANGUAGE", "xx")
    try:
        at = start()
        at.text_input(key="_filter_source_ip").input("not-an-ip").run()
        assert [plain(e.value) for e in at.error] == [
            "Nicht angewandt: 'not-an-ip' ist keine IP-Adresse"
        ]
    finally:
        i18n.set_language("en")


def test_a_time_zone_relabels_days_and_times(loaded):
    at = start()
    at.selectbox(key="_tz").set_value("Asia/Tokyo").run()
    assert any(c.value == "Reports from 2026-11-01 09:00 to 2026-11-04 08:59 (Asia/Tokyo)."
               for c in at.caption)  # fmt: skip
    assert chart(at)["layout"]["xaxis"]["title"]["text"] == "Day (Asia/Tokyo)"
    assert at.query_params == {"tz": "Asia/Tokyo"}


def test_the_time_zone_setting_is_the_app_s_zone_until_one_is_picked(loaded, monkeypatch):
    monkeypatch.setenv("DMARC_ANALYTICS_TIME_ZONE", "Asia/Tokyo")
    at = start()
    assert at.selectbox(key="_tz").value == "Asia/Tokyo"
    assert any(c.value == "Reports from 2026-11-01 09:00 to 2026-11-04 08:59 (Asia/Tokyo)."
               for c in at.caption)  # fmt: skip
    assert at.query_params == {"tz": "Asia/Tokyo"}
    at.selectbox(key="_tz").set_value("UTC").run()  # picked: the link says so, for anyone
    assert at.query_params == {"tz": "UTC"}
    assert chart(at)["layout"]["xaxis"]["title"]["text"] == "Day (UTC)"


def test_a_link_with_a_time_zone_uses_it_and_an_unknown_one_says_so(loaded):
    at = start(params={"tz": "Asia/Tokyo"})
    assert not at.error
    assert chart(at)["layout"]["xaxis"]["title"]["text"] == "Day (Asia/Tokyo)"
    at = start(params={"tz": "Mars/Olympus"})
    assert [plain(e.value) for e in at.error] == [
        "The link's time zone Mars/Olympus is not one this app knows; times are shown in UTC."
    ]
    assert chart(at)["layout"]["xaxis"]["title"]["text"] == "Day (UTC)"


@pytest.mark.parametrize("page", [None, *PAGES])
def test_every_page_runs_on_the_loaded_database(loaded, page):
    at = start(page)
    assert not at.error
    assert nav_links(at) == ["Overview", "Sources", "Reporters", "Alignment", "Reports", "Ingest"]


def test_sources_table_drill_down_and_csv(loaded, downloads, monkeypatch):
    monkeypatch.setattr(ui_tables, "STEP", 2)
    at = start("pages/1_Sources.py")
    table = at.dataframe[0].value
    assert table["source_ip"].tolist() == ["203.0.113.5", "192.0.2.1"]
    assert table["dmarc_pass_rate"].tolist() == [1.0, 1.0]
    assert "Showing 2 of 4 rows." in [c.value for c in at.caption]
    label, make, _ = downloads["sources_csv"]
    assert label == "Download CSV (4 rows)"
    rows = csv_rows(make)
    assert [r["Source IP"] for r in rows] == ["203.0.113.5", "192.0.2.1", "192.0.2.2",
                                              "198.51.100.9"]  # fmt: skip
    # The table's columns, under the names the page shows; rates as the page rounds them.
    assert list(rows[0]) == [ui_tables.column_config(table, "UTC")[c].get("label", c)
                             for c in table.columns]  # fmt: skip
    assert rows[0]["DMARC pass"] == "1.0"
    link = records_link(at)
    assert link["label"] == "Download records CSV (whole filter)"
    assert re.fullmatch(r"dmarc-records-\d{4}-\d{2}-\d{2}\.csv", link["download"])
    assert link["title"].startswith("Every matching record")
    record_rows = linked_rows(at)
    assert sorted(int(r["count"]) for r in record_rows) == [3, 5, 7, 10, 20]
    assert downloads["sources_csv"][2] == "text/csv"
    at.button(key="sources_more").click().run()
    assert len(at.dataframe[0].value) == 4
    at.selectbox(key="sources_ip").set_value("192.0.2.1").run()
    assert not at.exception
    summary, dkim, spf, records = (d.value for d in at.dataframe[1:5])
    assert summary[["category", "messages", "share"]].values.tolist() == [
        ["Aligned by DKIM and SPF", 17, 1.0]
    ]
    assert dkim[["domain", "result", "messages"]].values.tolist() == [["example.com", "pass", 17]]
    assert spf["messages"].sum() == 17
    assert sorted(records["count"].tolist()) == [7, 10]
    assert "from 192.0.2.1" in chart(at)["layout"]["title"]["text"]
    # Failing mail says why: here SPF and DKIM passed, but for other domains.
    at.selectbox(key="sources_ip").set_value("192.0.2.2").run()
    summary = at.dataframe[1].value
    assert summary[["category", "messages", "domains"]].values.tolist() == [
        ["Authenticated for another domain", 5, "dkim:other.net, spf:spoof.test"]
    ]
    assert summary["meaning"].iloc[0].startswith("Fails DMARC: SPF or DKIM passed, but for")


def test_any_address_can_be_typed_into_the_sources_picker(loaded, monkeypatch):
    # The picker offers the rows shown (here 2 of 4); the sender an admin is looking for
    # may be far down the list, so a typed address opens too, as stored.
    monkeypatch.setattr(ui_tables, "STEP", 2)
    at = start("pages/1_Sources.py")
    assert at.selectbox(key="sources_ip").options == ["203.0.113.5", "192.0.2.1"]
    at = start("pages/1_Sources.py", state={"sources_ip": "198.51.100.9"})
    assert at.selectbox(key="sources_ip").value == "198.51.100.9"
    summary, _, _, records = (d.value for d in at.dataframe[1:5])
    assert summary["messages"].sum() == 3 and records["count"].tolist() == [3]
    pasted = start("pages/1_Sources.py", state={"sources_ip": "\u200b198.51.100.9/32 "})
    assert pasted.dataframe[4].value["count"].tolist() == [3]  # as the address alone
    at = start("pages/1_Sources.py", state={"sources_ip": "2001:DB8::77"})
    assert [i.value for i in at.info] == ["No mail from `2001:db8::77` matches the filter."]
    assert len(at.dataframe) == 1


def test_reporters_and_alignment_tables(loaded, downloads):
    at = start("pages/2_Reporters.py")
    table = at.dataframe[0].value
    assert table[["reports", "messages"]].values.tolist() == [[2, 35], [1, 10]]
    assert at.get("plotly_chart")
    at.switch_page("pages/3_Alignment.py").run()
    # First, what the mail shows: what p=reject would have receivers reject, and why.
    summary = at.table[0].value
    assert summary["What it shows"].tolist() == [
        "Nothing authenticated", "Authenticated for another domain", "Aligned by SPF alone",
        "Aligned by DKIM and SPF",
    ]  # fmt: skip
    assert summary[["Messages", "Share"]].values.tolist() == [
        ["3", "6.7%"], ["5", "11.1%"], ["20", "44.4%"], ["17", "37.8%"]
    ]
    captions = [c.value for c in at.caption]
    assert (
        "8 of 45 messages (17.8%) fail DMARC, and p=reject asks receivers to reject them: 5 "
        'authenticated for another domain (the senders to set up, listed under "Authenticated '
        'but not aligned"); 3 authenticated nothing (spoofing, or forwarding that broke DKIM).'
    ) in captions
    assert ("20 messages (44.4%) pass by SPF alone and would fail where they are forwarded: "
            "sign them with DKIM before p=reject.") in captions  # fmt: skip
    rows = csv_rows(downloads["alignment_summary_csv"][1])
    assert [(r["What it shows"], int(r["Messages"])) for r in rows][:2] == [
        ("Nothing authenticated", 3), ("Authenticated for another domain", 5)
    ]
    grid = at.table[1].value
    (unaligned,) = (d.value for d in at.dataframe)  # no override reasons in the fixture
    assert grid.values.tolist() == [["17 (37.8%)", "20 (44.4%)"], ["0 (0.0%)", "8 (17.8%)"]]
    assert list(grid.index) == ["SPF aligned", "SPF not aligned"]
    assert list(grid.columns) == ["DKIM aligned", "DKIM not aligned"]
    cells = {(r["SPF aligned"], r["DKIM aligned"]): int(r["Messages"])
             for r in csv_rows(downloads["alignment_matrix_csv"][1])}  # fmt: skip
    assert cells == {("true", "true"): 17, ("true", "false"): 20, ("false", "false"): 8,
                     ("false", "true"): 0}  # fmt: skip
    pairs = set(zip(unaligned["source_ip"], unaligned["domain"], unaligned["messages"],
                    strict=True))  # fmt: skip
    assert ("192.0.2.2", "other.net", 5) in pairs and ("203.0.113.5", "esp.test", 20) in pairs


def test_alignment_compares_failing_mail_with_the_policy_on_request(loaded, downloads):
    at = start("pages/3_Alignment.py")
    assert "alignment_policy_csv" not in downloads  # not read until asked for
    at.toggle(key="alignment_policy").set_value(True).run()
    assert not at.exception
    # G1's 5 failing messages got quarantine under p=reject with no reason; Y1's 3, reject.
    assert [w.value for w in at.warning] == [
        "5 failing messages were treated more lightly than the policy asked, with no reason "
        "given."
    ]
    table = at.dataframe[-1].value
    assert table[["verdict", "requested", "applied", "messages"]].values.tolist() == [
        ["Lighter, no reason given", "reject", "quarantine", 5],
        ["As the policy asked", "reject", "reject", 3],
    ]
    exported = csv_rows(downloads["alignment_policy_csv"][1])
    assert [(r["Judged"], r["Messages"]) for r in exported] == [
        ("Lighter, no reason given", "5"), ("As the policy asked", "3"),
    ]  # fmt: skip


def test_reports_list_and_one_report_with_its_original_xml(loaded, downloads):
    at = start("pages/4_Reports.py")
    reports = at.dataframe[0].value
    assert reports["messages"].tolist() == [20, 10, 15]
    assert csv_rows(downloads["reports_csv"][1])[0]["Policy domain"] == "example.org"
    key = int(reports["report_key"].iloc[1])
    at.selectbox(key="reports_pick").set_value(key).run()
    assert not at.exception
    meta = at.dataframe[1].value
    assert ["Report ID", "y1"] in meta.values.tolist()
    rows = at.dataframe[3].value
    assert "**Records (2)**" in [m.value for m in at.markdown]
    assert rows["source_ip"].tolist() == ["192.0.2.1", "198.51.100.9"]
    assert rows["disposition"].tolist() == ["none", "reject"]
    xml = at.code[0].value
    assert xml == FIXTURE["yahoo.com!example.com!y1.xml"].decode()


def test_a_report_can_be_opened_by_typing_its_id_or_key(loaded):
    keys = start("pages/4_Reports.py").dataframe[0].value["report_key"].tolist()

    def typed(text: str) -> AppTest:
        return start("pages/4_Reports.py", state={"reports_pick": text})

    assert ["Report ID", "y1"] in typed(" <Y1> ").dataframe[1].value.values.tolist()  # any case
    assert ["Report ID", "y1"] in typed(f"#{keys[1]}").dataframe[1].value.values.tolist()
    assert ["Report ID", "y1"] not in typed(f"{keys[0]}").dataframe[1].value.values.tolist()
    assert [i.value for i in typed("no-such-report").info] == [
        "No stored report has the ID or key `no-such-report`."
    ]


def test_a_doubtful_record_of_no_messages_still_counts_its_report(loaded):
    # The receiver says DKIM aligned, but the only DKIM result failed: a doubtful verdict,
    # here on a record of 0 messages, which no sum of messages shows.
    before = metrics(start())["Doubtful verdicts"]
    row = [("192.0.2.9", 0, "none", "pass", "fail", "example.com", "bad.test", "bad.test")]
    doubtful = report_xml("Yahoo", "d1", "example.com", date(2026, 11, 6), row)
    Ingestor(replace(loaded, workers=1), via="test").ingest_blobs([("d.xml", doubtful)])
    with open_store(loaded.db, read_only=True) as con:
        counted = insights.data_quality(con, Filter()).doubtful_reports
        assert counted == insights.count_reports(con, Filter(), kind="doubtful") == 1
    assert (before, metrics(start())["Doubtful verdicts"]) == ("0", "1")


def test_a_report_picked_before_the_filter_changed_keeps_its_label(loaded):
    keys = start("pages/4_Reports.py").dataframe[0].value.set_index("reporter")["report_key"]
    yahoo = int(keys["Yahoo"])
    at = start("pages/4_Reports.py", params={"reporter": "google.com"},
               state={"reports_pick": yahoo})  # fmt: skip
    assert at.selectbox(key="reports_pick").options[-1].endswith(f"· Yahoo · example.com · "
                                                                 f"10 messages · #{yahoo}")


def test_a_typed_id_is_an_id_before_it_is_a_key_and_says_when_it_is_shared(app_env):
    day = date(2026, 11, 5)
    row = [("192.0.2.1", 1, "none", "pass", "pass", "example.com", "example.com",
            "example.com")]  # fmt: skip
    blobs = [("a.xml", report_xml("Yahoo", "y1", "example.com", day, row)),
             ("b.xml", report_xml("Other", "1", "example.com", day, row)),
             ("c.xml", report_xml("Third", "Y1", "example.com", day, row))]  # fmt: skip
    Ingestor(replace(app_env, workers=1), via="test").ingest_blobs(blobs)
    with open_store(app_env.db, read_only=True) as con:
        assert insights.find_reports(con, "1") == [2]  # the report whose ID is "1", not key 1
        assert insights.find_reports(con, "#1") == [1]
        assert insights.find_reports(con, "<y1>") == [1, 3]  # two reporters, one ID
        assert insights.find_reports(con, "9") == []
    at = start("pages/4_Reports.py", state={"reports_pick": "y1"})
    assert any("2 reports have this ID (#1, #3); this is the first stored." in c.value
               for c in at.caption)  # fmt: skip
    assert ["Reporter", "Yahoo"] in at.dataframe[1].value.values.tolist()


def test_an_address_without_dkim_results_says_so_not_that_the_filter_is_empty(app_env):
    unsigned = re.sub(rb"<auth_results><dkim>.*?</dkim>", b"<auth_results>",
                      FIXTURE["yahoo.com!example.com!y1.xml"])  # fmt: skip
    Ingestor(replace(app_env, workers=1), via="test").ingest_blobs([("u.xml", unsigned)])
    at = start("pages/1_Sources.py", state={"sources_ip": "192.0.2.1"})
    captions = [plain(c.value) for c in at.caption]
    assert "The reports give no DKIM result for this mail: it was not signed, or the receiver " \
        "did not say." in captions
    assert "Nothing to show for this filter." not in captions


def test_an_address_from_a_link_is_shown_in_the_sidebar_as_typed(loaded):
    at = start(params={"source_ip": "192.0.2.1"})
    assert at.text_input(key="_filter_source_ip").value == "192.0.2.1"  # not 192.0.2.1/32
    assert six(at)["Messages"] == "17"


def test_a_row_picked_on_the_alignment_page_opens_that_address_on_sources(loaded, monkeypatch):
    from types import SimpleNamespace

    # What clicking the row does (AppTest cannot click a grid row): the table's callback
    # picks the address and names the page to open ...
    state: dict = {"alignment_unaligned_table": SimpleNamespace(
        selection=SimpleNamespace(rows=[1]))}  # fmt: skip
    frame = pandas.DataFrame({"source_ip": ["203.0.113.5", "192.0.2.2"]})
    sources = ui.PAGE_PATHS["sources"]
    with monkeypatch.context() as patched:
        patched.setattr(ui_tables.st, "session_state", state)
        ui_tables._picker(frame, "alignment_unaligned", "source_ip", "sources_ip", sources)()
    assert state["sources_ip"] == "192.0.2.2" and state["_pick_go_to"] == sources
    # ... and the page's next run opens Sources on that address.
    at = start("pages/3_Alignment.py")
    at.session_state["sources_ip"] = state["sources_ip"]
    at.session_state["_pick_go_to"] = state["_pick_go_to"]
    at.run()
    assert not at.exception
    assert at.selectbox(key="sources_ip").value == "192.0.2.2"
    assert [i.value for i in at.info] == [
        "`192.0.2.2` is shown in detail [below the table](#source-detail)."
    ]
    assert at.dataframe[1].value["category"].tolist() == ["Authenticated for another domain"]
    at.switch_page("pages/1_Sources.py").run()
    assert not at.info  # said once, on arrival


def test_a_report_without_an_org_name_shows_the_reporter_the_app_names(app_env):
    nameless = FIXTURE["yahoo.com!example.com!y1.xml"].replace(b"<org_name>Yahoo<", b"<org_name><")
    Ingestor(replace(app_env, workers=1), via="test").ingest_blobs([("n.xml", nameless)])
    at = start("pages/4_Reports.py")
    at.selectbox(key="reports_pick").set_value(at.selectbox(key="reports_pick").options[0]).run()
    meta = at.dataframe[1].value.values.tolist()
    assert meta[:2] == [["Reporter", "yahoo"], ["Organisation name (as reported)", ""]]
    issues = at.dataframe[3].value  # the whole width, the message first
    assert list(issues.columns) == ["message", "code", "severity", "path"]
    assert issues["message"].iloc[0].startswith("The report does not name its reporter")


def test_a_report_whose_original_is_gone_says_where_it_was_looked_for(app_env):
    # The pack was recorded, but its file is gone (an archive moved away): this said "could
    # not be decoded", as if the original were broken.
    Ingestor(replace(app_env, workers=1), via="test").ingest_blobs(
        [("y.xml", FIXTURE["yahoo.com!example.com!y1.xml"])]
    )
    shutil.rmtree(app_env.archive_folder / "packs")
    at = start("pages/4_Reports.py")
    at.selectbox(key="reports_pick").set_value(at.selectbox(key="reports_pick").options[0]).run()
    assert not at.exception
    assert [i.value for i in at.info] == [
        f"The original of this report is not in the archive `{app_env.archive_folder}` "
        "(archiving was off when it was ingested, or the archive was moved or damaged)."
    ]


def test_a_big_report_shows_its_rows_and_xml_in_parts_a_browser_draws_quickly(app_env):
    # A 2,286-record report took 8-9 s to draw in Chromium: 300 KB of highlighted XML and
    # 1,000 styled rows. Now: the first 250 rows, and a big original as plain text, cut.
    rows = [(f"10.0.{i // 256}.{i % 256}", 1, "none", "pass", "pass", "example.com",
             "example.com", "example.com") for i in range(400)]  # fmt: skip
    big = report_xml("google.com", "big-1", "example.com", date(2024, 5, 1), rows)
    assert len(big) > ui_report.XML_SHOWN_BYTES
    small = FIXTURE["yahoo.com!example.com!y1.xml"]
    Ingestor(replace(app_env, workers=1), via="test").ingest_blobs([("big.xml", big),
                                                                   ("small.xml", small)])
    at = start("pages/4_Reports.py")
    keys = at.dataframe[0].value.set_index("records")["report_key"]
    at.selectbox(key="reports_pick").set_value(int(keys[400])).run()
    assert not at.exception
    assert len(at.dataframe[3].value) == 250
    assert at.button(key="reports_rows_more").label == "Show 250 more rows"
    code = at.code[0]
    assert code.language == "plaintext" or not code.language
    assert code.value == big[: ui_report.XML_SHOWN_BYTES].decode()
    at.button(key="reports_rows_more").click().run()
    assert len(at.dataframe[3].value) == 400
    at.selectbox(key="reports_pick").set_value(int(keys[2])).run()
    assert at.code[0].language == "xml" and at.code[0].value == small.decode()


def test_a_data_quality_count_leads_to_the_reports_it_counts(app_env):
    # A report with an issue (its org name padded with spaces) beside two clean ones.
    padded = FIXTURE["yahoo.com!example.com!y1.xml"].replace(b">Yahoo<", b">  Yahoo  <")
    files = [*FIXTURE.items()]
    files[1] = ("yahoo.xml", padded)
    Ingestor(replace(app_env, workers=1), via="test").ingest_blobs(files)
    at = start()
    assert metrics(at)["Reports with issues"] == "1"
    keys = {b.key for b in at.button}
    assert "overview_quality_conflicts" not in keys  # a count of 0 leads nowhere
    at.button(key="overview_quality_reports_with_issues").click().run()
    assert not at.exception
    assert at.selectbox(key="reports_kind").value == "issues"
    listed = at.dataframe[0].value
    assert listed["reporter"].tolist() == ["Yahoo"]
    assert listed["issue_codes"].tolist() == ["whitespace"]
    # The sentence at the top describes the filter; the narrowing says itself.
    narrowing = 'Listed: Reports with issues, of the reports the filter shows. Pick "All reports"'
    assert any(c.value.startswith(narrowing) for c in at.caption)
    assert at.query_params["listed"] == "issues"  # a copied link lists the same reports
    at.selectbox(key="reports_kind").set_value("all").run()
    assert len(at.dataframe[0].value) == 3
    assert not any(c.value.startswith("Listed:") for c in at.caption)
    assert "listed" not in at.query_params


def test_a_link_names_the_reports_listed(loaded):
    at = start("pages/4_Reports.py", params={"listed": "issues", "reporter": "Yahoo"})
    assert not at.exception
    assert at.selectbox(key="reports_kind").value == "issues"
    assert at.query_params["listed"] == "issues"
    at = start("pages/4_Reports.py", params={"listed": "bogus"})
    assert not at.exception
    assert at.selectbox(key="reports_kind").value == "all"
    assert [e.value for e in at.error] == [
        "The link's listed=bogus is not one of all, issues, partial, conflicts, multi_day, "
        "doubtful; showing all."
    ]
    assert len(at.dataframe[0].value) == 3


# --- getting data in -----------------------------------------------------------------


def test_the_uploader_ingests_files_and_lists_their_outcomes(app_env):
    at = start("pages/5_Ingest.py")
    uploader = at.get("file_uploader")[0]
    assert uploader.accept_multiple_files
    files = [(name, data, "application/octet-stream") for name, data in FIXTURE.items()]
    files.append(("notes.txt", b"hello, not a report", "text/plain"))
    uploader.set_value(files).run()
    assert not at.exception
    outcomes = at.dataframe[0].value
    assert outcomes["name"].tolist() == [*FIXTURE, "notes.txt"]
    assert outcomes["outcome"].tolist() == ["inserted", "inserted", "inserted", "rejected"]
    assert outcomes["messages"].tolist() == [15, 10, 20, 0]
    assert outcomes["reason"].iloc[3] != ""
    assert not at.success  # a file was rejected: said as a warning, not celebrated
    assert [m.value for m in at.warning] == [
        "Ingested 4 files: 3 inserted, 0 duplicate, 1 rejected."
    ]
    ledger = at.dataframe[1].value
    assert sorted(ledger["outcome"].tolist()) == ["inserted"] * 3 + ["rejected"]
    assert len(at.warning) == 1  # the tally's: no conflicts
    at.switch_page(APP).run()
    assert six(at)["Messages"] == "45"
    # The same report again with other content: a conflict, said so beside the tally.
    name, data = next(iter(FIXTURE.items()))
    changed = data.replace(b"<count>", b"<count>1", 1)  # other data, not only other bytes
    assert changed != data
    at.switch_page("pages/5_Ingest.py").run()
    at.get("file_uploader")[0].set_value([("again.xml", changed, "text/xml")]).run()
    assert [w.value for w in at.warning] == [
        "1 report had the identity of a stored report but other data: the stored one is "
        "kept, and the new copy is archived and listed as a conflict (see the reason of its "
        "file below)."
    ]


def test_an_upload_that_added_nothing_is_not_tallied_as_a_success(app_env):
    at = start("pages/5_Ingest.py")
    name, data = next(iter(FIXTURE.items()))
    at.get("file_uploader")[0].set_value([(name, data, "text/xml")]).run()
    assert [m.value for m in at.success] == [
        "Ingested 1 file: 1 inserted, 0 duplicate, 0 rejected."
    ]
    at.get("file_uploader")[0].set_value([("copy.xml", data, "text/xml")]).run()
    assert not at.success  # a known report again: said, not celebrated
    assert [m.value for m in at.info] == ["Ingested 1 file: 0 inserted, 1 duplicate, 0 rejected."]
    at.get("file_uploader")[0].set_value([("empty.xml", b"", "text/xml")]).run()
    assert not at.success
    assert "Ingested 1 file: 0 inserted, 0 duplicate, 1 rejected." in [m.value for m in at.warning]


def test_the_sidebar_says_what_the_utc_dates_are_in_the_zone_picked(loaded):
    at = start(params={"since": "2026-11-01", "until": "2026-11-02", "tz": "Asia/Tokyo"})
    assert not at.exception
    assert ("The date filter selects UTC days; in Asia/Tokyo that is from 2026-11-01 09:00 "
            "to 2026-11-03 08:59.") in [c.value for c in at.sidebar.caption]  # fmt: skip
    at = start(params={"since": "2026-11-01"})  # in UTC there is nothing to add
    assert not any(c.value.startswith("The date filter") for c in at.sidebar.caption)
    flt = Filter.from_params({"until": "2026-11-02"})
    assert ui.dates_in_zone(flt, "America/New_York") == (
        "The date filter selects UTC days; in America/New_York that is up to 2026-11-02 18:59."
    )
    assert ui.dates_in_zone(flt, "Etc/UTC") is None  # UTC by another name
    assert ui.dates_in_zone(flt, "Europe/London") is None  # in November, London is on UTC


def test_the_mail_summary_says_when_everything_passes():
    passing = pandas.DataFrame({"category": ["spf_only", "dkim_only"], "messages": [1, 3],
                                "share": [0.25, 0.75]})  # fmt: skip
    assert ui_tables.mail_summary_text(passing) == [
        "All 4 messages pass DMARC.",
        "1 message (25.0%) passes by SPF alone and would fail where it is forwarded: sign it "
        "with DKIM before p=reject.",
    ]
    one = pandas.DataFrame({"category": ["dkim_and_spf"], "messages": [1], "share": [1.0]})
    assert ui_tables.mail_summary_text(one) == ["The one message passes DMARC."]
    # one failing message, and only the kind of failure there is
    spoofed = pandas.DataFrame({"category": ["nothing", "dkim_only"], "messages": [1, 44],
                                "share": [1 / 45, 44 / 45]})  # fmt: skip
    assert ui_tables.mail_summary_text(spoofed) == [
        "1 of 45 messages (2.2%) fails DMARC, and p=reject asks receivers to reject it: 1 "
        "authenticated nothing (spoofing, or forwarding that broke DKIM)."
    ]


def test_a_table_whose_reasons_are_long_wraps_them_and_a_short_one_stays_dense():
    short = pandas.DataFrame({"name": ["a.xml"], "reason": ["empty file"]})
    long = pandas.DataFrame({"name": ["a.eml", "b.xml"], "reason": [
        "DMARC failure (forensic) report, not an aggregate report; failure reports are "
        "not analysed", None]})  # fmt: skip
    assert ui_tables.wrapped_row_height(short) is None
    assert ui_tables.wrapped_row_height(long) == ui_tables.WRAP_ROW_HEIGHT  # 2 lines: 3 given
    assert ui_tables.wrapped_row_height(pandas.DataFrame({"reason": [None, None]})) is None
    assert ui_tables.wrapped_row_height(pandas.DataFrame({"name": ["x" * 200]})) is None
    # a container's reason naming three parts: as many lines as it needs, up to six
    assert ui_tables.wrapped_row_height(pandas.DataFrame({"reason": ["x" * 230]})) == 110
    assert ui_tables.wrapped_row_height(pandas.DataFrame({"reason": ["x" * 900]})) == 130


def test_the_upload_table_shows_a_long_reason_on_rows_tall_enough_to_read_it(app_env):
    at = start("pages/5_Ingest.py")
    tls = json.dumps({"organization-name": "Example", "policies": []}).encode()
    at.get("file_uploader")[0].set_value([("tls.json", tls, "application/json")]).run()
    outcomes = at.dataframe[0]
    assert len(outcomes.value["reason"].iloc[0]) > ui_tables.WRAP_CHARS
    assert outcomes.proto.row_height == ui_tables.WRAP_ROW_HEIGHT


def test_an_upload_of_many_files_is_tallied_with_thousands_separators():
    outcomes = [SimpleNamespace(outcome=kind) for kind, count in
                (("inserted", 1150), ("duplicate", 48), ("rejected", 2)) for _ in range(count)]
    assert tally_text(outcomes) == (
        "Ingested 1,200 files: 1,150 inserted, 48 duplicate, 2 rejected."
    )
    assert tally_text(outcomes[:1]) == (
        "Ingested 1 file: 1 inserted, 0 duplicate, 0 rejected."
    )


def test_the_ledger_filters_by_outcome(loaded):
    at = start("pages/5_Ingest.py")
    assert len(at.dataframe[0].value) == 3
    at.selectbox(key="ingest_ledger_outcome").set_value("rejected").run()
    assert at.dataframe[0].value.empty if at.dataframe else True


def test_files_in_the_drop_folder_are_ingested_at_page_load(app_env):
    app_env.inbox.mkdir(parents=True)
    for name, data in FIXTURE.items():
        (app_env.inbox / name).write_bytes(data)
        os.utime(app_env.inbox / name, (1_700_000_000, 1_700_000_000))  # arrived a while ago
    at = start()
    assert six(at)["Messages"] == "45"
    at.run()
    with open_store(app_env.db) as con:
        assert len(insights.ledger(con)) == 3  # known by hash: not ingested again


def test_the_demo_data_loads_in_one_click_and_is_removed_in_one_click(app_env):
    at = start()
    at.button(key="demo_load").click().run()
    assert not at.exception
    with open_store(app_env.db) as con:
        assert insights.has_demo_data(con)
    assert six(at) == expected_metrics(app_env, Filter())
    assert six(at)["Reports"] == "400"
    at.switch_page("pages/4_Reports.py").run()  # a demo report has no original to show
    at.selectbox(key="reports_pick").set_value(at.selectbox(key="reports_pick").options[0])
    at.run()
    assert "This is a demo report" in " ".join(i.value for i in at.info)
    at.switch_page(APP).run()
    at.button(key="overview_demo_remove").click().run()
    assert [h.value for h in at.main.subheader] == ["No reports yet"]
    with open_store(app_env.db) as con:
        assert not insights.has_data(con)
        assert insights.ledger(con).empty  # its 400 generated inputs went with it


def test_purge_by_policy_domain_from_the_ingest_page(loaded):
    at = start("pages/5_Ingest.py")
    at.selectbox(key="ingest_purge_domain").set_value("example.org")
    at.checkbox(key="ingest_purge_confirm").check().run()
    at.button(key="ingest_purge").click().run()
    assert "Removed 1 report." in [s.value for s in at.success]
    at.switch_page(APP).run()
    assert six(at)["Messages"] == "25"


# --- library pieces of the UI ---------------------------------------------------------


def test_every_data_quality_count_leads_to_a_kind_of_report_list():
    assert list(ui_overview.QUALITY_KINDS) == list(ui_overview.QUALITY_FIELDS)
    assert sorted(ui_overview.QUALITY_KINDS.values()) == sorted(insights.REPORT_KINDS)


def test_chart_labels_from_report_data_are_escaped():
    import pandas as pd

    frame = pd.DataFrame({"reporter": ["<b>evil</b> & co"], "messages": [4],
                          "dmarc_pass_rate": [0.5]})  # fmt: skip
    figure = charts.reporters(frame)
    assert list(figure.data[0].y) == ["&lt;b&gt;evil&lt;/b&gt; &amp; co"]
    assert figure.data[0].marker.color == charts.PASS_COLOUR
    assert figure.data[1].marker.color == charts.FAIL_COLOUR


def test_the_reporters_chart_says_when_it_shows_only_the_biggest():
    import pandas as pd

    def frame(count: int) -> pd.DataFrame:
        return pd.DataFrame({"reporter": [f"r{i}" for i in range(count)],
                             "messages": list(range(count, 0, -1)),
                             "dmarc_pass_rate": [1.0] * count})  # fmt: skip

    def title(count: int) -> str:
        return charts.reporters(frame(count)).layout.title.text

    assert title(15) == "Messages seen per reporter by DMARC result"
    assert title(19) == (
        "Messages seen per reporter by DMARC result: the 15 biggest of 19 (all in the table)"
    )
    assert len(charts.reporters(frame(19)).data[0].y) == 15


def test_long_reporter_names_are_cut_on_the_axis_and_bidi_controls_are_shown():
    import pandas as pd

    names = ["x" * 10_000, "\u202egnp.exe", "y" * 10_000]  # the long ones share no prefix
    frame = pd.DataFrame({"reporter": names, "messages": [4, 3, 2],
                          "dmarc_pass_rate": [0.5, 1.0, 0.0]})  # fmt: skip
    layout = charts.reporters(frame).to_plotly_json()["layout"]["yaxis"]
    assert layout["ticktext"] == ["y" * 39 + "…", "&lt;U+202E&gt;gnp.exe", "x" * 39 + "…"]
    assert [len(v) for v in layout["tickvals"]] == [10_000, 21, 10_000]  # distinct, in full
    at = AppTest.from_function(_table_of, args=(names[1],)).run()
    assert at.dataframe[0].value["reporter"].tolist() == ["<U+202E>gnp.exe"]


def _table_of(name: str) -> None:
    import pandas as pd

    from dmarc_analytics.ui_tables import show_table

    show_table(pd.DataFrame({"reporter": [name], "messages": [1]}), "t")


def test_a_year_of_days_is_drawn_as_stacked_areas_with_every_day_and_message():
    days = [date(2025, 1, 1), date(2025, 3, 1), date(2025, 12, 31)]  # all in the past
    frame = pandas.DataFrame({
        "day": [days[0], days[0], days[1], days[2]], "series": ["pass", "fail", "pass", "fail"],
        "messages": [5, 2, 7, 1],
    })  # fmt: skip
    busy = pandas.DataFrame({"day": list(pandas.date_range("2025-04-01", periods=70).date),
                             "series": "pass", "messages": 1})  # fmt: skip
    figure = charts.daily_messages(pandas.concat([frame, busy]), "dmarc")
    assert [trace.type for trace in figure.data] == ["scatter", "scatter"]
    assert {trace.stackgroup for trace in figure.data} == {"days"}
    assert [len(trace.x) for trace in figure.data] == [365, 365]  # days without data are 0
    assert (figure.data[1].x[-1], figure.data[1].y[-1]) == (date(2025, 12, 31), 1)
    # a day of room after the last day, so it is not drawn on the edge
    assert figure.layout.xaxis.range == ("2025-01-01 00:00", "2026-01-01 00:00")
    totals = {trace.name: sum(trace.y) for trace in figure.data}
    assert totals == {"DMARC pass": 82, "DMARC fail": 3}
    # Mail on three days of the year: a bar on each, not areas that spike across empty days.
    sparse = charts.daily_messages(frame, "dmarc")
    assert [trace.type for trace in sparse.data] == ["bar", "bar"]
    assert sorted(x for trace in sparse.data for x in trace.x) == [days[0], days[0], days[1],
                                                                    days[2]]  # fmt: skip
    assert sparse.layout.xaxis.range == ("2024-12-31 12:00", "2025-12-31 12:00")  # the year
    assert {trace.name: sum(trace.y) for trace in sparse.data} == {"DMARC pass": 12,
                                                                   "DMARC fail": 3}  # fmt: skip
    short = charts.daily_messages(frame[frame["day"] == days[0]], "dmarc")
    assert [trace.type for trace in short.data] == ["bar", "bar"]
    weekly = charts.disposition_over_time(frame.rename(columns={"series": "disposition"}))
    assert [len(trace.x) for trace in weekly.data] == [53, 53]  # weeks from Monday 2024-12-30
    assert [trace.type for trace in weekly.data] == ["bar", "bar"]  # one bar across each week
    assert weekly.data[0].xperiod == charts.DAY_MS * 7
    assert sum(sum(trace.y) for trace in weekly.data) == 15
    assert weekly.layout.title.text == "Messages per week by disposition"


def test_more_than_two_years_are_drawn_per_month():
    days = [date(2018, 1, 20), date(2018, 1, 31), date(2024, 6, 13)]
    frame = pandas.DataFrame({"day": days, "series": ["pass", "pass", "fail"],
                              "messages": [2, 3, 7]})  # fmt: skip
    figure = charts.daily_messages(frame, "dmarc")
    assert figure.layout.title.text == "Messages per month by DMARC result"
    assert figure.layout.xaxis.title.text == "Month (UTC)"
    passed, failed = figure.data
    # Bars across each month: as areas, months of a few messages beside busy ones were
    # invisible, and a lone month was a spike.
    assert (passed.type, passed.xperiod, passed.xperiodalignment) == ("bar", "M1", "middle")
    assert len(passed.x) == 78  # 2018-01 .. 2024-06
    assert (passed.x[0], passed.y[0], failed.x[-1], failed.y[-1]) == (
        date(2018, 1, 1), 5, date(2024, 6, 1), 7
    )
    assert figure.layout.xaxis.range == ("2018-01-01 00:00", "2024-07-01 00:00")
    week = charts.disposition_over_time(frame.rename(columns={"series": "disposition"}))
    assert week.layout.title.text == "Messages per month by disposition"


def test_a_chart_covers_the_filter_span_and_leaves_out_days_before_dmarc_saying_so():
    frame = pandas.DataFrame({
        "day": [date(1979, 8, 7), date(2024, 1, 25), date(2024, 3, 31)],
        "series": ["fail", "pass", "fail"], "messages": [3, 2, 2286],
    })  # fmt: skip
    figure = charts.daily_messages(frame, "dmarc")
    # The RFC's 1979 sample would squeeze 2024 into a sliver at the right edge. (Two days
    # with mail: a bar each, centred on its day.)
    assert figure.layout.xaxis.range == ("2024-01-24 12:00", "2024-03-31 12:00")
    assert sum(sum(trace.y) for trace in figure.data) == 2288
    assert figure.layout.title.subtitle.text.startswith(
        "Not drawn: 3 messages in reports dated before 2012"
    )
    spanned = charts.daily_messages(frame, "dmarc", span=(date(2024, 1, 1), date(2024, 4, 30)))
    assert spanned.layout.xaxis.range == ("2023-12-31 12:00", "2024-04-30 12:00")
    # A report dated after tomorrow is left out too, and both are said.
    future = pandas.concat([frame, pandas.DataFrame({
        "day": [date.today() + timedelta(days=400)], "series": ["pass"], "messages": [1]})])
    both = charts.daily_messages(future, "dmarc")
    subtitle = both.layout.title.subtitle.text
    assert subtitle.replace("<br>", " ") == (
        "Not drawn: 3 messages in reports dated before 2012, when no DMARC report was sent "
        "(their dates are wrong; the Reports page lists them) Not drawn: 1 message in a "
        "report dated after today (its date is wrong; the Reports page lists it)"
    )
    # on lines a narrow chart shows whole, each note from a line of its own; the legend
    # goes under the chart, out of their way
    lines = subtitle.split("<br>")
    assert max(map(len, lines)) <= charts.SUBTITLE_CHARS and len(lines) == 4
    assert lines[2].startswith("Not drawn: 1 message")
    assert (both.layout.legend.yref, both.layout.legend.y) == ("container", 0)
    assert both.layout.xaxis.range == figure.layout.xaxis.range
    asked = charts.daily_messages(frame, "dmarc", span=(date(1979, 1, 1), None))
    assert asked.layout.title.subtitle.text is None  # the filter asks for those days
    assert sum(sum(trace.y) for trace in asked.data) == 2291
    # A link may name any day up to 2199: the axis stops at today.
    far = charts.daily_messages(frame, "dmarc", span=(None, date(2199, 12, 31)))
    assert far.layout.xaxis.range[1] <= (date.today() + timedelta(days=32)).isoformat()
    few = charts.daily_messages(frame.iloc[1:2], "dmarc", span=(date(2024, 1, 24), None))
    assert few.data[0].width == charts.DAY_MS * 0.8  # a lone day's bar is not a hairline
    assert few.layout.xaxis.range == ("2024-01-23 12:00", "2024-01-25 12:00")
    assert (few.layout.yaxis.dtick, few.layout.yaxis.tickformat) == (1, ",d")  # whole messages


def test_the_zones_offered_are_those_both_pandas_and_duckdb_convert_in():
    from dmarc_analytics.export import export_columns

    assert ui.ZONES[0] == "UTC" and "Asia/Tokyo" in ui.ZONES
    assert "localtime" not in ui.ZONES  # in Python's list; DuckDB refused it mid-export
    # Zones of opposite offsets keep apart in the record CSV's column names.
    assert export_columns("Etc/GMT-5")[0][0] == "report_begin_etc_gmtminus5"
    assert export_columns("Etc/GMT+5")[0][0] == "report_begin_etc_gmtplus5"


def test_outcome_and_via_codes_are_worded_by_the_catalogue():
    from dmarc_analytics.ui_ingest import in_words

    frame = pandas.DataFrame({"via": ["cli", "dropfolder", "older-version"],
                              "outcome": ["inserted", "rejected", "duplicate"]})  # fmt: skip
    shown = in_words(frame)
    assert shown["via"].tolist() == ["command line", "drop folder", "older-version"]
    assert shown["outcome"].tolist() == ["inserted", "rejected", "duplicate"]
    assert i18n.word("outcome", "inserted") == i18n.t("outcome.inserted")


def test_a_download_is_named_after_the_app_the_table_and_the_day():
    day = date(2026, 11, 28)
    assert ui_tables.download_name("overview_sources.csv", day) == (
        "dmarc-overview-sources-2026-11-28.csv"
    )
    assert ui_tables.download_name("dmarc-records.csv", day) == "dmarc-records-2026-11-28.csv"


def test_a_table_csv_rounds_fractions_as_the_page_shows_them():
    frame = pandas.DataFrame({"records_per_report": [22 / 3], "dmarc_pass_rate": [3048 / 3049]})
    assert ui_tables.csv_frame(frame, "UTC").iloc[0].tolist() == [7.3, 0.9997]


def test_rates_never_read_all_or_nothing_unless_they_are():
    # 29,999 of 30,000 passing: the grid's percent format (two decimals at most) showed
    # "100%", the CSV 1.0 and the alignment grid "100.0%"; one failure in a million "0%".
    rates = [29_999 / 30_000, 1 / 1_000_000, 1.0, 0.0, 0.5, None]
    frame = pandas.DataFrame({"dmarc_pass_rate": rates, "share": rates})
    shown = ui_tables._shown_fractions(frame)
    assert shown["dmarc_pass_rate"].tolist()[:5] == [0.9999, 0.0001, 1.0, 0.0, 0.5]
    assert shown["share"].isna().tolist() == [False] * 5 + [True]
    assert ui_tables.csv_frame(frame, "UTC")["DMARC pass"].tolist()[:5] == [
        0.99997, 0.000001, 1.0, 0.0, 0.5
    ]
    beyond = pandas.DataFrame({"dmarc_pass_rate": [1 / 3e9, 1 - 1 / 3e9]})  # 1 in billions
    assert ui_tables.csv_frame(beyond, "UTC")["DMARC pass"].tolist() == [1e-9, 1 - 1e-9]
    matrix = pandas.DataFrame({"spf_aligned": [True, False], "dkim_aligned": [True, False],
                               "messages": [29_999, 1], "share": [29_999 / 30_000, 1 / 30_000]})
    grid, _ = ui_tables.alignment_grid_frame(matrix)
    assert [grid.iloc[0, 0], grid.iloc[1, 1]] == ["29,999 (99.997%)", "1 (0.003%)"]


def test_an_internationalised_domain_is_shown_in_its_script_beside_its_ascii_form(
    app_env, downloads
):
    # 例え.jp is stored (and exported) as xn--r8jz45g.jp, which a Japanese admin cannot read;
    # shown alone, a look-alike (Cyrillic "а"pple.com) could pass for the real name.
    rows = [("192.0.2.7", 4, "none", "pass", "pass", "例え.jp", "例え.jp", "xn--pple-43d.com")]
    Ingestor(replace(app_env, workers=1), via="test").ingest_blobs(
        [("idn.xml", report_xml("google.com", "i1", "例え.jp", date(2026, 11, 1), rows))]
    )
    at = start("pages/1_Sources.py")
    table = at.dataframe[0].value
    assert table["header_from"].tolist() == ["例え.jp (xn--r8jz45g.jp)"]
    at.selectbox(key="sources_ip").set_value("192.0.2.7").run()
    shown = {value for d in at.dataframe for column in ("domain", "spf_results", "dkim_results")
             if column in d.value.columns for value in d.value[column].tolist()}  # fmt: skip
    assert "аpple.com (xn--pple-43d.com)" in shown
    assert csv_rows(downloads["sources_csv"][1])[0]["Header-from"] == "xn--r8jz45g.jp"
    assert i18n.domain_display("plain.example, xn--zz") == "plain.example, xn--zz"


def test_a_table_csv_keeps_two_columns_that_share_a_label():
    frame = pandas.DataFrame({"messages": [3], "count": [3]})  # both labelled "Messages"
    assert list(ui_tables.csv_frame(frame, "UTC").columns) == ["Messages", "Messages (count)"]


def test_the_catalogue_describes_every_filter_field():
    flt = Filter.from_params({"since": "2026-11-01", "until": "2026-11-02", "reporter": "a,b",
                              "dmarc": "pass", "dkim_aligned": "no", "source_ip": "192.0.2.0/24"})
    assert i18n.describe_filter(flt) == (
        "Showing reports that begin from 2026-11-01 to 2026-11-02 (UTC days); reporter a or b; "
        "source IP 192.0.2.0/24; DMARC pass; DKIM not aligned."
    )
    assert i18n.describe_filter(Filter()) == "Showing all stored reports."
    dotted = Filter.from_params({"reporter": "Google.com."})  # the same reporter as google.com
    assert i18n.describe_filter(dotted) == "Showing reporter Google.com."
    one = Filter.from_params({"source_ip": "192.0.2.7,2001:db8::1,2001:db8::/32"})
    assert i18n.describe_filter(one) == (  # an address alone is not shown as a /32 network
        "Showing source IP 192.0.2.7 or 2001:db8::1 or 2001:db8::/32."
    )
    assert [i18n.t(f"metric.{k}") for k in ("messages", "dmarc_pass_rate", "reports",
                                             "reporters", "source_ips", "domains")] == list(SIX)


def test_the_drop_folder_scan_takes_each_file_once_and_waits_for_writes_to_settle(
    app_env, monkeypatch
):
    from dmarc_analytics import ui_dropfolder
    from dmarc_analytics.ui_dropfolder import inbox_status, scan_inbox

    monkeypatch.setattr(ui_dropfolder, "SETTLE_SECONDS", 3600.0)  # "recent" = the last hour
    app_env.inbox.mkdir(parents=True)
    old = (1_700_000_000, 1_700_000_000)
    names = list(FIXTURE)
    (app_env.inbox / names[0]).write_bytes(FIXTURE[names[0]])
    os.utime(app_env.inbox / names[0], old)
    assert scan_inbox(app_env).files == 1
    assert scan_inbox(app_env).files == 0
    (app_env.inbox / "copy.xml").write_bytes(FIXTURE[names[0]])  # same bytes, other name
    os.utime(app_env.inbox / "copy.xml", old)
    assert scan_inbox(app_env).files == 0
    (app_env.inbox / names[1]).write_bytes(FIXTURE[names[1]])  # just written: not yet
    assert scan_inbox(app_env).files == 0
    os.utime(app_env.inbox / names[1], old)
    assert scan_inbox(app_env).files == 1
    with open_store(app_env.db) as con:
        assert insights.overview(con, Filter()).reports == 2
        assert len(insights.ledger(con)) == 2
    status = inbox_status(app_env)
    assert (status.exists, status.files) == (True, 3) and status.last_scan is not None


def test_a_broken_link_in_the_drop_folder_is_rejected_once_not_ignored(app_env, monkeypatch):
    from dmarc_analytics import ui_dropfolder
    from dmarc_analytics.ui_dropfolder import Arrivals, scan_inbox

    monkeypatch.setattr(ui_dropfolder, "SETTLE_SECONDS", 0.0)
    app_env.inbox.mkdir(parents=True)
    link = app_env.inbox / "gone.xml"
    link.symlink_to(app_env.inbox / "nowhere.xml")
    assert scan_inbox(app_env) == Arrivals(1, 1)
    monkeypatch.setattr(ui_dropfolder, "_handled", {})  # as after a restart of the app
    assert scan_inbox(app_env) == Arrivals()  # the ledger has it: not rejected again
    with open_store(app_env.db) as con:
        rows = insights.ledger(con)
    assert rows["outcome"].tolist() == ["rejected"]
    assert rows["reason"].tolist() == ["broken link: what it points to does not exist"]


def test_a_rejected_drop_folder_file_is_not_announced_as_ingested(app_env):
    # A text file in the folder read "Drop folder: ingested 1 new file."
    from dmarc_analytics.ui_dropfolder import Arrivals, scan_inbox

    app_env.inbox.mkdir(parents=True)
    (app_env.inbox / "notes.txt").write_bytes(b"not a report")
    (app_env.inbox / "a.xml").write_bytes(next(iter(FIXTURE.values())))
    for name in ("notes.txt", "a.xml"):
        os.utime(app_env.inbox / name, (1_700_000_000, 1_700_000_000))
    arrivals = scan_inbox(app_env)
    assert arrivals == Arrivals(2, 1)
    assert ui.arrivals_text(arrivals) == (
        "Drop folder: 2 new files, 1 of them rejected (the Ingest page's ledger says why)."
    )
    assert ui.arrivals_text(Arrivals(1, 1)) == (
        "Drop folder: 1 new file, rejected (the Ingest page's ledger says why)."
    )
    assert ui.arrivals_text(Arrivals(1, 0)) == "Drop folder: ingested 1 new file."


def test_a_scan_of_another_databases_drop_folder_does_not_make_this_one_skip(app_env, tmp_path):
    # Sessions of other databases (and the watcher scanning theirs) must not make a page
    # load skip its own drop folder: files that arrived while the app was closed are
    # ingested at the first page load.
    from dmarc_analytics import ui_dropfolder
    from dmarc_analytics.ui_dropfolder import scan_inbox

    app_env.inbox.mkdir(parents=True)
    name = next(iter(FIXTURE))
    (app_env.inbox / name).write_bytes(FIXTURE[name])
    os.utime(app_env.inbox / name, (1_700_000_000, 1_700_000_000))
    other = str(tmp_path / "other.duckdb")
    busy = ui_dropfolder._scanning.setdefault(other, threading.Lock())
    with busy:  # another database's scan is under way
        assert scan_inbox(app_env).files == 1
        mine = ui_dropfolder._scanning[str(app_env.db)]
        with mine:  # a scan of this database is under way: this one skips, as designed
            (app_env.inbox / "second.xml").write_bytes(FIXTURE[list(FIXTURE)[1]])
            os.utime(app_env.inbox / "second.xml", (1_700_000_000, 1_700_000_000))
            assert scan_inbox(app_env).files == 0
    assert scan_inbox(app_env).files == 1


def test_the_drop_folder_watcher_ingests_in_the_background_and_reruns_only_on_news(
    app_env, monkeypatch
):
    from dmarc_analytics import ui_dropfolder

    reruns = []
    monkeypatch.setattr(ui_dropfolder, "_request_rerun", reruns.append)
    watcher = ui_dropfolder._Watcher()
    watcher._sessions.update({"a": app_env, "b": app_env})  # two sessions on one database
    app_env.inbox.mkdir(parents=True)
    assert watcher.scan_once() == {} and reruns == []  # nothing new: nobody is disturbed
    name = next(iter(FIXTURE))
    (app_env.inbox / name).write_bytes(FIXTURE[name])
    os.utime(app_env.inbox / name, (1_700_000_000, 1_700_000_000))
    assert watcher.scan_once() == {str(app_env.db): ui_dropfolder.Arrivals(1, 0)}
    assert sorted(reruns) == ["a", "b"]
    assert watcher.files_since(str(app_env.db), 0).files == 1
    assert not watcher.files_since(str(app_env.db), watcher.last_event(str(app_env.db)))
    assert watcher.scan_once() == {} and len(reruns) == 2  # each file once


def test_the_streamlit_session_api_the_watcher_reruns_through_exists():
    """The watcher reruns a session as Streamlit's own "run on save" does; an upgrade that
    renames these must fail here, not silently stop the drop folder from refreshing pages."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.app_session import AppSession

    assert callable(Runtime.get_app_session)
    assert callable(AppSession.request_rerun)
    assert callable(AppSession._call_soon_on_event_loop)
    assert "self._client_state = ClientState()" in inspect.getsource(AppSession.__init__)


def test_opening_a_database_of_an_older_version_upgrades_it_with_a_message(loaded, monkeypatch):
    from dmarc_analytics.store import pending_migrations

    with open_store(loaded.db) as con:
        back_to_before_rollups(con)
    assert pending_migrations(loaded.db) == ["005_rollups"]
    shown = []
    spinner = st.spinner

    def spy(text, *args, **kwargs):
        shown.append(text)
        return spinner(text, *args, **kwargs)

    monkeypatch.setattr(st, "spinner", spy)
    at = start()
    assert i18n.t("store.upgrading") in shown
    assert pending_migrations(loaded.db) == []
    assert six(at)["Messages"] == "45"
    shown.clear()
    at.run()  # once upgraded, no more checks or messages in this process
    assert i18n.t("store.upgrading") not in shown


@pytest.mark.parametrize(
    "value",
    ["http://evil.example/x", "www.evil.example", "mail@evil.example", ":material/lock:",
     ":red[RED]", "\u202egnp.exe"],
)  # fmt: skip
def test_data_in_markdown_makes_no_links_icons_or_colours(value):
    # Streamlit acts on these after parsing, so backslash escapes alone did not stop them:
    # a zero-width space breaks each pattern up, and reordering characters are named.
    escaped = i18n.markdown_escape(value).replace("\\", "")
    for pattern in ("http:/", "www.", "l@", ":material", ":red[", "\u202e"):
        assert pattern not in escaped
    assert escaped.replace("\u200b", "") == value.replace("\u202e", "<U+202E>")


@pytest.mark.parametrize("value", [":" + "g" * 20_000, (":" + "g" * 50) * 400, "@" * 20_000])
def test_escaping_a_long_crafted_value_stays_fast(value):
    # A pattern with two overlapping letter runs took 5 s on 20,000 letters after a colon.
    start = time.perf_counter()
    ui.markdown_code(value), i18n.markdown_escape(value)
    assert time.perf_counter() - start < 0.5


def test_a_code_span_holds_any_value_exactly():
    assert ui.markdown_code("2001:db8::1") == "`2001:db8::1`"  # addresses stay copyable
    assert ui.markdown_code("a`b") == "``a`b``"
    assert ui.markdown_code("`x`") == "`` `x` ``"
    assert ui.markdown_code(":material/lock:") == "`:\u200bmaterial/lock:`"


def test_counted_messages_use_the_singular_for_one():
    assert i18n.t("table.csv", 1, total="1") == "Download CSV (1 row)"
    assert i18n.t("table.csv", 2, total="2") == "Download CSV (2 rows)"
    assert i18n.t("table.csv", 0, total="0") == "Download CSV (0 rows)"
    assert i18n.t("manage.purged", 1, reports="1") == "Removed 1 report."
    # a key without a singular form reads the same for one
    assert i18n.t("table.rows", 1, shown="1", total="1") == "Showing 1 of 1 rows."
    # ``count`` chooses the form and fills no slot: a {count} slot would stay unfilled
    assert [k for k, text in i18n.CATALOGUE["en"].items() if "{count}" in text] == []


def test_every_catalogue_key_the_app_names_exists():
    sources = [REPO / "app.py", *REPO.glob("pages/*.py"), *REPO.glob("dmarc_analytics/ui*.py"),
               REPO / "dmarc_analytics" / "charts.py"]  # fmt: skip
    named = {key for path in sources
             for key in re.findall(r"""\bt\(\s*["']([a-z_.0-9]+)["']\s*[,)]""", path.read_text())}
    assert len(named) > 100
    assert sorted(named - set(i18n.CATALOGUE["en"])) == []


def test_reparse_rebuilds_every_report_from_the_archive(loaded):
    at = start("pages/5_Ingest.py")
    at.checkbox(key="ingest_reparse_confirm").check().run()
    at.button(key="ingest_reparse").click().run()
    assert not at.exception
    assert "Re-parsed 3 archived files: 3 inserted, 0 rejected." in [s.value for s in at.success]
    at.switch_page(APP).run()
    assert six(at) == {"Messages": "45", "DMARC pass rate": "82.2%", "Reports": "3",
                       "Reporters": "2", "Source IPs": "4", "Domains": "2"}  # fmt: skip
    # A report removed by a purge stays out, and the notice says so.
    assert maintenance.purge(loaded, policy_domain="example.org") == 1
    at = start("pages/5_Ingest.py")
    at.checkbox(key="ingest_reparse_confirm").check().run()
    at.button(key="ingest_reparse").click().run()
    assert (
        "Re-parsed 3 archived files: 2 inserted, 0 rejected. 1 report removed earlier (purge) "
        "stays removed."
    ) in [s.value for s in at.success]


def test_every_page_says_when_a_reparse_has_not_finished(loaded):
    with open_store(loaded.db) as con:  # as a reparse stopped half-way leaves it
        con.execute("INSERT INTO state VALUES ('reparse_started', 1795000000)")
    at = start()
    assert [w.value for w in at.warning][:1] == [
        i18n.t("store.reparse_unfinished", started="2026-11-18 11:06")
    ]
    at.switch_page("pages/5_Ingest.py").run()
    at.checkbox(key="ingest_reparse_confirm").check().run()
    at.button(key="ingest_reparse").click().run()
    assert not [w for w in at.warning if "has not finished" in w.value]


def test_reparse_in_the_app_says_which_reports_it_could_not_rebuild(app_env):
    Ingestor(replace(app_env, workers=1, archive=False), via="test").ingest_blobs(
        [("y.xml", FIXTURE["yahoo.com!example.com!y1.xml"])]
    )
    at = start("pages/5_Ingest.py")
    at.checkbox(key="ingest_reparse_confirm").check().run()
    at.button(key="ingest_reparse").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [
        "Re-parsed 0 archived files: 0 inserted, 0 rejected. 1 report was kept as it was: the "
        f"archive `{app_env.archive_folder}` has no original of it (ingested with archiving "
        "off, or the archive was moved or damaged)."
    ]
    at.switch_page(APP).run()
    assert six(at)["Reports"] == "1"


def test_the_archive_switch_is_kept_with_the_database_for_every_writer(app_env, tmp_path):
    # It had been per browser tab: a reload switched it back on, and which tab's choice the
    # drop folder followed was arbitrary.
    at = start("pages/5_Ingest.py")
    at.toggle(key="_archive").set_value(False).run()
    name, data = next(iter(FIXTURE.items()))
    at.get("file_uploader")[0].set_value([(name, data, "text/xml")]).run()
    assert at.dataframe[0].value["outcome"].tolist() == ["inserted"]
    with open_store(app_env.db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM originals").fetchall() == [(0,)]
    # Another tab (a new session) shows it off, and the drop folder follows it.
    assert start("pages/5_Ingest.py").toggle(key="_archive").value is False
    app_env.inbox.mkdir(parents=True, exist_ok=True)
    name, data = list(FIXTURE.items())[1]
    (app_env.inbox / name).write_bytes(data)
    os.utime(app_env.inbox / name, (1_700_000_000, 1_700_000_000))  # settled, not being written
    start()
    with open_store(app_env.db, read_only=True) as con:
        assert con.execute("SELECT count(*), count(*) FILTER (WHERE via = 'dropfolder') "
                           "FROM ingest_ledger").fetchall() == [(2, 1)]  # fmt: skip
        assert con.execute("SELECT count(*) FROM originals").fetchall() == [(0,)]
    # So does the CLI, unless told otherwise.
    name, data = list(FIXTURE.items())[2]
    (tmp_path / name).write_bytes(data)
    Ingestor(replace(app_env, workers=1), via="test").ingest_paths(
        expand_inputs([str(tmp_path / name)])
    )
    with open_store(app_env.db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM originals").fetchall() == [(0,)]
    at = start("pages/5_Ingest.py")
    at.toggle(key="_archive").set_value(True).run()
    at.get("file_uploader")[0].set_value([("again.xml", data + b"\n", "text/xml")]).run()
    with open_store(app_env.db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM originals").fetchall() == [(1,)]


def test_a_configured_archive_setting_decides_and_the_switch_says_so(app_env, monkeypatch):
    monkeypatch.setenv("DMARC_ANALYTICS_ARCHIVE", "false")
    at = start("pages/5_Ingest.py")
    switch = at.toggle(key="_archive")
    assert (switch.value, switch.disabled) == (False, True)
    assert any("Set by the `archive` setting" in c.value for c in at.caption)


def test_the_alignment_chart_buckets_days_in_the_chosen_zone(loaded):
    # It was bucketed by UTC day (and said so) whatever zone the user picked.
    at = start(PAGES[2], params={"tz": "Asia/Tokyo"})
    assert chart(at)["layout"]["xaxis"]["title"]["text"] == "Day (Asia/Tokyo)"


def test_a_table_csv_in_another_zone_does_not_call_its_times_utc(loaded, downloads):
    # The Reports CSV kept the headers begin_utc/end_utc over times in the chosen zone.
    # Times are written as Excel reads them (no offset, no "T"); the header names the zone.
    start("pages/4_Reports.py")
    utc = csv_rows(downloads["reports_csv"][1])[0]
    assert utc["Begin (UTC)"] == "2026-11-03 00:00:00"
    at = start("pages/4_Reports.py", params={"tz": "Asia/Tokyo"})
    tokyo = csv_rows(downloads["reports_csv"][1])[0]
    assert "Begin (UTC)" not in tokyo
    assert tokyo["Begin (Asia/Tokyo)"] == "2026-11-03 09:00:00"  # the same instant, in JST
    assert tokyo["Partial"] == "false"
    # The record-level CSV beside it writes its report times in the same zone.
    records = linked_rows(at)
    assert "report_begin_utc" not in records[0]
    assert "2026-11-03 09:00:00" in {r["report_begin_asia_tokyo"] for r in records}


def test_the_report_picker_counts_one_message_in_the_singular():
    from types import SimpleNamespace

    import pandas as pd

    from dmarc_analytics.ui_report import report_label

    def label(messages: int) -> str:
        row = SimpleNamespace(begin_utc=pd.Timestamp("2026-11-01"), reporter="google.com",
                              policy_domain="example.com", messages=messages, report_key=7)
        return report_label(row, "UTC")

    # The key tells apart two reports of one reporter, domain, day and size: the picker
    # knows its options by their text, so it opened the last of two with the same text.
    assert label(1) == "2026-11-01 00:00 · google.com · example.com · 1 message · #7"
    assert label(1200) == "2026-11-01 00:00 · google.com · example.com · 1,200 messages · #7"


def test_a_chart_of_a_few_days_has_a_tick_per_day():
    import datetime as dt

    import pandas as pd

    # Left to itself, Plotly marked hours, or fractions of a second for a single day.
    one = pd.DataFrame({"day": [dt.date(2024, 4, 1)], "series": ["pass"], "messages": [5]})
    xaxis = charts.daily_messages(one).layout.xaxis
    assert (xaxis.dtick, xaxis.tickformat) == (86_400_000, "%Y-%m-%d")
    days = pd.date_range("2024-01-01", periods=60, freq="D").date
    many = pd.DataFrame({"day": days, "series": ["pass"] * 60, "messages": [1] * 60})
    assert charts.daily_messages(many).layout.xaxis.dtick is None
