"""Getting data in and out from the app: uploads, the demo dataset, data management.

Everything goes through the library (``pipeline.Ingestor``, ``maintenance``), exactly
like the CLI; this module adds the widgets, the progress bar and the messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dmarc_analytics import insights, maintenance, synth
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.i18n import error_text, markdown_escape, t, word
from dmarc_analytics.outcomes import FileOutcome
from dmarc_analytics.pipeline import Ingestor
from dmarc_analytics.store import keeps_originals
from dmarc_analytics.ui import (
    Page,
    StateKeys,
    arrivals_text,
    clear_caches,
    markdown_code,
    show_error,
)
from dmarc_analytics.ui_connect import release
from dmarc_analytics.ui_dropfolder import inbox_status, scan_inbox
from dmarc_analytics.ui_tables import show_table, shown_rows

DEMO_REPORTS = 400
DEMO_DAYS = 42
DEMO_SEED = 2026
# What each file added comes before the reason, which can be long (it pushed the numbers
# out of sight).
OUTCOME_COLUMNS = (  # the reason beside the outcome: the grid is often too narrow for both
    "name", "outcome", "reason", "reports", "records", "messages", "duplicates", "conflicts",
    "partial", "rejected_parts",
)  # fmt: skip


def demo_blobs(today: date | None = None) -> Iterator[tuple[str, bytes]]:
    """The demo dataset: synthetic reports for the ``DEMO_DAYS`` days before ``today``."""
    start = (today or datetime.now(UTC).date()) - timedelta(days=DEMO_DAYS)
    for report in synth.generate_reports(DEMO_REPORTS, seed=DEMO_SEED, start=start,
                                         days=DEMO_DAYS):  # fmt: skip
        yield report.file_name, report.xml


def demo_button(page: Page) -> None:
    """The one-click demo dataset (shown on an empty database)."""
    help_text = t("demo.help", reports=DEMO_REPORTS, days=DEMO_DAYS)
    if not st.button(t("demo.button"), key="demo_load", type="primary", help=help_text):
        return
    with st.spinner(t("demo.loading")):
        outcomes = _ingest(Ingestor(page.settings, via="demo", demo=True), demo_blobs())
    reports = sum(o.reports for o in outcomes)
    messages = sum(o.messages for o in outcomes)
    st.session_state[StateKeys.NOTICE] = t("demo.loaded", reports=f"{reports:,}",
                                           messages=f"{messages:,}")  # fmt: skip
    clear_caches()
    st.rerun()


def demo_banner(page: Page) -> None:
    """A note with a remove button while demo data is stored."""
    if not page.lookup(insights.has_demo_data):
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.info(t("demo.banner"), icon=":material/science:")
    right.button(t("demo.remove"), key=f"{page.key}_demo_remove", on_click=remove_demo,
                 args=(page,))  # fmt: skip


def remove_demo(page: Page) -> None:
    try:
        count = maintenance.purge(page.settings, demo=True)
    except DmarcAnalyticsError as exc:
        st.session_state[StateKeys.NOTICE_ERROR] = error_text(exc)
        return
    st.session_state[StateKeys.NOTICE] = t("demo.removed", count, reports=f"{count:,}")
    clear_caches()


def _ingest(ingestor: Ingestor, blobs: Iterable[tuple[str, bytes]]) -> list[FileOutcome]:
    try:
        return ingestor.ingest_blobs(blobs)
    except DmarcAnalyticsError as exc:
        show_error(exc)


def upload_section(page: Page) -> None:
    """The uploader: new files are ingested at once, with a progress bar."""
    files = st.file_uploader(
        t("upload.label"), accept_multiple_files=True, key="ingest_files", help=t("upload.help")
    ) or []
    st.caption(t("upload.limit", megabytes=st.get_option("server.maxUploadSize"),
                 inbox=markdown_code(str(page.settings.inbox))))  # fmt: skip
    done: set[str] = st.session_state.setdefault(StateKeys.UPLOADED_IDS, set())
    new = [f for f in files if f.file_id not in done]
    if new:
        bar = st.progress(0.0)

        def blobs() -> Iterator[tuple[str, bytes]]:
            for index, upload in enumerate(new):
                name = markdown_escape(upload.name)  # the progress text is Markdown
                bar.progress(index / len(new), t("upload.progress", name=name,
                                                 done=f"{index + 1:,}", total=f"{len(new):,}"))
                yield upload.name, upload.getvalue()

        outcomes = _ingest(Ingestor(page.settings, via="upload"), blobs())
        bar.empty()
        done.update(f.file_id for f in new)
        st.session_state.setdefault(StateKeys.UPLOADS, []).extend(_rows(outcomes))
        {"success": st.success, "info": st.info, "warning": st.warning}[tally_tone(outcomes)](
            tally_text(outcomes)
        )
        # a file's outcome says what it added; its conflicts would go unseen (those of a
        # file uploaded before were reported then, and nothing new was kept for them)
        conflicts = sum(o.conflicts for o in outcomes if not o.seen_before)
        if conflicts:
            st.warning(t("upload.conflicts", conflicts, conflicts=conflicts))
        clear_caches()
    st.subheader(t("section.outcomes"))
    rows = st.session_state.get(StateKeys.UPLOADS, [])
    if rows:
        show_table(in_words(pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS))), "ingest_outcomes")
    else:
        st.caption(t("upload.none"))


def tally_text(outcomes: list[FileOutcome]) -> str:
    """"Ingested 1,200 files: 1,150 inserted, ..." for the outcomes of one upload."""
    tally = Counter(o.outcome for o in outcomes)
    return t("upload.done", len(outcomes), total=f"{len(outcomes):,}",
             **{kind: f"{tally[kind]:,}" for kind in ("inserted", "duplicate", "rejected")})


def tally_tone(outcomes: list[FileOutcome]) -> str:
    """How the tally is shown: ``warning`` when a file was rejected, else ``success`` when
    the upload added reports, ``info`` when every file was known already."""
    kinds = {o.outcome for o in outcomes}
    if "rejected" in kinds:
        return "warning"
    return "success" if "inserted" in kinds else "info"


def _rows(outcomes: list[FileOutcome]) -> list[tuple[Any, ...]]:
    return [
        (o.path, o.outcome, o.reason or "", o.reports, o.records, o.messages, o.duplicates,
         o.conflicts, o.partial, o.rejected_parts)
        for o in outcomes
    ]  # fmt: skip


def in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Outcome and ``via`` codes (``inserted``, ``upload``, ...) as the catalogue words them;
    the codes stay what the CLI's JSON and the database hold."""
    return frame.assign(**{
        kind: frame[kind].map(lambda code, kind=kind: word(kind, code))
        for kind in ("outcome", "via") if kind in frame.columns
    })  # fmt: skip


