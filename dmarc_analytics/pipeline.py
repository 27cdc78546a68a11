"""The only place the stages are wired: read → decode → parse → flatten → store.

Parsing (``worker``) runs in worker processes (one per core, see ``parallel``) while the
main process writes finished batches; the database lock is taken only for the short write
of each batch. One bad input never stops the batch: it becomes a rejected outcome with its
reason. Inputs whose bytes were ingested before are settled here (``recognise``) without
parsing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from dmarc_analytics.config import Settings
from dmarc_analytics.outcomes import ChunkResult, FileOutcome
from dmarc_analytics.parallel import (
    MAX_CHUNK_FILES,
    Ahead,
    chunk_size,
    chunks_of,
    in_order,
    no_collection,
    parse_side,
    worker_pool,
)
from dmarc_analytics.recognise import SignatureScan, WorkerContext, settled_result
from dmarc_analytics.rollups import refresh as refresh_rollups
from dmarc_analytics.schema import utc_now
from dmarc_analytics.sources import Blob, InputFile
from dmarc_analytics.store import (
    ROW_GROUP_ROWS,
    bulk_writes,
    check_new_database,
    file_stats,
    initialise_store,
    keeps_originals,
    known_inputs,
    load_engine,
    open_store,
    transaction,
)
from dmarc_analytics.writer import write_batch, write_chunks

# A batch of at least a row group of records has them written once, as whole row groups; a
# smaller one makes a partial row group, which the next checkpoints merge with its
# neighbours, writing it again each time (at 1M records, 40,000-record batches had commits
# cost three times as much).
BATCH_RECORDS = ROW_GROUP_ROWS
BATCH_FILES = 8_000
BATCH_KNOWN_FILES = 50_000  # files ingested before cost a ledger row each: far cheaper
BATCH_SECONDS = 5.0
PARALLEL_THRESHOLD = 16  # fewer inputs than this are parsed in-process
# The last batch of a run starts going in while the workers parse its last chunks, this
# many per worker (see Ingestor._write_ahead): at 5,000 reports 1, 2, 3 and 4 measured
# 1.98, 1.97, 1.96 and (on a slower hour, with 2 at 2.09) 2.14 s, against 2.03 s without.
WRITE_AHEAD_CHUNKS_PER_WORKER = 2


class Ingestor:
    """Ingest inputs into the store in batches; report each input's outcome as it lands."""

    def __init__(
        self,
        settings: Settings,
        via: str = "cli",
        demo: bool = False,
        on_outcome: Callable[[FileOutcome], None] | None = None,
        keep_outcomes: bool = True,
    ) -> None:
        self.settings = settings
        self.keep_outcomes = keep_outcomes
        self.via = via
        self.demo = demo
        self.on_outcome = on_outcome
        self._pending: list[ChunkResult] = []
        self._pending_records = self._pending_files = self._pending_known = 0
        self._pending_since = 0.0
        self.outcomes: list[FileOutcome] = []
        self._wrote = False
        self._stats: dict[bytes, tuple] = {}
        self._scan: SignatureScan | None = None  # of the first page, see _context
        self._opening: Ahead | None = None  # see opening_ahead
        self._held: Any = None  # the connection _context keeps open (see ingest_pages)
        self._holding = contextlib.ExitStack()
        # While the last batch is written ahead (see _write_ahead): its connection, and its
        # transaction with the batch's settings.
        self._ahead = contextlib.ExitStack()
        self._ahead_transaction = contextlib.ExitStack()
        self._ahead_con: Any = None
        self._ahead_now = utc_now()
        self._ahead_outcomes: list[FileOutcome] = []

    def _context(
        self,
        with_stats: bool = False,
        hold: bool = False,
        first_page: Sequence[InputFile | Blob] = (),
    ) -> WorkerContext:
        """The workers' context; with the remembered file signatures (``store.file_stats``)
        in ``self._stats`` for this process when ``with_stats``, while the current ones of
        the files of ``first_page`` are taken on a thread (``self._scan``). With ``hold``
        the connection stays open for the writes until ``_release`` (see ``ingest_pages``).

        A database that does not exist yet has nothing ingested before: it is made by the
        first write, while the workers parse (making it cost 0.045 s before they could
        start), once its folder is known to take it.
        """
        if not os.path.exists(self.settings.db):
            check_new_database(self.settings.db)
            keep = not self.demo and self.settings.archive is not False  # on unless set off
            self._stats = {}
            archive_dir = self.settings.archive_folder if keep else None
            return WorkerContext(self.settings.limits, archive_dir, {})
        opening, self._opening = self._opening, None
        if with_stats and first_page:
            load_engine()
            self._scan = SignatureScan(first_page, BATCH_KNOWN_FILES)
        try:
            if opening is not None:  # opened while the inputs were listed, stats read
                con, known, stats, keep = opening.result()
                self._stats = stats if with_stats else {}
            else:
                con, known, self._stats, keep = self._open_and_read(with_stats)
        except BaseException:
            self._stop_scan()
            raise
        if hold:
            self._held = con
        else:
            self._release()
        archive_dir = self.settings.archive_folder if keep else None
        return WorkerContext(self.settings.limits, archive_dir, known)

    def _open_and_read(self, with_stats: bool) -> tuple[Any, dict, dict, bool]:
        """Open the database, held in ``self._holding``; return the connection with what
        ``_context`` needs from it: the inputs known, the file signatures remembered (with
        ``with_stats``) and whether originals are kept."""
        try:
            con = self._holding.enter_context(
                open_store(self.settings.db, timeout=self.settings.lock_timeout)
            )
            known = known_inputs(con)
            # As many rows as distinct files ingested, like the inputs above (5,000: 20 ms).
            stats = file_stats(con) if with_stats and known else {}
            # The demo dataset is generated, not given: nothing to keep, nothing to reparse.
            keep = not self.demo and keeps_originals(con, self.settings.archive)
        except BaseException:
            self._release()
            raise
        return con, known, stats, keep

    @contextlib.contextmanager
    def opening_ahead(self) -> Iterator[None]:
        """Open an existing database on a thread while the caller finds its inputs; the
        next ingest takes it from there. Opening lets Python's lock go (DuckDB makes its
        instance in 20 ms), which listing a folder needs: for 5,000 files the two took
        0.02 and 0.01 s one after the other, and now take 0.02 s together. The database is
        held from here on, as it would be from the start of the ingest (see
        ``_connection``).

        Whatever the block did not take is closed when it ends.
        """
        if os.path.exists(self.settings.db):
            load_engine()  # holding Python's lock all along: not worth a thread
            self._opening = Ahead(lambda: self._open_and_read(True))
        try:
            yield
        finally:
            opening, self._opening = self._opening, None
            if opening is not None:
                with contextlib.suppress(Exception):  # it was never needed
                    opening.result()
                self._release()

    def _stop_scan(self) -> None:
        if self._scan is not None:
            self._scan.stop()
            self._scan = None

    def _release(self) -> None:
        """Close the connection ``_context`` held, if any."""
        self._held = None
        self._holding.close()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """The held connection for one write, then let go; else one opened for the caller
        and closed after. So the database is held at most while up to
        ``BATCH_KNOWN_FILES`` known files are recognised, and never between writes."""
        if self._held is not None:
            try:
                yield self._held
            finally:
                self._release()
            return
        with open_store(self.settings.db, timeout=self.settings.lock_timeout) as con:
            yield con

    def ingest_paths(self, inputs: Sequence[InputFile]) -> list[FileOutcome]:
        return self.ingest_pages([inputs])

    def ingest_pages(self, pages: Iterable[Sequence[InputFile | Blob]]) -> list[FileOutcome]:
        """Ingest inputs that come a page at a time (each page read when the last is done).

        Small pages are parsed in this process; the worker pool starts with the first page
        big enough to be worth it and serves the rest.
        """
        # The database stays open while files ingested before are recognised, for the
        # first write of their ledger rows (a folder ingested again: one open, not two);
        # it is let go before anything is parsed, which can take minutes.
        first_page = pages[0] if isinstance(pages, Sequence) and pages else ()
        context = self._context(with_stats=True, hold=True, first_page=first_page)
        workers = self._workers()
        # An error rolls the transaction written ahead back (see _write_ahead).
        with no_collection(), self._holding, self._ahead, self._ahead_transaction, \
                contextlib.ExitStack() as stack:  # fmt: skip
            pool = None
            # Pages given all at once (not read one by one, as a reparse does): the last
            # batch of the last one is written ahead.
            last_page = len(pages) - 1 if isinstance(pages, Sequence) else -1
            for number, page in enumerate(pages):
                page = self._settle_leading(page, context)
                if not page:
                    continue
                self._release()
                chunks = chunks_of(page, chunk_size(len(page), workers))
                if workers <= 1 or (pool is None and len(page) < PARALLEL_THRESHOLD):
                    process = parse_side().process_chunk
                    for chunk in chunks:
                        self._add(process(chunk, context))
                    continue
                if pool is None:
                    pool = stack.enter_context(self._pool(workers, context))
                ahead = WRITE_AHEAD_CHUNKS_PER_WORKER * workers if number == last_page else -1
                for result, left in in_order(pool, chunks, workers):
                    self._add(result)
                    if left == ahead:
                        self._write_ahead()
            stack.close()  # the workers are done: the last write may use every core
            self.finish()
        return self.outcomes

    def _settle_leading(
        self, page: Sequence[InputFile | Blob], context: WorkerContext
    ) -> Sequence[InputFile | Blob]:
        """Settle in this process the inputs at the head of ``page`` that need no parsing,
        up to the first that does; return the rest. A folder ingested again is then
        hashed here instead of in workers that would have nothing else to do (5,000 known
        files: 0.15 s here against 0.3 s through the pool), and a new folder costs one
        file's hash."""
        settled = []
        for item in page:
            result = settled_result(item, context, self._stats, self._scan)
            if result is None:
                break
            settled.append(result)
        self._stop_scan()  # done with the first page; nor may a thread run into a fork
        for start in range(0, len(settled), MAX_CHUNK_FILES):
            self._add(ChunkResult(settled[start : start + MAX_CHUNK_FILES]))
        return page[len(settled) :]

    def ingest_blobs(self, blobs: Iterable[tuple[str, bytes]]) -> list[FileOutcome]:
        """Ingest in-memory inputs (uploads), in order, in this process."""
        context = self._context()
        process = parse_side().process_chunk
        with no_collection():
            for name, data in blobs:
                self._add(process([Blob(name, data)], context))
            self.finish()
        return self.outcomes

    def _workers(self) -> int:
        return self.settings.workers or os.cpu_count() or 1

    def _pool(self, workers: int, context: WorkerContext):  # type: ignore[no-untyped-def]
        """The parse workers' pool (see ``parallel.worker_pool``)."""
        return worker_pool(workers, context)

    def _add(self, result: ChunkResult) -> None:
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(result)
        self._pending_records += result.records
        known = sum(file.known_reports is not None for file in result.files)
        self._pending_known += known
        self._pending_files += len(result.files) - known
        if (
            self._pending_records >= BATCH_RECORDS
            or self._pending_files >= BATCH_FILES
            or self._pending_known >= BATCH_KNOWN_FILES
            or time.monotonic() - self._pending_since >= BATCH_SECONDS
        ):
            self.flush()

    def finish(self) -> None:
        """Write what is pending, then bring the rollups up to date (once per run, and only
        after a run that stored reports), on the same connection. A run that wrote nothing
        still leaves a database (see ``_context``)."""
        self.flush(last=True)
        if not os.path.exists(self.settings.db):
            initialise_store(self.settings.db, self.settings.lock_timeout)

    def _write_ahead(self) -> None:
        """Open the run's last transaction and write what is pending into it: the last
        batch goes in while the workers parse its last chunks, and ``finish`` writes the
        rest and commits it. The database is held from here to then, for the last chunks'
        parse longer than the write itself (at 5,000 reports about 0.3 s, 0.75 s in all)."""
        if not self._pending or not any(chunk.records for chunk in self._pending):
            return
        if self._ahead_con is None:
            self._ahead_con = self._ahead.enter_context(self._connection())
            self._ahead_transaction.enter_context(bulk_writes(self._ahead_con))
            self._ahead_transaction.enter_context(transaction(self._ahead_con))
            self._ahead_now = utc_now()
        self._write_pending_ahead()

    def _write_pending_ahead(self) -> None:
        batch, self._pending = self._pending, []
        self._pending_records = self._pending_files = self._pending_known = 0
        if batch:
            self._ahead_outcomes += write_chunks(
                self._ahead_con, batch, self.via, self._ahead_now, demo=self.demo
            )

    def flush(self, last: bool = False) -> None:
        """Write what is pending in one transaction and let the database go; with
        ``last``, refresh the rollups before letting it go."""
        if self._ahead_con is not None:
            self._finish_ahead(last)
            return
        refresh = last and (self._wrote or any(chunk.records for chunk in self._pending))
        if not self._pending and not refresh:
            return
        batch, self._pending = self._pending, []
        self._pending_records = self._pending_files = self._pending_known = 0
        outcomes: list[FileOutcome] = []
        with self._connection() as con:
            if batch:
                # Ledger rows alone (files known before) are a few kilobytes: logged, not
                # worth a checkpoint at commit.
                tuned = any(chunk.records for chunk in batch)
                with bulk_writes(con) if tuned else contextlib.nullcontext():
                    outcomes = write_batch(con, batch, self.via, utc_now(), demo=self.demo)
            self._report(outcomes)
            if last and self._wrote:
                self._wrote = False
                refresh_rollups(con)

    def _finish_ahead(self, last: bool) -> None:
        """Write the rest of the batch written ahead and commit it; then as ``flush``."""
        con = self._ahead_con
        self._write_pending_ahead()
        self._ahead_transaction.close()  # committed, and the batch's settings put back
        outcomes, self._ahead_outcomes, self._ahead_con = self._ahead_outcomes, [], None
        with self._ahead:
            self._report(outcomes)
            if last and self._wrote:
                self._wrote = False
                refresh_rollups(con)

    def _report(self, outcomes: list[FileOutcome]) -> None:
        """Pass on the outcomes of a batch that has landed."""
        # Only stored reports make rollup months stale; ledger rows alone change none.
        self._wrote = self._wrote or any(
            part.outcome == "inserted" for outcome in outcomes for part in outcome.parts
        )
        for outcome in outcomes:
            if self.keep_outcomes:
                self.outcomes.append(outcome)
            if self.on_outcome is not None:
                self.on_outcome(outcome)
