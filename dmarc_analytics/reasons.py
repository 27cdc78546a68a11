"""The words of the ingest ledger: an input's outcome settled from its parts, and why.

The writer decides where each report of an input goes (inserted, a duplicate, a conflict,
kept out after a purge, rejected); this module says it, the same way for the CLI, the app
and the ledger.
"""

from __future__ import annotations

import functools

from dmarc_analytics.outcomes import FileOutcome, is_whole_input


@functools.cache  # one of few words, given to every file ingested again
def known_reason(conflicts: int) -> str:
    if not conflicts:
        return "this file was ingested before"
    reports = "1 of its reports" if conflicts == 1 else f"{conflicts} of its reports"
    verb = "is" if conflicts == 1 else "are"
    return (
        f"this file was ingested before; {reports} conflicted with a stored report and "
        f"{verb} not counted (the first ingest's ledger line says why)"
    )


REMOVED = "removed earlier (purge); stays removed"
DUPLICATE = "report already stored"
SAME_DATA = "report already stored (the same data, written differently)"
_CONFLICT = (
    "a report with the same identity but different data is already stored (report {key}, "
    "from {origin}); the earlier one is kept"
)
_MESSAGES_DIFFER = " and counted: {kept} {kept_word}, against {new} in this copy"
_PARTIAL_KEPT = "; the kept one is partial, read from broken XML, and this copy is complete"


def conflict_reason(kept: tuple, new_partial: bool, new_messages: int) -> str:
    """Why a report is a conflict, naming the report kept (a value of ``seen``) and, when
    the copies count different messages, both totals."""
    key, _, kept_partial, _, origin, kept_messages = kept
    reason = _CONFLICT.format(key=key, origin=origin)
    if kept_messages != new_messages:
        reason += _MESSAGES_DIFFER.format(
            kept=f"{kept_messages:,}", kept_word=_messages_word(kept_messages),
            new=f"{new_messages:,}",
        )  # fmt: skip
    return reason + (_PARTIAL_KEPT if kept_partial and not new_partial else "")


def _messages_word(count: int) -> str:
    return "message" if count == 1 else "messages"


def settle_outcome(outcome: FileOutcome) -> None:
    """inserted if anything was added, duplicate if all reports were there, else rejected."""
    if outcome.outcome == "duplicate" and not outcome.parts[1:]:
        return
    if outcome.records or any(p.outcome == "inserted" for p in outcome.parts):
        outcome.outcome = "inserted"
        outcome.reason = _first_problem(outcome) or _partial_note(outcome.partial)
    elif outcome.found:
        outcome.outcome = "duplicate"
        outcome.reason = _first_problem(outcome) or "all its reports were already stored"
    else:
        outcome.outcome = "rejected"
        if outcome.reason is None:
            outcome.reason = _rejected_reason(outcome)


_NAMED_PARTS = 3  # a rejected container's reason names this many of its parts


def _rejected_reason(outcome: FileOutcome) -> str:
    """Why nothing in an input was usable: the reason of its one part, or of each of its
    first parts, named by their place inside it (a zip's members, an mbox's messages)."""
    rejected = [p for p in outcome.parts if p.outcome == "rejected" and p.reason]
    if not rejected:
        return "no DMARC aggregate report found"
    if len(rejected) == 1:
        return str(rejected[0].reason)
    named = "; ".join(
        f"{_inside(outcome.path, p.origin)}: {p.reason}" for p in rejected[:_NAMED_PARTS]
    )
    more = len(rejected) - _NAMED_PARTS
    return (f"nothing in its {len(rejected):,} parts is usable: {named}"
            + (f"; and {more:,} more" if more > 0 else ""))  # fmt: skip


def _inside(path: str, origin: str) -> str:
    """A part's place relative to its input: ``x.txt`` for ``bad.zip/x.txt``, also when a
    reparse names the part by the input's whole path."""
    name = path.replace("\\", "/").rpartition("/")[2]
    for prefix in (f"{path}/", f"{name}/"):
        if origin.startswith(prefix) and len(origin) > len(prefix):
            return origin[len(prefix) :]
    return origin


def _partial_note(partial: int) -> str | None:
    """Why an inserted file still deserves a look: reports read from broken XML."""
    if not partial:
        return None
    reports = "1 report" if partial == 1 else f"{partial} reports"
    return (
        f"partial: {reports} read from broken XML in recovery mode, and may miss records "
        "(the report's issues say what was dropped)"
    )


def _first_problem(outcome: FileOutcome) -> str | None:
    for part in outcome.parts:
        place = "" if is_whole_input(outcome.path, part.origin) else f"{part.origin}: "
        if part.outcome == "conflict":
            return f"{place}conflict: {part.reason}"
        if part.outcome in ("rejected", "removed"):
            return f"{place}{part.reason}"
    return None
