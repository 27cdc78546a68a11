"""The DuckDB store: short-lived connections with retry, and one transaction per batch.

Nobody holds the database file between operations: DuckDB lets only one process open a
file read-write, and any open connection (even read-only) locks other processes out. So
every open retries on a lock with jittered backoff up to a deadline, and writers keep their
transaction to one batch (well under a second for the default batch size).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from dmarc_analytics.errors import StoreBusyError, StoreError, StoreMissingError
from dmarc_analytics.schema import ensure_schema, migrations_to_apply

# DuckDB's engine is loaded where a database is opened or its errors caught (see
# engine): an ingest into a new database forks its parse workers before that (pipeline).
if TYPE_CHECKING:
    import duckdb

ROW_GROUP_ROWS = 122_880  # DuckDB stores a table in row groups of this many rows
_LOCK_WORDS = ("Could not set lock", "Conflicting lock", "different configuration")


@contextlib.contextmanager
def open_store(
    path: Path, read_only: bool = False, timeout: float = 20.0, must_exist: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database (creating it and its schema if it is missing) and close it after.

    :raises StoreBusyError: another process held the lock for longer than ``timeout``.
    :raises StoreMissingError: with ``must_exist``, there is no database at ``path`` (a
        command that only reads or removes data would otherwise report on a new, empty
        database created by a mistyped path).
    """
    path = Path(path)
    if must_exist:
        require_database(path)
    if read_only and not path.exists():
        initialise_store(path, timeout)
    con = _connect_with_retry(path, read_only, timeout)
    try:
        if not read_only:
            ensure_schema(con, _upgrade_notice)  # about a millisecond when nothing is pending
        yield con
    finally:
        con.close()


def engine() -> ModuleType:
    """DuckDB's engine: the compiled module ``_duckdb``, without the package's Python layer.

    The ``duckdb`` package re-exports the engine (``duckdb.connect`` is
    ``_duckdb.connect``, its errors are the engine's) under a layer of relations,
    expressions, Arrow and polars sources and a version lookup through
    ``importlib.metadata``, 45 ms to import: a fifth of ingesting a folder of 5,000 known
    files again. Opening a database, running SQL and fetching rows need the engine alone;
    registering an Arrow table needs the layer (see ``arrow_ready``), and the query modules
    import it. A duckdb release that stops shipping the engine under this name gets the
    package instead.
    """
    try:
        import _duckdb
    except ImportError:
        import duckdb as _duckdb
    return _duckdb


def arrow_ready() -> None:
    """Load duckdb's Python layer, which gives the engine its Arrow sources: before an
    Arrow table is registered on a connection (see ``engine``)."""
    import duckdb  # noqa: F401


def load_engine() -> None:
    """Load DuckDB's engine now, all of it holding Python's lock; opening a database then
    lets other threads run for most of its 20 ms (see ``recognise.SignatureScan``)."""
    engine()


def require_database(path: Path) -> None:
    """Raise ``StoreMissingError`` unless there is a database at ``path``."""
    if not Path(path).exists():
        raise StoreMissingError(
            f"no database at {path}: check the path (--db or DMARC_ANALYTICS_DB), or ingest "
            "reports first"
        )


_upgrade_notice: Callable[[list[str]], None] | None = None


def on_upgrade(notice: Callable[[list[str]], None] | None) -> None:
    """Have ``notice(names of the pending migrations)`` called in this process before an
    open applies migrations (the CLI says so on stderr)."""
    global _upgrade_notice
    _upgrade_notice = notice


def pending_migrations(path: Path, timeout: float = 20.0) -> list[str]:
    """The migrations the next read-write open will apply, without applying them (empty
    for a file that does not exist yet: creating the schema is quick). An upgrade can take
    seconds on a large database (building the rollups), so callers say so first."""
    path = Path(path)
    if not path.exists():
        return []
    con = _connect_with_retry(path, False, timeout)
    try:
        return migrations_to_apply(con)
    finally:
        con.close()


def initialise_store(path: Path, timeout: float = 20.0) -> None:
    """Create the database file and apply pending migrations."""
    with open_store(path, read_only=False, timeout=timeout):
        pass


