"""What runs beside the main thread of an ingest: the parse workers' pool, fed chunks of
inputs in order with a bound on those in flight, and single calls on a thread."""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

from dmarc_analytics.outcomes import ChunkResult
from dmarc_analytics.recognise import WorkerContext

# Inputs parsed together by one worker and sent back as one set of Arrow tables: big enough
# to amortise building the tables, small enough to keep both workers busy to the end.
MIN_CHUNK_FILES, MAX_CHUNK_FILES = 8, 256
# Chunks handed to each worker ahead: enough that the workers keep parsing through a write
# of the main process (a batch takes about half a second to write), few enough to bound
# the memory of results waiting (4 and 6 measured alike; with 2, and batches of 40,000
# records, the workers sat idle through each write).
IN_FLIGHT_PER_WORKER = 4


def parse_side() -> ModuleType:
    """The parse side (``worker``), imported once there is something to parse: a folder
    ingested again never loads lxml, the decoders or Arrow."""
    from dmarc_analytics import worker

    return worker


def in_order(pool, chunks: list[list], workers: int) -> Iterator[tuple[ChunkResult, int]]:  # type: ignore[no-untyped-def]
    """The workers' results in order, each with the number of results still to come, with
    ``IN_FLIGHT_PER_WORKER`` chunks per worker in flight.

    ``Pool.imap`` would queue every result the workers finish while this process is busy
    writing a batch, so memory would grow with how far the workers get ahead.
    """
    work, collect = parse_side().work, parse_side().collect
    waiting: collections.deque = collections.deque()
    remaining = iter(chunks)
    for chunk in itertools.islice(remaining, IN_FLIGHT_PER_WORKER * workers):
        waiting.append(pool.apply_async(work, (chunk,)))
    # While the workers parse, load what the first write needs: DuckDB's scan of Arrow
    # tables imports pyarrow.compute (26 ms, else spent when the last write begins).
    import pyarrow.compute  # noqa: F401
    left = len(chunks)
    while waiting:
        result = waiting.popleft().get()
        following = next(remaining, None)
        if following is not None:
            waiting.append(pool.apply_async(work, (following,)))
        left -= 1
        yield collect(result), left


@contextlib.contextmanager
def no_collection() -> Iterator[None]:
    """Python's cycle collector paused for an ingest run, in this process and in the
    workers it forks (they start with its state).

    Parsing and writing make millions of short-lived objects, freed by their reference
    counts: the collector found nothing to collect after the 5,000 benchmark reports and
    the real corpus in a worker, and about 300 objects in this process, yet its passes
    cost 3 % of a run (full ones over a batch's objects about 20 ms each). What a run
    leaves is collected after it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Ahead:
    """A call run on a thread; ``result()`` waits for it and returns what it returned, or
    raises what it raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._call = call
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def chunk_size(inputs: int, workers: int) -> int:
    return max(MIN_CHUNK_FILES, min(MAX_CHUNK_FILES, inputs // (workers * 4) or 1))


def chunks_of(items: Sequence, size: int) -> list[list]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@contextlib.contextmanager
def worker_pool(workers: int, context: WorkerContext):  # type: ignore[no-untyped-def]
    """The worker pool, with a private folder the workers leave their results in (see
    ``worker.work``); both gone when it closes."""
    # Every worker builds Arrow tables: the first array is built here, once, and the
    # forked workers inherit what it loaded (see flatten.preload_arrow).
    from dmarc_analytics import flatten, worker  # the parse side (see parse_side)

    flatten.preload_arrow()
    import multiprocessing  # a folder ingested again never starts the workers
    import tempfile

    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="dmarc-analytics-") as spool, ctx.Pool(
        workers, initializer=worker.init_worker, initargs=(context, spool)
    ) as pool:
        yield pool