def ledger_section(page: Page) -> None:
    """The whole ingest ledger, newest first, filterable by outcome and text."""
    st.subheader(t("section.ledger"))
    left, right = st.columns(2)
    outcome = left.selectbox(
        t("ledger.outcome"), ["", "inserted", "duplicate", "rejected"], key="ingest_ledger_outcome",
        format_func=lambda v: t(f"outcome.{v}") if v else t("ledger.all"),
    )
    search = right.text_input(t("ledger.search"), key="ingest_ledger_search").strip()
    args = {"outcome": outcome or None, "search": search or None}
    limit = shown_rows("ingest_ledger")
    frame = page.lookup(insights.ledger, limit=limit, **args)
    total = page.lookup(insights.count_ledger, **args)
    settings = page.settings
    show_table(in_words(frame), "ingest_ledger", page.zone, total,
               lambda: in_words(_direct(settings, insights.ledger, **args)))  # fmt: skip


def _direct(settings: Any, func: Any, **kwargs: Any) -> Any:
    from dmarc_analytics.ui import run_direct

    return run_direct(settings, func, **kwargs)


def dropfolder_section(page: Page) -> None:
    st.subheader(t("section.dropfolder"))
    status = inbox_status(page.settings)
    st.markdown(t("dropfolder.status", inbox=markdown_code(str(status.folder))))
    if not status.exists:
        st.caption(t("dropfolder.missing"))
    else:
        when = "—"
        if status.last_scan is not None:
            moment = pd.Timestamp(status.last_scan, unit="s", tz="UTC").tz_convert(page.zone)
            when = moment.strftime("%Y-%m-%d %H:%M:%S")
        st.caption(t("dropfolder.count", status.files, files=f"{status.files:,}", when=when,
                     zone=page.zone))  # fmt: skip
    if st.button(t("dropfolder.scan"), key="ingest_scan"):
        try:
            arrivals = scan_inbox(page.settings)
        except DmarcAnalyticsError as exc:
            show_error(exc)
        if arrivals:
            st.session_state[StateKeys.NOTICE] = arrivals_text(arrivals)
            clear_caches()
            st.rerun()


