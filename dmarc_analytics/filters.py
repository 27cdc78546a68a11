"""The one filter model shared by the CLI options, the app's sidebar and its URL.

``FIELDS`` is the table of filterable fields: their parameter names (URL query parameters,
and CLI options with ``-`` for ``_``), their meaning, and the SQL they compile to over the
``records`` table. Every value is bound as a named parameter; SQL text comes only from
this table.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from dmarc_analytics.errors import FilterError
from dmarc_analytics.parse_fields import ascii_domain

DISPOSITIONS = ("none", "quarantine", "reject", "pass")
YES_NO = {"yes": True, "no": False, "true": True, "false": False, "1": True, "0": False}
# Dates a filter may name: the Unix epoch to the last day a report may begin (see
# ``parse_fields``); 9999-12-31 in a link overflowed the day arithmetic after it.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2199, 12, 31)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # "date", "list", "choice", "yesno", "network"
    help: str
    choices: tuple[str, ...] = ()
    report_level: bool = False  # also applies to the reports table


FIELDS: tuple[Field, ...] = (
    Field("since", "date", "first UTC day (YYYY-MM-DD) of report begin, inclusive", (), True),
    Field("until", "date", "last UTC day (YYYY-MM-DD) of report begin, inclusive", (), True),
    Field("policy_domain", "list", "policy domain(s) the reports are about", (), True),
    Field("header_from", "list", "RFC5322.From domain(s) of the messages"),
    Field(
        "reporter", "list", "reporting organisation(s), case-insensitive, a final dot ignored",
        (), True,
    ),
    Field("source_ip", "network", "sending IP address(es) or CIDR range(s)"),
    Field("disposition", "choice", "what the receiver applied", DISPOSITIONS),
    Field("dmarc", "choice", "DMARC result: pass = DKIM or SPF aligned", ("pass", "fail")),
    Field("spf_aligned", "yesno", "receiver's SPF aligned verdict (policy_evaluated spf)"),
    Field("dkim_aligned", "yesno", "receiver's DKIM aligned verdict (policy_evaluated dkim)"),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True, slots=True)
class Filter:
    """A set of conditions, all of which must hold. Empty tuples and None mean "any"."""

    since: date | None = None
    until: date | None = None
    policy_domain: tuple[str, ...] = ()
    header_from: tuple[str, ...] = ()
    reporter: tuple[str, ...] = ()
    source_ip: tuple[str, ...] = ()
    disposition: tuple[str, ...] = ()
    dmarc: str | None = None
    spf_aligned: bool | None = None
    dkim_aligned: bool | None = None

    @property
    def is_empty(self) -> bool:
        return self == Filter()

    @property
    def has_record_conditions(self) -> bool:
        return any(getattr(self, f.name) not in (None, ()) for f in FIELDS if not f.report_level)

    def to_params(self) -> dict[str, str]:
        """The filter as string parameters (URL query / CLI), only the set fields."""
        params: dict[str, str] = {}
        for f in FIELDS:
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if isinstance(value, bool):
                params[f.name] = "yes" if value else "no"
            elif isinstance(value, tuple):
                params[f.name] = ",".join(quote_value(item) for item in value)
            else:
                params[f.name] = value.isoformat() if isinstance(value, date) else str(value)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str | list[str] | tuple[str, ...] | None]) -> Filter:
        """Build a filter from string parameters; unknown names are a ``FilterError``."""
        values: dict[str, object] = {}
        for name, raw in params.items():
            key = name.replace("-", "_")
            spec = FIELD_BY_NAME.get(key)
            if spec is None:
                raise FilterError.worded(
                    "filter_error.unknown", name=name, known=", ".join(FIELD_BY_NAME)
                )
            parts = _split(raw)
            if parts:
                values[key] = _convert(spec, parts)
        result = cls(**values)  # type: ignore[arg-type]
        if result.since and result.until and result.since > result.until:
            raise FilterError.worded(
                "filter_error.since_after_until", since=result.since, until=result.until
            )
        return result

    def replace(self, **changes: object) -> Filter:
        return replace(self, **changes)  # type: ignore[arg-type]


def split_values(raw: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """The values of a list option or parameter, as the filter reads them (see ``_split``)."""
    return _split(raw)


def _split(raw: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Comma-separated values; a value holding a comma is written in double quotes
    (``"Example, Inc."``), as in CSV."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    return [p.strip() for item in items for p in _items(item) if p.strip()]


def _items(text: str) -> list[str]:
    """The comma-separated items of ``text``; an item that starts with a double quote runs
    to the closing one, commas included (``""`` inside is a quote). Any other character,
    line breaks included, is part of its item (``csv`` refuses those, a link must not)."""
    items: list[str] = []
    current: list[str] = []
    quoted, blank = False, True  # nothing but spaces in the current item so far
    i = 0
    while i < len(text):
        char = text[i]
        if quoted:
            if char != '"':
                current.append(char)
            elif text[i + 1 : i + 2] == '"':
                current.append('"')
                i += 1
            else:
                quoted = False
        elif char == '"' and blank:
            current, quoted = [], True
        elif char == ",":
            items.append("".join(current))
            current, blank = [], True
        else:
            current.append(char)
            blank = blank and char.isspace()
        i += 1
    items.append("".join(current))
    return items


def quote_value(value: str) -> str:
    """A value as one item of a comma-separated parameter (quoted if it holds a comma)."""
    if "," in value or value.startswith('"'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _convert(spec: Field, parts: list[str]) -> object:
    if spec.kind == "date":
        if len(parts) != 1:
            raise FilterError.worded(
                "filter_error.one_date", field=spec.name, value=",".join(parts)
            )
        try:
            day = date.fromisoformat(parts[0])
        except ValueError as exc:
            raise FilterError.worded(
                "filter_error.not_a_date", field=spec.name, value=parts[0]
            ) from exc
        if not FIRST_DAY <= day <= LAST_DAY:
            raise FilterError.worded(
                "filter_error.date_out_of_range", field=spec.name, day=day, first=FIRST_DAY,
                last=LAST_DAY,
            )  # fmt: skip
        return day
    if spec.kind == "yesno":
        value = YES_NO.get(parts[-1].lower())
        if value is None or len(parts) != 1:
            raise FilterError.worded("filter_error.yes_no", field=spec.name, value=",".join(parts))
        return value
    if spec.kind == "choice":
        lowered = tuple(dict.fromkeys(p.lower() for p in parts))
        bad = [p for p in lowered if p not in spec.choices]
        if bad:
            raise FilterError.worded(
                "filter_error.not_one_of", field=spec.name, value=bad[0],
                choices=", ".join(spec.choices),
            )  # fmt: skip
        if spec.name == "dmarc":
            if len(lowered) != 1:
                raise FilterError.worded("filter_error.dmarc_one")
            return lowered[0]
        return lowered
    if spec.kind == "network":
        return tuple(dict.fromkeys(_network(p) for p in parts))
    if spec.name == "reporter":  # an organisation's name: "Test Inc." keeps its dot
        # kept as written (one per name whatever the case): the query lower-cases both
        # sides with DuckDB's lower(), which differs from Python's for some letters
        kept: dict[str, str] = {}
        for part in parts:
            kept.setdefault(part.lower(), part)
        return tuple(kept.values())
    return tuple(dict.fromkeys(ascii_domain(p.lower().rstrip(".")) for p in parts))  # domains


def _network(text: str) -> str:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise FilterError.worded("filter_error.not_a_network", value=text) from exc
    mapped = getattr(net.network_address, "ipv4_mapped", None)
    if mapped is not None and net.prefixlen >= _MAPPED_PREFIX:
        # Stored as the IPv4 address it maps (as reports' ::ffff:192.0.2.1 are read).
        return str(ipaddress.ip_network(f"{mapped}/{net.prefixlen - _MAPPED_PREFIX}"))
    return str(net)


_MAPPED_PREFIX = 96  # ::ffff:0:0/96 holds the IPv4-mapped addresses


@dataclass(frozen=True, slots=True)
class Where:
    sql: str  # "TRUE" when nothing is filtered
    params: dict[str, object]


# One reporter, whatever the case of its name and a final dot (most names are domains:
# "google.com." is google.com, as for the domain fields); the writer gives each one spelling.
REPORTER_KEY = "rtrim(lower({}), '.')"


def compile_filter(flt: Filter, report_level_only: bool = False) -> Where:
    """Compile to a WHERE clause over ``records`` (or ``reports`` with report_level_only)."""
    clauses: list[str] = []
    params: dict[str, object] = {}
    if flt.since is not None:
        clauses.append("day >= $since")
        params["since"] = flt.since
    if flt.until is not None:
        clauses.append("day <= $until")
        params["until"] = flt.until
    _in(clauses, params, "policy_domain", "policy_domain", flt.policy_domain)
    if flt.reporter:
        clauses.append(
            f"{REPORTER_KEY.format('reporter')} IN "
            f"(SELECT {REPORTER_KEY.format('unnest($reporter)')})"
        )
        params["reporter"] = list(flt.reporter)
    if not report_level_only:
        _in(clauses, params, "header_from", "header_from", flt.header_from)
        _in(clauses, params, "disposition", "disposition", flt.disposition)
        _networks(clauses, params, flt.source_ip)
        if flt.dmarc is not None:
            clauses.append("dmarc_pass" if flt.dmarc == "pass" else "NOT dmarc_pass")
        _yes_no(clauses, "spf", flt.spf_aligned)
        _yes_no(clauses, "dkim", flt.dkim_aligned)
    return Where(" AND ".join(clauses) or "TRUE", params)


def _in(clauses: list[str], params: dict[str, object], column: str, name: str,
        values: tuple[str, ...]) -> None:  # fmt: skip
    if values:
        clauses.append(f"{column} IN (SELECT unnest(${name}))")
        params[name] = list(values)


def _yes_no(clauses: list[str], column: str, value: bool | None) -> None:
    if value is True:
        clauses.append(f"{column} = 'pass'")
    elif value is False:
        clauses.append(f"{column} IS DISTINCT FROM 'pass'")


def _networks(clauses: list[str], params: dict[str, object], networks: tuple[str, ...]) -> None:
    options = []
    for i, text in enumerate(networks):
        net = ipaddress.ip_network(text)
        params[f"ip{i}_lo"] = str(int(net.network_address))
        params[f"ip{i}_hi"] = str(int(net.broadcast_address))
        options.append(
            f"(ip_version = {net.version} AND ip_num BETWEEN "
            f"CAST($ip{i}_lo AS UHUGEINT) AND CAST($ip{i}_hi AS UHUGEINT))"
        )
    if options:
        clauses.append("(" + " OR ".join(options) + ")")


def compile_report_scope(flt: Filter) -> Where:
    """A condition over ``reports`` selecting the filter's reports.

    Without record-level conditions: the reports matching the report-level fields (so a
    report without records still counts). With them: reports having at least one matching
    record. Every count of reports (CLI summary, pages) uses this one rule.
    """
    if flt.has_record_conditions:
        where = compile_filter(flt)
        return Where(
            f"report_key IN (SELECT report_key FROM records WHERE {where.sql})", where.params
        )
    return compile_filter(flt, report_level_only=True)
