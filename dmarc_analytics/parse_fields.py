"""Field-level reading for ``parse``: the issue log and the value normalisers.

Normalised values are cached per report (``ValueKind``): tokens, domains and IPs repeat
across records, and ``parse_records`` reads millions of them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata

from dmarc_analytics.errors import Issue, ParseError

# code -> (severity, summary used when the issue is counted over many values, noun counted)
ISSUE_KINDS: dict[str, tuple[str, str, str]] = {
    "whitespace": ("info", "Removed whitespace around values", "value"),
    "token-case": ("info", "Lower-cased values not written in lower case", "value"),
    "domain-trailing-dot": ("info", "Removed the trailing dot from domains", "domain"),
    "idn-ascii": ("info", "Wrote internationalised domain names in their ASCII form", "domain"),
    "ipv4-mapped-ip": (
        "info",
        "Read IPv4-mapped IPv6 source addresses (::ffff:192.0.2.1) as the IPv4 address",
        "record",
    ),
    "spf-hardfail": ("info", 'Read the SPF result "hardfail" as "fail"', "result"),
    "empty-reason-type": ("info", 'Read an empty override reason type as "other"', "reason"),
    "identities-alias": ("info", "Read <identities> as <identifiers> (old draft name)", "record"),
    "timestamp-fraction": ("info", "Dropped the decimal fraction of timestamps", "timestamp"),
    "timestamp-milliseconds": (
        "warning",
        "Read timestamps in milliseconds as seconds (divided by 1000)",
        "timestamp",
    ),
    "missing-dkim-selector": (
        "warning",
        "DKIM results without the selector that RFC 9990 requires",
        "result",
    ),
    "unknown-token": ("warning", "Kept values outside the RFC's set as reported", "value"),
    "invalid-source-ip": ("warning", "Kept source IPs that are not valid IP addresses", "record"),
    "missing-source-ip": ("error", "Records without a source IP", "record"),
    "missing-field": ("warning", "Required elements missing or empty", "element"),
    "invalid-value": ("warning", "Ignored values that are not valid for their element", "value"),
    "empty-record-skipped": ("warning", "Skipped records with no data (no source IP)", "record"),
    "damaged-record-skipped": (
        "error",
        "Skipped records that could not be read from the broken XML",
        "record",
    ),
    "nested-record": (
        "warning",
        "Read records that broken markup had put inside another element",
        "record",
    ),
    "damaged-value": (
        "error",
        "Dropped values mangled by broken markup in the XML",
        "value",
    ),
    "undecodable-bytes": (
        "warning",
        "Values contained bytes invalid in the document's encoding (shown as U+FFFD)",
        "value",
    ),
    # One-off, report-level issues: their message is written where they are raised.
    "leading-bytes": ("info", "", ""),
    "trailing-bytes": ("info", "", ""),
    "bracketed-report-id": ("info", "", ""),
    "empty-org-name": ("warning", "", ""),
    "multi-day-span": ("info", "", ""),
    "inverted-date-range": ("warning", "", ""),
    "date-before-dmarc": ("warning", "", ""),
    "date-in-future": ("warning", "", ""),
    "recovered-xml": ("warning", "", ""),
    "wrapped-feedback": ("warning", "", ""),
}


class IssueLog:
    """Collects issues for one report: one ``Issue`` per code, with a count and a first path."""

    __slots__ = ("_counted", "_damaged", "_single")

    def __init__(self) -> None:
        self._counted: dict[str, list] = {}
        self._single: list[Issue] = []
        self._damaged: set[str] = set()  # paths of values dropped as damaged

    def note(self, code: str, where: str, detail: str | None = None, record: int = 0) -> None:
        """Count one occurrence of ``code``; ``record`` (1-based) prefixes the path.

        A value dropped as damaged is not counted again as missing: one problem, one issue.
        """
        path = f"record[{record}]/{where}" if record else where
        if code == "damaged-value":
            self._damaged.add(path)
        elif code == "missing-field" and path in self._damaged:
            self._damaged.discard(path)  # once: another result of the record may be missing
            return
        entry = self._counted.get(code)
        if entry is None:
            self._counted[code] = [1, path, detail]
        else:
            entry[0] += 1

    def add(self, code: str, message: str, path: str | None = None) -> None:
        """Record a one-off report-level issue with its own message."""
        self._single.append(Issue(code, message, ISSUE_KINDS[code][0], path))

    def issues(self) -> tuple[Issue, ...]:
        """Report-level issues first, then one counted issue per code, in first-seen order."""
        counted = [
            _counted_issue(code, count, path, detail)
            for code, (count, path, detail) in self._counted.items()
        ]
        return tuple(self._single + counted)


def _counted_issue(code: str, count: int, path: str, detail: str | None) -> Issue:
    severity, summary, noun = ISSUE_KINDS[code]
    nouns = noun if count == 1 else f"{noun}s"
    shown = "" if detail is None else f" {_quote(detail)}"
    message = f"{summary} ({count} {nouns}, first at {path}{shown})"
    return Issue(code, message, severity, path)


def _quote(value: str, limit: int = 60) -> str:
    """Quote a reported value for a one-line message (shortened, control chars escaped)."""
    text = value if len(value) <= limit else value[:limit] + "..."
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return f'"{shown}"'


# ---------------------------------------------------------------------------------------
# Value normalisers. Each returns (value, issue codes) and is memoised per report.

_NO_CODES: tuple[str, ...] = ()
POLICY_TOKENS = frozenset({"none", "quarantine", "reject"})
ALIGNMENT_TOKENS = frozenset({"r", "s"})
TESTING_TOKENS = frozenset({"n", "y"})
DISCOVERY_TOKENS = frozenset({"psl", "treewalk"})


def normalise_token(
    raw: str, allowed: frozenset[str], aliases: dict[str, tuple[str, str]] | None = None
) -> tuple[str | None, tuple[str, ...]]:
    """Trim and lower-case an enumerated value; flag anything outside ``allowed``."""
    codes = []
    value = raw.strip()
    if not value:
        return None, _NO_CODES
    if value != raw:
        codes.append("whitespace")
    lowered = value.lower()
    if lowered != value:
        codes.append("token-case")
    if aliases and lowered in aliases:
        lowered, code = aliases[lowered]
        codes.append(code)
    elif lowered not in allowed:
        codes.append("unknown-token")
    return lowered, tuple(codes)


def normalise_domain(raw: str) -> tuple[str | None, tuple[str, ...]]:
    """Trim, lower-case and strip the trailing dot of a domain name; an internationalised
    name in Unicode becomes its ASCII form (``xn--``), as DNS and most reporters write it,
    so that both spellings of one name align and filter as one."""
    codes = []
    value = raw.strip()
    if value != raw:
        codes.append("whitespace")
    lowered = value.lower()
    if lowered != value:
        codes.append("token-case")
    if lowered.endswith("."):
        lowered = lowered.rstrip(".")
        codes.append("domain-trailing-dot")
    if not lowered:
        return None, _NO_CODES
    if not lowered.isascii():
        ascii_name = ascii_domain(lowered)
        if ascii_name != lowered:
            lowered = ascii_name
            codes.append("idn-ascii")
    return lowered, tuple(codes)


_IDNA_DOTS = frozenset("\u3002\uff0e\uff61")  # full stops IDNA reads as "."
# Punctuation and format characters that internationalised names do use (IDNA 2008's
# CONTEXTJ and CONTEXTO rules): joiners in Persian or Sinhala, the middle dots of Catalan
# l·l and Japanese katakana, Greek keraia, Hebrew geresh and gershayim.
_IDNA_CONTEXT = frozenset("\u200c\u200d\u00b7\u0375\u05f3\u05f4\u30fb")


def ascii_domain(name: str) -> str:
    """The ASCII form of a domain name (IDNA); the name itself if it has none.

    Python's codec (IDNA 2003) also encodes punctuation, spaces and control characters:
    "bad_byte‘" from a damaged report became the made-up name "xn--bad_byte-9o3d". A name
    holding any of those (but the few that IDNA allows in context) stays as written;
    letters, marks, digits and symbols (emoji domains exist) are encoded.
    """
    if name.isascii() or len(name) > 253:  # longer is no DNS name (punycode is quadratic)
        return name
    if not all(_idn_character(char) for char in name):
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:  # not a valid internationalised name: kept as written
        return name


def _idn_character(char: str) -> bool:
    if char.isascii() or char in _IDNA_DOTS or char in _IDNA_CONTEXT:
        return True
    return unicodedata.category(char)[0] not in "PZC"  # punctuation, separators, controls


def normalise_text(raw: str) -> tuple[str | None, tuple[str, ...]]:
    """Trim free text; empty means absent."""
    value = raw.strip()
    if not value:
        return None, _NO_CODES
    return value, (("whitespace",) if value != raw else _NO_CODES)


def normalise_ip(raw: str) -> tuple[str | None, tuple[str, ...]]:
    """Validate an IP literal and return its compressed canonical form (as ``ipaddress``).

    An invalid value is kept as reported (trimmed), flagged ``invalid-source-ip``.
    """
    value = raw.strip()
    if not value:
        return None, _NO_CODES
    codes = ("whitespace",) if value != raw else _NO_CODES
    canonical = _canonical_ip(value)
    if canonical is None:
        return value, (*codes, "invalid-source-ip")
    if canonical.startswith(_MAPPED_PREFIX) and "." in canonical:
        # the IPv4 sender as seen through a dual-stack socket: the same sender as its
        # IPv4 address, so it is counted, grouped and filtered (192.0.2.0/24) as that
        return canonical[len(_MAPPED_PREFIX) :], (*codes, "ipv4-mapped-ip")
    return canonical, codes


_MAPPED_PREFIX = "::ffff:"


def _canonical_ip(value: str) -> str | None:
    # socket is much faster than ipaddress. A dotted quad that inet_pton accepts (no leading
    # zeros) is already canonical; inet_ntop's IPv6 form equals ipaddress's except for
    # embedded-IPv4 notation. An IPv4-mapped address keeps it (::ffff:192.0.2.5, as RFC
    # 5952 recommends), to be read as the IPv4 address; other forms go to ipaddress.
    try:
        if ":" not in value:
            socket.inet_pton(socket.AF_INET, value)
            return value
        canonical = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, value))
        if "." not in canonical or canonical.startswith(_MAPPED_PREFIX):
            return canonical
    except (OSError, ValueError):
        if ":" not in value:
            return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


_TIMESTAMP_FRACTION = re.compile(r"(\d+)\.\d*")
_MILLISECONDS_ABOVE = 10**11
# The last second a report may begin or end in: 2199-12-31T23:59:59Z. Later dates are
# broken or hostile; they would also pass what pandas (2262) and month arithmetic reach.
_LAST_PLAUSIBLE_SECOND = 7_258_118_399
_TIMESTAMP_DIGITS = 15  # more digits than milliseconds of any plausible time


def read_timestamp(raw: str | None, where: str, log: IssueLog) -> int:
    """Read an epoch timestamp, accepting (and flagging) decimals and milliseconds."""
    value = "" if raw is None else raw.strip()
    if not value:
        raise ParseError(f"The report has no {where} (the start or end of its period)")
    if value != raw:
        log.note("whitespace", where, value)
    if value.isascii() and value.isdigit():
        digits = value
    else:
        match = _TIMESTAMP_FRACTION.fullmatch(value)
        if match is None:
            raise ParseError(f"{where} is not a whole number of seconds: {_quote(value)}")
        digits = match[1]
        log.note("timestamp-fraction", where, value)
    if len(digits.lstrip("0")) > _TIMESTAMP_DIGITS:  # int() of thousands of digits is refused
        raise ParseError(f"{where} is not a plausible timestamp: {_quote(value)}")
    seconds = int(digits)
    if seconds > _MILLISECONDS_ABOVE:
        seconds //= 1000
        log.note("timestamp-milliseconds", where, value)
    if seconds > _LAST_PLAUSIBLE_SECOND:
        raise ParseError(f"{where} is not a plausible timestamp: {_quote(value)}")
    return seconds


# The most messages one record may count. Real rows count at most millions; a larger value
# is a broken or hostile report, and refusing it keeps every stored sum exact (BIGINT).
MAX_COUNT = 2**31 - 1
COUNT_FAST_DIGITS = 9  # a count written with at most this many digits is within MAX_COUNT


def read_count(raw: str | None, index: int, log: IssueLog) -> int | None:
    """Read row/count: a non-negative integer up to ``MAX_COUNT``, or None when absent."""
    value = "" if raw is None else raw.strip()
    if not value:
        return None
    if value != raw:
        log.note("whitespace", "row/count", value, index)
    digits = value[1:] if value[0] == "+" else value
    if not (digits.isascii() and digits.isdigit()):
        if value[0] == "-" and value[1:].isascii() and value[1:].isdigit():
            raise ParseError(f"record[{index}]/row/count is negative: {_quote(value)}")
        raise ParseError(f"record[{index}]/row/count is not a whole number: {_quote(value)}")
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:
        raise ParseError(
            f"record[{index}]/row/count {_quote(value)} is more than {MAX_COUNT:,} messages, "
            "which no receiver reports for one row"
        )
    return int(digits)


# ---------------------------------------------------------------------------------------
# Element names

_LOCAL_NAMES: dict[object, str] = {}
_LOCAL_NAMES_MAX = 4096


def local_name(tag: object) -> str:
    """The element's name without namespace; "" for comments, entities and the like."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        if not isinstance(tag, str):
            name = ""
        elif tag[:1] == "{":
            name = tag.rpartition("}")[2]
        else:
            name = tag
        if len(_LOCAL_NAMES) < _LOCAL_NAMES_MAX:
            _LOCAL_NAMES[tag] = name
    return name


