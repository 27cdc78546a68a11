"""The app's own address for the record-level CSV (``ui_routes``), on a real DuckDB file."""

from __future__ import annotations

import csv
import io
import os
import re
import threading
import time
from pathlib import Path

import pytest

from dmarc_analytics import ui_routes
from dmarc_analytics.config import load_settings
from dmarc_analytics.errors import OutputError
from dmarc_analytics.export import UTF8_BOM, export_records_csv
from dmarc_analytics.filters import Filter
from dmarc_analytics.pipeline import Ingestor
from dmarc_analytics.store import open_store
from tests.builders import CANONICAL_XML
from tests.web import get

OTHER_DAY = CANONICAL_XML.replace(b"17000064001234567890", b"other-day").replace(
    b"<begin>1700006400</begin>", b"<begin>1700092800</begin>"
).replace(b"<end>1700092799</end>", b"<end>1700179199</end>")


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    """The app's settings (from the environment, as the server reads them) over a database
    holding two reports; temporary files go to a folder of their own."""
    monkeypatch.setenv("DMARC_ANALYTICS_DB", str(tmp_path / "app.duckdb"))
    monkeypatch.setenv("DMARC_ANALYTICS_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.delenv("DMARC_ANALYTICS_CONFIG", raising=False)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    settings = load_settings(cwd=tmp_path)
    blobs = {"a.xml": CANONICAL_XML, "b.xml": OTHER_DAY}
    outcomes = Ingestor(settings, via="test").ingest_blobs(blobs.items())
    assert [o.outcome for o in outcomes] == ["inserted", "inserted"]
    return settings


def cli_export(settings, flt: Filter, zone: str = "UTC") -> bytes:
    target = Path(str(settings.db) + ".export.csv")
    with open_store(settings.db, read_only=True) as con:
        export_records_csv(con, flt, target, bom=True, zone=zone)
    return target.read_bytes()


@pytest.mark.parametrize(
    "flt, zone, rows",
    [
        (Filter(), "UTC", 4),
        (Filter(dmarc="fail"), "UTC", 2),
        (Filter.from_params({"source_ip": "192.0.2.0/24", "since": "2023-11-16"}),
         "Asia/Tokyo", 1),
        (Filter(reporter=("nobody.example",)), "UTC", 0),
    ],
)  # fmt: skip
def test_the_link_sends_the_exports_bytes_for_its_filter_and_zone(app_db, flt, zone, rows):
    answer = get(ui_routes.records_csv_url(flt, zone))
    assert answer.status == 200
    assert answer.body == cli_export(app_db, flt, zone)  # the CLI's file, byte for byte
    assert answer.body.startswith(UTF8_BOM)
    table = list(csv.DictReader(io.StringIO(answer.body.decode("utf-8-sig"))))
    assert len(table) == rows
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-encoding"] == "identity"  # never gzipped on the way
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="dmarc-records-')
    assert disposition.endswith('.csv"')


def test_nothing_is_left_behind(app_db, tmp_path):
    for _ in range(3):
        assert get(ui_routes.records_csv_url(Filter(), "UTC")).status == 200
    assert list((tmp_path / "temp").iterdir()) == []


@pytest.mark.parametrize(
    "change, status, words",
    [
        (lambda url: url.replace(ui_routes.TOKEN, "guessed"), 403, "earlier start of the app"),
        (lambda url: url.split("&token=")[0], 403, "earlier start of the app"),
        (lambda url: url.replace("tz=UTC", "tz=Mars%2FOlympus"), 400, "time zone"),
        (lambda url: url + "&colour=red", 400, "unknown filter 'colour'"),
        (lambda url: url + "&since=2023-12-01&until=2023-11-01", 400, "after"),
    ],
)
def test_a_link_that_is_wrong_is_answered_with_why(app_db, tmp_path, change, status, words):
    answer = get(change(ui_routes.records_csv_url(Filter(), "UTC")))
    assert answer.status == status
    assert words in answer.body.decode()
    assert list((tmp_path / "temp").iterdir()) == []


def test_a_database_that_cannot_be_read_is_an_error_before_any_byte(app_db, monkeypatch, tmp_path):
    folder = tmp_path / "a-folder.duckdb"
    folder.mkdir()
    monkeypatch.setenv("DMARC_ANALYTICS_DB", str(folder))
    answer = get(ui_routes.records_csv_url(Filter(), "UTC"))
    assert answer.status == 500
    assert answer.body.startswith(b"The record-level CSV could not be written: ")
    assert list((tmp_path / "temp").iterdir()) == []


def test_parts_written_out_of_order_are_sent_in_order(app_db, monkeypatch):
    """DuckDB's threads can write a later part of the file before an earlier one; the gap
    reads as zero bytes until it is filled, and is never sent."""
    content = UTF8_BOM + b"".join(b"line %d,with,values\n" % i for i in range(50_000))
    middle = len(content) // 2
    wrote_later_part = threading.Event()

    def out_of_order(con, flt, target, bom, zone):
        fd = os.open(target, os.O_WRONLY)
        try:
            os.pwrite(fd, content[:10], 0)
            os.pwrite(fd, content[middle:], middle)  # the file now has a gap
            wrote_later_part.set()
            time.sleep(0.2)  # the response reads meanwhile
            os.pwrite(fd, content[10:middle], 10)
        finally:
            os.close(fd)
        return 50_000

    monkeypatch.setattr(ui_routes, "copy_records_csv", out_of_order)
    answer = get(ui_routes.records_csv_url(Filter(), "UTC"))
    assert wrote_later_part.is_set()
    assert answer.status == 200
    assert answer.body == content


def test_a_copy_that_fails_after_its_first_bytes_breaks_the_download_off(app_db, monkeypatch):
    def fails_midway(con, flt, target, bom, zone):
        Path(target).write_bytes(UTF8_BOM + b"report_begin_utc,reporter\n")
        time.sleep(0.05)
        raise OSError("No space left on device")

    monkeypatch.setattr(ui_routes, "copy_records_csv", fails_midway)
    with pytest.raises(OutputError, match="No space left on device"):
        get(ui_routes.records_csv_url(Filter(), "UTC"))


def test_the_servers_gzip_layer_sends_the_csv_as_it_is(app_db):
    """Streamlit's server gzips compressible answers in Python (seconds for hundreds of
    megabytes, which the browser only inflates again); it leaves an answer alone that names
    its encoding."""
    from starlette.middleware import Middleware
    from streamlit.web.server.starlette.starlette_gzip_middleware import (
        SelectiveGZipMiddleware,
    )

    url = ui_routes.records_csv_url(Filter(), "UTC")
    answer = get(url, {"Accept-Encoding": "gzip"}, [Middleware(SelectiveGZipMiddleware)])
    assert answer.headers["content-encoding"] == "identity"
    assert answer.body == cli_export(app_db, Filter())


def test_an_abandoned_download_stops_its_copy(app_db, monkeypatch, tmp_path):
    """A browser tab closed during the download: the COPY is interrupted, not left to keep
    the cores busy, and its file goes."""
    stopped = threading.Event()

    def endless(con, flt, target, bom, zone):
        Path(target).write_bytes(UTF8_BOM + b"report_begin_utc,reporter\n" * 1000)
        try:  # a query that would run for minutes
            con.execute("SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3")
        finally:
            stopped.set()
        return 0

    monkeypatch.setattr(ui_routes, "copy_records_csv", endless)
    answer = get(ui_routes.records_csv_url(Filter(), "UTC"), leave_after=0)
    assert answer.status == 200 and answer.body == b""
    assert stopped.wait(10)
    deadline = time.monotonic() + 10
    while list((tmp_path / "temp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list((tmp_path / "temp").iterdir()) == []


def test_awkward_filter_values_travel_in_the_link_and_back(app_db):
    """Report data can hold quotes, commas and angle brackets: the link carries them
    encoded (nothing a page's HTML could take for markup), and the route reads them back."""
    flt = Filter(reporter=('Evil "x" <b>, Inc.', "google.com"), header_from=("example.com",))
    url = ui_routes.records_csv_url(flt, "Asia/Tokyo")
    assert re.fullmatch(r"[A-Za-z0-9/._~%&=+\-?]+", url)
    answer = get(url)
    assert answer.status == 200
    assert answer.body == cli_export(app_db, flt, "Asia/Tokyo")
    assert len(answer.body.decode("utf-8-sig").splitlines()) == 1 + 4  # google.com's four
