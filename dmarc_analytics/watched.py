"""Watched folders (the app's drop folder, ``ingest --watch``): which of their inputs the
ledger has not seen yet, so that each is taken once and none is taken behind the user's
back after a purge or a rejection."""

from __future__ import annotations

from collections.abc import Iterable

from dmarc_analytics.recognise import file_sha256
from dmarc_analytics.sources import InputFile


def not_seen(
    items: Iterable[InputFile], known: set[str], unreadable: set[tuple[str, str]]
) -> list[InputFile]:
    """The inputs of a watched folder the ledger has no line for: files by their SHA-256
    (``store.seen_inputs``), entries with nothing to read (a broken link) by name and reason
    (``store.seen_unreadable``). The sets grow with what is returned."""
    fresh = []
    for item in items:
        if item.error is not None:
            if (item.display, item.error) not in unreadable:
                unreadable.add((item.display, item.error))
                fresh.append(item)
            continue
        try:
            digest = file_sha256(item.path)
        except OSError:
            continue  # gone since it was listed
        if digest not in known:
            known.add(digest)
            fresh.append(item)
    return fresh
