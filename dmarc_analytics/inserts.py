"""Python rows into DuckDB tables: Arrow tables registered as views, or lists bound as
parameters, whichever costs less for the rows at hand (see ``insert_rows``).

The writer's batches go through here (a storage module: it talks to DuckDB).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from dmarc_analytics.store import arrow_ready

if TYPE_CHECKING:  # imported where tables are built or written, or a database opened
    import duckdb
    import pyarrow as pa

_CASTS = {"ip_num": "CAST(ip_num AS UHUGEINT)"}


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple],
    or_ignore: bool = False,
    arrow: bool = False,
    replacing: str | None = None,
) -> None:
    """Insert Python rows; with ``replacing`` (a key column), rows with the same keys go
    first.

    With ``arrow`` (pyarrow is loaded: the batch stored reports) the columns whose values
    vary go in as an Arrow table: DuckDB converts a bound Python value in about 0.7 µs,
    and a batch of 5,000 new files has some 100,000 in its ledger, parts, inputs,
    originals and file signatures. Otherwise (or when a column does not convert, such as
    an inode number beyond signed 64 bits) as one parameter per column (see
    ``_bound_rows``): a re-ingest of known files never loads pyarrow.
    """
    if not rows:
        return
    names = ", ".join(columns)
    view = f"_rows_{table}"
    arrow_source = _arrow_rows(rows) if arrow else None
    if arrow_source is not None:
        select, params, batch = arrow_source
        arrow_ready()
        con.register(view, batch)
        source = f"(SELECT * FROM (SELECT {select} FROM {view}) AS s({names}))"
    else:
        select, params = _bound_rows(rows)
        source = f"(SELECT * FROM (SELECT {select}) AS s({names}))"
    try:
        if replacing is not None:
            con.execute(
                f"DELETE FROM {table} WHERE {replacing} IN (SELECT {replacing} FROM {source})",
                params,
            )
        verb = "INSERT OR IGNORE INTO" if or_ignore else "INSERT INTO"
        con.execute(f"{verb} {table} ({names}) SELECT * FROM {source}", params)
    finally:
        if arrow_source is not None:
            con.unregister(view)


def _arrow_rows(rows: list[tuple]) -> tuple[str, dict[str, object], pa.Table] | None:
    """A select list over an Arrow table of the columns that vary (the others are bound
    once), its parameters and the table; None if a column does not convert."""
    import pyarrow as pa

    # Typed here: pyarrow's own inference imports pandas (0.14 s, see
    # flatten.preload_arrow). A value of another type fails the conversion.
    types = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), bytes: pa.binary(),
             datetime: pa.timestamp("us"), type(None): pa.null()}  # fmt: skip
    params: dict[str, object] = {}
    select, arrays, names = [], [], []
    for i, values in enumerate(zip(*rows, strict=True)):
        name = f"c{i}"
        if len(values) > 1 and _one_value(values):
            params[name] = values[0]
            select.append(f"${name}")
            continue
        arrow_type = types.get(next((type(v) for v in values if v is not None), type(None)))
        if arrow_type is None:  # a float, a list: bound as a list
            return None
        try:
            arrays.append(pa.array(values, arrow_type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            return None
        names.append(name)
        select.append(name)
    if not arrays:
        return None
    return ", ".join(select), params, pa.Table.from_arrays(arrays, names=names)


def _bound_rows(rows: list[tuple]) -> tuple[str, dict[str, object]]:
    """A select list yielding ``rows``, and its parameters: one list per column, unnested
    side by side by DuckDB in C++ (no Arrow, so no pandas import). A column holding one
    value in every row is bound once, and a run of consecutive integers (the ids) as its
    two ends."""
    params: dict[str, object] = {}
    select = []
    for i, values in enumerate(zip(*rows, strict=True)):
        name = f"c{i}"
        if _one_value(values):
            params[name] = values[0]
            select.append(f"${name}")
        elif _consecutive(values):
            params[name], params[f"{name}_end"] = values[0], values[-1] + 1
            select.append(f"unnest(range(${name}, ${name}_end))")
        else:
            params[name] = list(values)
            select.append(f"unnest(${name})")
    if not any(part.startswith("unnest") for part in select):  # keep one row per row
        params["c0"] = [rows[0][0]] * len(rows)
        select[0] = "unnest($c0)"
    return ", ".join(select), params


# Both checks run over every column of a batch's side tables: done by the tuple's own
# count and comparison and a set of types, in C, not by a generator per value (a 5,000-row
# ledger: 1.3 ms instead of 2.1).


def _one_value(values: tuple) -> bool:
    first = values[0]
    return (
        values[-1] == first
        and values.count(first) == len(values)
        and len(set(map(type, values))) == 1
    )


def _consecutive(values: tuple) -> bool:
    first = values[0]
    return (
        len(values) > 1
        and type(first) is int
        and values == tuple(range(first, first + len(values)))
        and set(map(type, values)) == {int}
    )


def insert_arrow(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[str, ...],
    batch: pa.Table,
    extra_columns: str = "",
    extra_values: str = "",
    params: dict[str, object] | None = None,
    verb: str = "INSERT INTO",
) -> None:
    """Insert ``batch`` (an Arrow table) into ``columns`` of ``table``, registered as a view
    for the statement; ``extra_columns`` take ``extra_values`` (SQL with ``params``)."""
    view = f"_batch_{table}"
    arrow_ready()
    con.register(view, batch)
    try:
        select = ", ".join(_CASTS.get(c, c) for c in columns)
        con.execute(
            f"{verb} {table} ({', '.join(columns)}{extra_columns}) "
            f"SELECT {select}{extra_values} FROM {view}",
            params or {},
        )
    finally:
        con.unregister(view)