# ---------------------------------------------------------------------------------------
# Per-report caches

_CACHE_LIMIT = 65_536  # distinct raw values remembered per kind and report


class ValueKind:
    """One kind of value (a token set, domains, IPs, free text) with per-report caches.

    Hot loops try ``clean.get(raw)`` first: it holds raw values that need no repair.
    Everything else goes through ``read``, which normalises once and notes issues each time.
    """

    __slots__ = ("clean", "_memo", "_normalise", "_log")

    def __init__(self, normalise, log: IssueLog, clean: frozenset[str] = frozenset()) -> None:
        self.clean: dict[str, str] = {value: value for value in clean}
        self._memo: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        self._normalise = normalise
        self._log = log

    def read(self, raw: str | None, where: str, record: int = 0) -> str | None:
        """The normalised value of ``raw`` (None when absent or empty); notes its issues."""
        if raw is None:
            return None
        value = self.clean.get(raw)
        if value is not None:
            return value
        hit = self._memo.get(raw)
        if hit is None:
            hit = self._normalise(raw)
            if not hit[1] and hit[0] is not None:
                if len(self.clean) < _CACHE_LIMIT:
                    self.clean[raw] = hit[0]
                return hit[0]
            if len(self._memo) < _CACHE_LIMIT:
                self._memo[raw] = hit
        for code in hit[1]:
            self._log.note(code, where, raw, record)
        return hit[0]


def enum_values(enum) -> frozenset[str]:
    """The plain string values of a StrEnum (records hold ``str``, not enum members)."""
    return frozenset(member.value for member in enum)


def token_kind(allowed: frozenset[str], log: IssueLog, aliases=None) -> ValueKind:
    """A ValueKind for an enumerated element whose RFC values are ``allowed``."""
    return ValueKind(lambda raw: normalise_token(raw, allowed, aliases), log, allowed)