def check_new_database(path: Path) -> None:
    """Make the folder of a database to be created by a later write, and check that it can
    be written to, so that a run fails at once, not after its parsing.

    :raises StoreError: the folder cannot be made or written to.
    """
    path = Path(path)
    _make_folder(path)
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot create database {path}: the folder cannot be written to")


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create folder {path.parent}: {exc.strerror}") from exc


def _connect_with_retry(path: Path, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    duckdb = engine()

    if not read_only:
        _make_folder(path)
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return _checked(duckdb.connect(str(path), read_only=read_only), path)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            message = str(exc)
            if not any(word in message for word in _LOCK_WORDS):
                raise StoreError(f"cannot open database {path}: {message}") from exc
            if time.monotonic() + delay > deadline:
                raise _busy(path, timeout, message) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)
        except duckdb.Error as exc:
            if "in-memory database" in str(exc):  # read-only, on a file of other data
                raise _not_a_database(path) from exc
            raise StoreError(f"cannot open database {path}: {exc}") from exc


def _checked(con: duckdb.DuckDBPyConnection, path: Path) -> duckdb.DuckDBPyConnection:
    """The connection, if it is to a database file. Given a file of other data (a CSV, say),
    DuckDB opens a database in memory instead, and everything written to it would be lost
    at exit while the command reported success."""
    (stored,) = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone() or (None,)
    if stored is None:
        con.close()
        raise _not_a_database(path)
    return con


def _not_a_database(path: Path) -> StoreError:
    return StoreError(
        f"{path} is not a DuckDB database (it holds other data): give the database file, "
        "such as data/dmarc.duckdb"
    )


def _busy(path: Path, timeout: float, message: str) -> StoreBusyError:
    """The busy error, naming who holds the lock when DuckDB's message says ("... Conflicting
    lock is held in /usr/bin/python3.11 (PID 4242) by user root. See also ...")."""
    held = re.search(r"held in (.+?) \(PID (\d+)\)", message)
    if held:
        return StoreBusyError.worded(
            "error.store_busy_held", path=path, seconds=f"{timeout:g}",
            program=held.group(1), pid=held.group(2),
        )  # fmt: skip
    return StoreBusyError.worded(
        "error.store_busy", path=path, seconds=f"{timeout:g}", detail=message.splitlines()[0]
    )


def duckdb_time_zones() -> frozenset[str]:
    """The time zone names DuckDB converts times in (its ICU list)."""
    import duckdb

    con = duckdb.connect()
    try:
        return frozenset(name for (name,) in con.execute(
            "SELECT name FROM pg_timezone_names()"
        ).fetchall())  # fmt: skip
    finally:
        con.close()


def _state(con: duckdb.DuckDBPyConnection, key: str) -> int | None:
    """The value of ``key`` in the ``state`` table, or None when it is not set."""
    rows = con.execute("SELECT value FROM state WHERE key = $key", {"key": key}).fetchall()
    return int(rows[0][0]) if rows else None


def data_version(con: duckdb.DuckDBPyConnection) -> int:
    """A number that grows with every write; caches key on it."""
    return _state(con, "data_version") or 0


