"""The time zones a user may pick: those both Python and DuckDB know.

Times are converted in pandas (pages) and in DuckDB (the record-level CSV), so a zone only
one of them knows would fail in the other: Python's list holds ``localtime``, which DuckDB
refuses.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from dmarc_analytics.store import duckdb_time_zones


@cache
def time_zones() -> tuple[str, ...]:
    """UTC first, then every other zone by name."""
    both = (available_timezones() & duckdb_time_zones()) - {"UTC"}
    return ("UTC", *sorted(both))


def is_time_zone(name: str) -> bool:
    return name in _zone_set()


def canonical_zone(name: str) -> str | None:
    """The zone as its IANA name, whatever the case it was typed in (``utc``, ``asia/tokyo``);
    None for a name that is no zone."""
    name = name.strip()
    if name in _zone_set():
        return name
    return _by_folded().get(name.casefold())


@cache
def _by_folded() -> dict[str, str]:
    return {zone.casefold(): zone for zone in time_zones()}


@cache
def _zone_set() -> frozenset[str]:
    return frozenset(time_zones())