def manage_section(page: Page) -> None:
    """Remove demo data, purge by date range or policy domain, re-parse, archive on/off."""
    st.subheader(t("section.manage"))
    demo, purge, reparse, archive = st.tabs(
        [t("manage.demo"), t("manage.purge"), t("manage.reparse"), t("manage.archive")]
    )
    with demo:
        if page.lookup(insights.has_demo_data):
            st.button(t("demo.remove"), key="ingest_demo_remove", on_click=remove_demo,
                      args=(page,))  # fmt: skip
        else:
            st.caption(t("manage.no_demo"))
    with purge:
        _purge_form(page)
    with reparse:
        _reparse_form(page)
    with archive:
        _archive_toggle(page)


def _purge_form(page: Page) -> None:
    st.caption(t("manage.purge_help"))
    choices = page.lookup(insights.filter_choices)
    c1, c2, c3 = st.columns(3)
    since = c1.date_input(t("manage.purge_since"), value=None, key="ingest_purge_since",
                          format="YYYY-MM-DD")
    until = c2.date_input(t("manage.purge_until"), value=None, key="ingest_purge_until",
                          format="YYYY-MM-DD")
    domain = c3.selectbox(t("manage.purge_domain"), ["", *choices.policy_domains],
                          format_func=lambda v: v or t("manage.purge_any_domain"),
                          key="ingest_purge_domain")  # fmt: skip
    confirmed = st.checkbox(t("manage.purge_confirm"), key="ingest_purge_confirm")
    if st.button(t("manage.purge_button"), key="ingest_purge", disabled=not confirmed):
        if since is None and until is None and not domain:
            st.warning(t("manage.purge_needs"))
            return
        try:
            count = maintenance.purge(page.settings, since=since, until=until,
                                      policy_domain=domain or None)  # fmt: skip
        except DmarcAnalyticsError as exc:
            show_error(exc)
        st.session_state[StateKeys.NOTICE] = t("manage.purged", count, reports=f"{count:,}")
        clear_caches()
        st.rerun()


def _reparse_form(page: Page) -> None:
    st.caption(t("manage.reparse_help"))
    confirmed = st.checkbox(t("manage.reparse_confirm"), key="ingest_reparse_confirm")
    if st.button(t("manage.reparse_button"), key="ingest_reparse", disabled=not confirmed):
        with st.spinner(t("manage.reparse")):
            release()  # re-parse also opens the database read-only
            try:
                done = maintenance.reparse(replace(page.settings, workers=1))
            except DmarcAnalyticsError as exc:
                show_error(exc)
        tally = Counter(o.outcome for o in done.outcomes)
        notice = t(
            "manage.reparsed", len(done.outcomes), total=len(done.outcomes),
            inserted=tally["inserted"], rejected=tally["rejected"],
        )  # fmt: skip
        if done.kept:
            notice += " " + t(
                "manage.reparse_kept", done.kept, reports=f"{done.kept:,}",
                folder=markdown_code(str(page.settings.archive_folder)),
            )  # fmt: skip
        kept_out = maintenance.purged_count(page.settings)
        if kept_out:
            notice += " " + t("manage.reparse_purged", kept_out, reports=f"{kept_out:,}")
        st.session_state[StateKeys.NOTICE] = notice
        clear_caches()
        st.rerun()


def _archive_toggle(page: Page) -> None:
    """The archive switch, stored with the database: every tab, the drop folder and the CLI
    follow it. Where the ``archive`` setting is configured, that decides and the switch
    only shows it."""
    keep = page.lookup(keeps_originals, page.settings.archive)
    switchable = page.settings.archive is None  # else configured: the setting decides
    shadow = "_archive"
    st.session_state[shadow] = keep

    def save() -> None:
        try:
            maintenance.set_archive_switch(page.settings, bool(st.session_state[shadow]))
        except DmarcAnalyticsError as exc:
            st.session_state[StateKeys.NOTICE_ERROR] = error_text(exc)

    st.toggle(t("manage.archive"), key=shadow, on_change=save, disabled=not switchable,
              help=t("manage.archive_help"))  # fmt: skip
    if not switchable:
        st.caption(t("manage.archive_configured", state=t("bool.true" if keep else "bool.false")))
    st.caption(t("manage.archive_dir", path=markdown_code(str(page.settings.archive_folder))))
