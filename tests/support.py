"""Helpers shared by tests: where optional resources are, and skip-or-fail rules.

A test that needs something a laptop may lack (the ../shared corpus, a browser) skips with a
clear message, unless DMARC_ANALYTICS_NO_SKIP=1 (set by .ci/run), where it fails instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def skip_or_fail(reason: str) -> None:
    if os.environ.get("DMARC_ANALYTICS_NO_SKIP") == "1":
        pytest.fail(f"{reason} (DMARC_ANALYTICS_NO_SKIP=1 forbids skipping)")
    pytest.skip(reason)


def corpus_dir(required: bool = True) -> Path | None:
    if CORPUS.is_dir():
        return CORPUS
    if required:
        skip_or_fail(f"the real-report corpus is not at {CORPUS}")
    return None


def back_to_before_rollups(con) -> None:  # type: ignore[no-untyped-def]
    """Put a database back to the schema before migration 005 (the rollups), as an older
    version left it: an upgrade is then pending."""
    from dmarc_analytics.rollups import ROLLUP_TABLES

    for table in ROLLUP_TABLES:
        con.execute(f"DROP TABLE {table}")
    con.execute("DELETE FROM _migrations WHERE name = '005_rollups'")