def bump_data_version(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("UPDATE state SET value = value + 1 WHERE key = 'data_version'")


# The app's archive switch, kept with the database so that every tab, the drop folder and
# the CLI follow it (1 = keep originals, 0 = not); absent until the switch is used.
ARCHIVE_CHOICE = "archive"


def archive_choice(con: duckdb.DuckDBPyConnection) -> bool | None:
    stored = _state(con, ARCHIVE_CHOICE)
    return None if stored is None else bool(stored)


def keeps_originals(con: duckdb.DuckDBPyConnection, configured: bool | None) -> bool:
    """Whether ingesting keeps originals: the ``archive`` setting where one is configured
    (file, environment or option), else the database's stored choice, else yes."""
    if configured is not None:
        return configured
    stored = archive_choice(con)
    return True if stored is None else stored


# Set while a reparse has removed reports it has not rebuilt yet (the Unix time it started):
# a reparse that was stopped leaves it, so the app and the CLI can say reports are missing.
REPARSE_STARTED = "reparse_started"


def reparse_started(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the reparse that has not finished began (UTC), or None."""
    started = _state(con, REPARSE_STARTED)
    return None if started is None else datetime.fromtimestamp(started, UTC).replace(tzinfo=None)


def known_inputs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int]]:
    """Inputs ingested before whose reports are all still stored: sha256 → (reports found,
    rejected parts, reports that conflicted with a stored one)."""
    rows = con.execute(
        # a conflict is counted once per part of the input (two members of a zip may share
        # a name), however many times the input was read; counted before the join, which
        # then has no groups to make (5,000 inputs: 2 ms instead of 6-11)
        "SELECT i.sha256, i.reports, i.rejected_parts, coalesce(c.conflicts, 0) FROM inputs i "
        "LEFT JOIN (SELECT input_sha256, count(DISTINCT (origin, content_sha256)) "
        "FILTER (WHERE origin IS NOT NULL) AS conflicts FROM conflicts GROUP BY 1) c "
        "ON c.input_sha256 = i.sha256"
    ).fetchall()
    return {sha: (reports, rejected, conflicts) for sha, reports, rejected, conflicts in rows}


def file_stats(con: duckdb.DuckDBPyConnection) -> dict[bytes, tuple[int, int, int, int, int, str]]:
    """Files read before whose bytes are stored: absolute path (as bytes) → (size,
    mtime_ns, ctime_ns, inode, device, sha256) as they were when last read.

    A file whose path and all five still match is taken to hold the bytes it held then, so
    ingest skips reading it when those bytes are known. Rewriting a file, or replacing it by
    another (even one with the same size and modification time, as ``cp -p`` or an
    unpacked archive makes), changes its change time or inode; a file that changed within
    two seconds of being read is not remembered (see ``recognise.read_small``).
    """
    rows = con.execute(
        "SELECT path, size, mtime_ns, ctime_ns, inode, device, sha256 FROM file_stats"
    ).fetchall()
    return {bytes(path): tuple(rest) for path, *rest in rows}  # type: ignore[misc]


def seen_inputs(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The sha256 of every input the ledger has a row for, whatever became of it.

    Watched folders skip these: a file that was ingested, rejected or whose reports were
    purged is not taken again behind the user's back (they can still give it explicitly).
    """
    return {sha for (sha,) in con.execute("SELECT DISTINCT sha256 FROM ingest_ledger").fetchall()}


def seen_unreadable(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(name, reason) of every input the ledger rejected without reading any bytes (a broken
    link, a link loop, a fifo): watched folders account for such an entry once, not again at
    every start."""
    rows = con.execute(
        "SELECT DISTINCT name, reason FROM ingest_ledger WHERE sha256 = '' AND reason IS NOT NULL"
    ).fetchall()
    return {(name, reason) for name, reason in rows}


# Threads of one process (the app's uploads and its drop-folder watcher) write one at a time:
# DuckDB would otherwise fail the later of two transactions that change the same rows.
_WRITE_LOCK = threading.RLock()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    with _WRITE_LOCK:
        con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


@contextlib.contextmanager
def bulk_writes(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Settings for writing a batch of parsed reports, put back after.

    A commit of more than a megabyte is written straight into the database file. Otherwise
    DuckDB writes it to the log first and again into the file at the checkpoint when the
    connection closes (or at its next commit), which was a fifth of a batch's cost.

    The write runs on one DuckDB thread (for this process's whole instance, so a page of
    the app opened meanwhile does too). A batch holds about one row group (122,880 rows)
    at most, which DuckDB writes on one thread anyway: a second one only added overhead
    (0.52 s instead of 0.58 s for 100,433 records), and beside the parse workers it only
    took turns with them.
    """
    duckdb = engine()

    con.execute("SET checkpoint_threshold = '1MB'")
    con.execute("SET threads = 1")
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):  # a failed write's own error is the one to see
            con.execute("RESET checkpoint_threshold")
            con.execute("RESET threads")


def fetch_one(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> tuple:
    """The first row of a query, reading the result to its end.

    DuckDB 2 keeps a result open after ``fetchone()`` and then refuses ``register`` and
    friends on that connection, so single-row reads go through here.
    """
    rows = con.execute(sql, params or {}).fetchall()
    if not rows:
        raise LookupError(f"query returned no row: {sql}")
    return tuple(rows[0])
