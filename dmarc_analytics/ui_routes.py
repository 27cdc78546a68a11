"""What the app's server answers beside its pages: the record-level CSV, sent while DuckDB
writes it.

A million records make a CSV of 280 MB. Through a Streamlit download button it is first
written whole, then read into memory, then announced to the browser, which only then asks
for it (2.1-3.2 s from the click until the file was saved). Here the link asks for it
straight away, and the response passes on each part of the file as soon as DuckDB's COPY
has written it, so writing, sending and saving overlap (1.2-1.8 s).

The link carries the filter in the same parameters as a page's address, the time zone as
``tz``, and a token the server makes when it starts: a page of another site, which cannot
read this app's pages, cannot name the link either.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from dmarc_analytics.config import Settings, load_settings
from dmarc_analytics.errors import FilterError, OutputError
from dmarc_analytics.export import copy_records_csv
from dmarc_analytics.filters import Filter
from dmarc_analytics.i18n import error_text, t
from dmarc_analytics.ui_connect import connect
from dmarc_analytics.ui_filter import TZ_PARAM  # the pages' own name for the zone
from dmarc_analytics.ui_tables import download_name
from dmarc_analytics.zones import canonical_zone

RECORDS_CSV_PATH = "/export/records.csv"
TOKEN = secrets.token_urlsafe(24)  # one per server process (see the module's text)
TOKEN_PARAM = "token"
CHUNK_BYTES = 1 << 20
POLL_SECONDS = 0.005  # how long the response waits for DuckDB to write more

_LOG = logging.getLogger(__name__)


def routes() -> list[BaseRoute]:
    return [Route(RECORDS_CSV_PATH, records_csv, methods=["GET"])]


def records_csv_url(flt: Filter, zone: str) -> str:
    """The link to the record-level CSV of ``flt``, report times in ``zone``."""
    params = {**flt.to_params(), TZ_PARAM: zone, TOKEN_PARAM: TOKEN}
    return f"{RECORDS_CSV_PATH}?{urlencode(params)}"


def download_file_name() -> str:
    return download_name("records.csv")  # as the tables' downloads: dmarc-records-<day>.csv


async def records_csv(request: Request) -> Response:
    """The record-level CSV of the filter the link names (see ``records_csv_url``), from
    the database the app's settings name, as the pages read it."""
    params = dict(request.query_params)
    if not hmac.compare_digest(params.pop(TOKEN_PARAM, ""), TOKEN):
        return _refusal(t("export.bad_link"), 403)
    zone = canonical_zone(params.pop(TZ_PARAM, "UTC"))
    if zone is None:
        return _refusal(t("export.bad_zone"), 400)
    try:
        flt = Filter.from_params(params)
    except FilterError as exc:
        return _refusal(error_text(exc), 400)
    copy = _Copy(load_settings(), flt, zone)
    try:
        await copy.started()
    except BaseException:
        copy.let_go(reader=True)
        raise
    if copy.error is not None and not copy.written:
        copy.let_go(reader=True)
        return _refusal(t("export.failed", reason=copy.reason()), 500)
    return StreamingResponse(
        copy.stream(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{download_file_name()}"',
            # Sent as it is: the server would otherwise gzip 280 MB in Python, and the
            # browser inflate it again. An explicit encoding is what its gzip layer skips.
            "Content-Encoding": "identity",
            "Cache-Control": "no-store",
        },
    )


def _refusal(message: str, status: int) -> Response:
    return PlainTextResponse(message + "\n", status_code=status)


class _Copy:
    """DuckDB's COPY into a file of a private folder, in a thread, and the response reading
    that file as it grows. The folder goes when both are done with it."""

    def __init__(self, settings: Settings, flt: Filter, zone: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dmarc-export-"))
        self.path = self.folder / "records.csv"
        self.path.touch()  # the reader opens it now; COPY writes into this same file
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._users = 2
        self._lock = threading.Lock()
        self._con: Any = None  # the COPY's connection while it runs
        self._reader = self.path.open("rb")
        thread = threading.Thread(
            target=self._run, args=(settings, flt, zone), name="records-csv", daemon=True
        )
        thread.start()

    @property
    def written(self) -> bool:
        return self.path.stat().st_size > 0

    def _run(self, settings: Settings, flt: Filter, zone: str) -> None:
        try:
            with connect(settings.db, settings.lock_timeout) as con:
                with self._lock:
                    if self._users < 2:  # nobody waits for it any more
                        return
                    self._con = con
                try:
                    copy_records_csv(con, flt, self.path, bom=True, zone=zone)
                finally:
                    with self._lock:
                        self._con = None
        except BaseException as exc:  # noqa: BLE001 - passed on to the response
            self.error = exc
            if self._users == 2:  # not the interruption of an abandoned download
                _LOG.warning("record-level CSV failed: %s", exc)
        finally:
            self.finished.set()
            self.let_go(reader=False)

    async def started(self) -> None:
        """Wait for the first bytes or the end: a failure before any byte is a proper
        error response instead of a download that breaks off."""
        while not self.finished.is_set() and not self.written:
            await anyio.sleep(POLL_SECONDS)

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            while True:
                finished = self.finished.is_set()  # before reading: no byte is missed
                chunk = self._reader.read(CHUNK_BYTES)
                hole = chunk.find(b"\0") if not finished else -1
                if hole >= 0:
                    # DuckDB's threads write their parts of the file side by side, so a
                    # later part can be there before an earlier one: the gap reads as
                    # zero bytes, which the CSV never holds (XML text cannot). Sent up to
                    # the gap; read again from there.
                    self._reader.seek(hole - len(chunk), os.SEEK_CUR)
                    chunk = chunk[:hole]
                if chunk:
                    yield chunk
                elif finished:
                    break
                else:
                    await anyio.sleep(POLL_SECONDS)
            if self.error is not None:
                # Breaking the response off makes the browser call the download failed,
                # rather than keep a file that looks whole.
                # Not an OSError: the server would take that for the browser gone away.
                raise OutputError(f"record-level CSV failed: {self.reason()}")
        finally:
            self.let_go(reader=True)

    def reason(self) -> str:
        return error_text(self.error) if isinstance(self.error, Exception) else str(self.error)

    def let_go(self, reader: bool) -> None:
        """The response (``reader``) or the COPY is done; the last of the two removes the
        folder."""
        if reader:
            self._reader.close()
        with self._lock:
            self._users -= 1
            last = self._users == 0
            if reader and self._con is not None:
                # The download was abandoned (the browser went away): stop the COPY rather
                # than keep both cores busy for a file nobody will read.
                self._con.interrupt()
        if last:
            shutil.rmtree(self.folder, ignore_errors=True)
