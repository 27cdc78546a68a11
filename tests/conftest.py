"""Shared test helpers and fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def require_corpus() -> Path:
    """The real-report corpus folder; skips the test when it is absent.

    With ``DMARC_ANALYTICS_NO_SKIP=1`` (CI) a missing corpus fails the test instead.
    """
    if CORPUS.is_dir():
        return CORPUS
    reason = f"the real-report corpus is not at {CORPUS}"
    if os.environ.get("DMARC_ANALYTICS_NO_SKIP") == "1":
        pytest.fail(f"{reason} (DMARC_ANALYTICS_NO_SKIP=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _archives_beside_the_test_databases(monkeypatch):
    """CLI runs in tests work in the repo folder; their originals go beside their temporary
    databases (the default), whatever the environment of the shell running the tests."""
    monkeypatch.delenv("DMARC_ANALYTICS_ARCHIVE_DIR", raising=False)
    monkeypatch.delenv("DMARC_ANALYTICS_TIME_ZONE", raising=False)
