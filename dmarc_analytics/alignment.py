"""Our own recomputation of DMARC alignment from the raw auth_results.

The receiver's ``policy_evaluated`` verdict stays the truth for every count; this module
computes the second opinion stored beside it. Relaxed alignment compares Organizational
Domains found with the Public Suffix List shipped in the ``publicsuffixlist`` package
(RFC 7489 §3.2), offline; strict alignment compares the names themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from publicsuffixlist import PublicSuffixList

from dmarc_analytics.model import Alignment, Record


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """The list is parsed on first use (about 0.1 s), by the processes that need it."""
    return PublicSuffixList()


_PASS = "pass"
_STRICT = Alignment.STRICT.value


@lru_cache(maxsize=65536)
def organizational_domain(domain: str) -> str:
    """The registrable domain of ``domain`` (itself when it is a public suffix or unknown)."""
    name = domain.strip().rstrip(".").lower()
    return _public_suffixes().privatesuffix(name) or name


def is_aligned(domain: str | None, header_from: str | None, mode: str) -> bool:
    """Whether an authenticated ``domain`` is aligned with the RFC5322.From domain."""
    if not domain or not header_from:
        return False
    return _flags(((domain,),), header_from.rstrip(".").lower(), mode)[0]


# (domain as reported, normalised header_from, mode) -> aligned: the same few pairs recur
_ALIGNED: dict[tuple[str, str, str], bool] = {}
_ALIGNED_LIMIT = 65_536


def _flags(results: Sequence[Sequence[str | None]], target: str, mode: str) -> tuple[bool, ...]:
    """Per result, whether its domain (first item) is aligned with ``target``, a
    normalised header_from."""
    flags = []
    for result in results:
        domain = result[0]
        if not domain:
            flags.append(False)
            continue
        key = (domain, target, mode)
        aligned = _ALIGNED.get(key)
        if aligned is None:
            name = domain.rstrip(".").lower()
            aligned = name == target or (
                mode != _STRICT and organizational_domain(name) == organizational_domain(target)
            )
            if len(_ALIGNED) >= _ALIGNED_LIMIT:
                _ALIGNED.clear()
            _ALIGNED[key] = aligned
        flags.append(aligned)
    return tuple(flags)


class AlignmentCheck(NamedTuple):
    dkim_aligned: bool | None  # None when the record has no header_from to compare with
    spf_aligned: bool | None
    dkim_flags: tuple[bool, ...]  # per DKIM result: aligned with header_from?
    spf_flags: tuple[bool, ...]
    verdict_mismatch: bool | None  # our result differs from the receiver's policy_evaluated
    unaligned_pass_domains: tuple[str, ...]  # "authenticated but not aligned"


def check_alignment(record: Record, adkim: str, aspf: str) -> AlignmentCheck:
    """Recompute DKIM and SPF alignment of one record under the published modes (see
    ``align``), and compare with the receiver's verdicts."""
    return align(
        record.header_from,
        tuple((d.domain, d.selector, d.result) for d in record.dkim_results),
        tuple((s.domain, s.scope, s.result) for s in record.spf_results),
        adkim,
        aspf,
        (record.dkim, record.spf),
    )


def align(
    header_from: str | None,
    dkim_results: Sequence[Sequence[str | None]],
    spf_results: Sequence[Sequence[str | None]],
    adkim: str,
    aspf: str,
    verdicts: tuple[str | None, str | None] | None = None,
) -> AlignmentCheck:
    """Alignment of auth results given as plain tuples: (domain, selector, result, ...) for
    DKIM and (domain, scope, result, ...) for SPF (the parse workers' rows: no objects to
    build for a record). ``verdicts`` are the receiver's (dkim, spf); without them there is
    no mismatch to tell (None).

    Every result gets a flag saying whether its domain is aligned with header_from; only
    passing DKIM results and passing SPF results for the MAIL FROM identity (``mfrom`` or
    unscoped; RFC 9989 §4.4.2) make the record aligned. Without a header_from nothing can
    be judged, so the verdicts are None and no domain is called unaligned.
    """
    if not header_from:
        return AlignmentCheck(
            None, None, (False,) * len(dkim_results), (False,) * len(spf_results), None, ()
        )
    target = header_from.rstrip(".").lower()
    dkim_flags = _flags(dkim_results, target, adkim)
    spf_flags = _flags(spf_results, target, aspf)
    unaligned: list[str] = []
    dkim_ok = spf_ok = False
    for (domain, _, result, *_), aligned in zip(dkim_results, dkim_flags, strict=True):
        if result == _PASS:
            if aligned:
                dkim_ok = True
            elif domain:
                unaligned.append(f"dkim:{domain}")
    for (domain, scope, result, *_), aligned in zip(spf_results, spf_flags, strict=True):
        if result == _PASS:
            if aligned:
                spf_ok = spf_ok or scope in (None, "mfrom")
            # A HELO pass names the sending server, not a domain that could align: not listed.
            elif domain and scope != "helo":
                unaligned.append(f"spf:{domain}")
    mismatch = None
    if verdicts is not None:
        mismatch = dkim_ok != (verdicts[0] == _PASS) or spf_ok != (verdicts[1] == _PASS)
    return AlignmentCheck(dkim_ok, spf_ok, dkim_flags, spf_flags, mismatch, tuple(unaligned))
