"""XML bytes -> ``AggregateReport``: strict, namespace-agnostic, hardened and fast.

RFC 7489, RFC 9990 and pre-RFC draft reports are read by local element names, ignoring
namespaces and skipping unknown (extension) elements. Every repaired deviation becomes an
``Issue`` on the report (codes and severities: ``parse_fields.ISSUE_KINDS``); broken XML is
re-read in recovery mode and the report marked ``partial`` (``parse_xml``). The per-record
work is in ``parse_records``.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from lxml import etree

from dmarc_analytics.config import Limits
from dmarc_analytics.errors import LimitExceeded, ParseError
from dmarc_analytics.model import (
    FIRST_DMARC_REPORTS,
    MULTI_DAY_SECONDS,
    AggregateReport,
    PolicyPublished,
    Record,
    ReportFormat,
    ReportMetadata,
)
from dmarc_analytics.parse_fields import (
    ALIGNMENT_TOKENS,
    DISCOVERY_TOKENS,
    POLICY_TOKENS,
    TESTING_TOKENS,
    IssueLog,
    ValueKind,
    local_name,
    normalise_domain,
    normalise_text,
    read_timestamp,
    token_kind,
)
from dmarc_analytics.parse_records import RecordReader
from dmarc_analytics.parse_xml import RFC9990_NAMESPACES, drop_foreign_elements, read_feedback

_RFC9990_ONLY_METADATA = frozenset({"generator"})
_RFC9990_ONLY_POLICY = frozenset({"np", "testing", "discovery_method"})


MAX_XML_TAGS = Limits().max_xml_tags
TAGS_PER_RECORD = 40  # in an indented report with two DKIM results and one SPF result
TREE_BYTES_PER_TAG = 160
# A period cannot begin after the report about it was read; a day of slack for clocks.
FUTURE_SLACK_SECONDS = 86_400


def parse_report(
    data: bytes,
    origin: str = "",
    max_records: int = 1_000_000,
    max_tags: int = MAX_XML_TAGS,
    notes: tuple[str, ...] = (),
) -> AggregateReport:
    """Read one DMARC aggregate report (RFC 7489, RFC 9990 or the pre-RFC draft).

    Raises ``UnsafeXmlError`` for a DOCTYPE or entity declaration, ``NotAggregateReport`` for
    other documents, ``ParseError`` for unreadable reports or missing required data and
    ``LimitExceeded`` for more than ``max_records`` records; each message is one line for a
    user. ``origin`` (where the payload was found) is not repeated in those messages, since
    callers show it next to them. Repaired deviations are listed in ``AggregateReport.issues``.
    """
    del origin  # part of the stage interface; callers attach it to errors themselves
    log = IssueLog()
    for note in notes:  # from unwrapping the payload (``Payload.notes``)
        log.add("trailing-bytes", note)
    feedback, partial = open_feedback(data, log, max_records, max_tags)
    try:
        return _read_report(feedback, partial, log, max_records)
    except ParseError as error:
        if not partial:
            raise
        raise ParseError(f"{error}; the XML is broken and only partly recoverable") from error


def open_feedback(
    data: bytes,
    log: IssueLog,
    max_records: int,
    max_tags: int = MAX_XML_TAGS,
    drop_foreign: bool = True,
) -> tuple[etree._Element, bool]:
    """The <feedback> element and whether it was recovered (see ``parse_xml``); without
    ``drop_foreign``, elements of other namespaces are left for the caller to mind."""
    data = bytes(data)
    # The tree takes about 130-180 bytes per tag whatever the tags are, so counting "<"
    # bounds its memory before it is built (a flood of <x/> took 30 times its size).
    limit = 2 * max_records + 2
    # No more tags than bytes: a payload within both limits needs no count (5 µs per
    # 15 KB report).
    tags = data.count(b"<") if len(data) > min(max_tags, limit) else len(data)
    if tags > max_tags:
        raise LimitExceeded(
            f"The report has {tags:,} XML tags, more than the limit of {max_tags:,} "
            f"(max_xml_tags; about {max_tags // TAGS_PER_RECORD:,} records); reading it would "
            f"take about {tags * TREE_BYTES_PER_TAG / 1e9:.1f} GB of memory"
        )
    # Cheap refusal before building a huge tree. Every <record> start tag begins "<record"
    # or, with a namespace prefix, "<prefix:record" (counted with its end tag, so twice).
    # With fewer tags than that, there cannot be too many records: nothing to count.
    if tags > limit and data.count(b"<record") + data.count(b":record") > limit:
        raise LimitExceeded(_too_many_records(max_records))
    feedback, partial = read_feedback(data, log)
    if drop_foreign:
        drop_foreign_elements(feedback, data)
    return feedback, partial


class ReportHead(NamedTuple):
    """Everything of a report but its records, and the <record> elements still to read."""

    format: ReportFormat
    metadata: ReportMetadata
    policy: PolicyPublished
    version: str | None
    record_elements: list[etree._Element]
    # An element of the head (a section, or a child of the metadata, its date range or the
    # policy) in another namespace than <feedback>'s: read by its local name all the same,
    # which is right only once ``drop_foreign_elements`` has looked at it.
    foreign: bool


def read_head(feedback: etree._Element, log: IssueLog, max_records: int) -> ReportHead:
    """Read metadata, policy and format; find the <record> elements (not read yet)."""
    sections: dict[str, etree._Element] = {}
    record_elements = []
    tag = feedback.tag
    own = tag[: tag.index("}") + 1] if tag.startswith("{") else ""  # "{namespace}" or ""
    foreign = False
    # Records are most of the children, in <feedback>'s own namespace as a rule: matched
    # by their whole tag first, any other spelling by its local name.
    record_tag = own + "record"
    for child in feedback:
        tag = child.tag
        if tag == record_tag:
            record_elements.append(child)
            continue
        name = local_name(tag)
        if name:
            foreign = foreign or _outside(tag, own)
            if name == "record":
                record_elements.append(child)
            else:
                sections.setdefault(name, child)
    if len(record_elements) > max_records:
        raise LimitExceeded(_too_many_records(max_records))
    metadata_element = _required_section(sections, "report_metadata")
    metadata_texts, outside_metadata = _children_text(metadata_element, own)
    policy_texts, outside_policy = _children_text(
        _required_section(sections, "policy_published"), own
    )
    date_range = next(
        (child for child in metadata_element if local_name(child.tag) == "date_range"), None
    )
    date_texts, outside_dates = (
        _children_text(date_range, own) if date_range is not None else (None, False)
    )
    report_format = _detect_format(feedback, sections, metadata_texts, policy_texts)
    metadata = _read_metadata(metadata_texts, date_texts, log)
    policy = _read_policy(policy_texts, log)
    version = sections.get("version")
    return ReportHead(
        report_format,
        metadata,
        policy,
        None if version is None else normalise_text(version.text or "")[0],
        record_elements,
        foreign or outside_metadata or outside_policy or outside_dates,
    )


def _outside(tag: str, own: str) -> bool:
    """Whether element ``tag`` is in another namespace than ``own`` ("{namespace}" or "")."""
    return not tag.startswith(own) if own else tag.startswith("{")


def _read_report(
    feedback: etree._Element, partial: bool, log: IssueLog, max_records: int
) -> AggregateReport:
    head = read_head(feedback, log, max_records)
    reader = RecordReader(log, selector_required=head.format is ReportFormat.RFC9990)
    records = _read_records(head.record_elements, reader, partial)
    check_date_range(head.metadata, log)
    return AggregateReport(
        format=head.format,
        metadata=head.metadata,
        policy=head.policy,
        records=records,
        version=head.version,
        issues=log.issues(),
        partial=partial,
    )


def _too_many_records(max_records: int) -> str:
    return f"The report has more than {max_records:,} records, the configured limit"


def _required_section(sections: dict[str, etree._Element], name: str) -> etree._Element:
    element = sections.get(name)
    if element is None:
        raise ParseError(f"The report has no <{name}> section (feedback/{name} is required)")
    return element


def _detect_format(
    feedback: etree._Element,
    sections: dict[str, etree._Element],
    metadata_texts: dict[str, list[str | None]],
    policy_texts: dict[str, list[str | None]],
) -> ReportFormat:
    tag = feedback.tag
    namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
    if namespace in RFC9990_NAMESPACES or "extension" in sections:
        return ReportFormat.RFC9990
    if not _RFC9990_ONLY_METADATA.isdisjoint(metadata_texts) or not (
        _RFC9990_ONLY_POLICY.isdisjoint(policy_texts)
    ):
        return ReportFormat.RFC9990
    return ReportFormat.RFC7489 if "version" in sections else ReportFormat.DRAFT


def _read_records(elements: list, reader: RecordReader, partial: bool) -> tuple[Record, ...]:
    records = []
    append = records.append
    read = reader.read
    for index, element in enumerate(elements, 1):
        try:
            record = read(element, index)
        except ParseError:
            if not partial:
                raise
            # Recovered XML: a record cut short by the damage is dropped, not the whole report.
            reader.log.note("damaged-record-skipped", f"record[{index}]")
            continue
        if record is not None:
            append(record)
    return tuple(records)


def _children_text(
    element: etree._Element, own: str
) -> tuple[dict[str, list[str | None]], bool]:
    """Map local name -> texts of the direct children, in document order; and whether one
    of them is in another namespace than ``own`` (see ``_outside``)."""
    texts: dict[str, list[str | None]] = {}
    outside = False
    for child in element:
        tag = child.tag
        name = local_name(tag)
        if name:
            texts.setdefault(name, []).append(child.text)
            outside = outside or _outside(tag, own)
    return texts, outside


def _read_metadata(
    texts: dict[str, list[str | None]],
    date_texts: dict[str, list[str | None]] | None,
    log: IssueLog,
) -> ReportMetadata:
    text = ValueKind(normalise_text, log).read
    org_name = text(_first(texts, "org_name"), "report_metadata/org_name")
    if org_name is None:
        log.add(
            "empty-org-name",
            "The report does not name its reporter (empty <org_name>); kept empty",
            "report_metadata/org_name",
        )
    report_id = text(_first(texts, "report_id"), "report_metadata/report_id")
    if report_id is None:
        raise ParseError("The report has no report_metadata/report_id")
    if report_id.startswith("<") and report_id.endswith(">"):
        log.add(
            "bracketed-report-id",
            f"The report ID is wrapped in <...> ({report_id}); the brackets are ignored "
            "when matching duplicate reports",
            "report_metadata/report_id",
        )
    begin, end = _read_date_range(date_texts, log)
    email = text(_first(texts, "email"), "report_metadata/email")
    if email is None:
        log.note("missing-field", "report_metadata/email")
    errors = (text(raw, "report_metadata/error") for raw in texts.get("error", ()))
    return ReportMetadata(
        org_name=org_name or "",
        email=email,
        report_id=report_id,
        begin=begin,
        end=end,
        extra_contact_info=text(
            _first(texts, "extra_contact_info"), "report_metadata/extra_contact_info"
        ),
        generator=text(_first(texts, "generator"), "report_metadata/generator"),
        errors=tuple(error for error in errors if error is not None),
    )


def _first(texts: dict[str, list[str | None]], name: str) -> str | None:
    values = texts.get(name)
    return values[0] if values else None


def _read_date_range(dates: dict[str, list[str | None]] | None, log: IssueLog) -> tuple[int, int]:
    if dates is None:
        raise ParseError("The report has no report_metadata/date_range")
    begin = read_timestamp(_first(dates, "begin"), "report_metadata/date_range/begin", log)
    end = read_timestamp(_first(dates, "end"), "report_metadata/date_range/end", log)
    return begin, end


def _read_policy(texts: dict[str, list[str | None]], log: IssueLog) -> PolicyPublished:
    domain = ValueKind(normalise_domain, log).read(
        _first(texts, "domain"), "policy_published/domain"
    )
    if domain is None:
        raise ParseError("The report has no policy_published/domain (the policy domain)")
    p = _policy_token(texts, "p", POLICY_TOKENS, log)
    if p is None:
        log.note("missing-field", "policy_published/p")
    fo = _first(texts, "fo")
    return PolicyPublished(
        domain=domain,
        p=p,
        sp=_policy_token(texts, "sp", POLICY_TOKENS, log),
        np=_policy_token(texts, "np", POLICY_TOKENS, log),
        pct=_read_pct(_first(texts, "pct"), log),
        adkim=_policy_token(texts, "adkim", ALIGNMENT_TOKENS, log),
        aspf=_policy_token(texts, "aspf", ALIGNMENT_TOKENS, log),
        fo=None if fo is None else ValueKind(normalise_text, log).read(fo, "policy_published/fo"),
        testing=_policy_token(texts, "testing", TESTING_TOKENS, log),
        discovery_method=_policy_token(texts, "discovery_method", DISCOVERY_TOKENS, log),
    )


def _policy_token(
    texts: dict[str, list[str | None]], name: str, allowed: frozenset[str], log: IssueLog
) -> str | None:
    """An enumerated policy value: as written when absent or already an RFC value (most
    reports), else normalised with its issues noted."""
    raw = _first(texts, name)
    if raw is None or raw in allowed:
        return raw
    return token_kind(allowed, log).read(raw, f"policy_published/{name}")


def _read_pct(raw: str | None, log: IssueLog) -> int | None:
    value = normalise_text(raw or "")[0]
    if value is None:
        return None
    if value != raw:
        log.note("whitespace", "policy_published/pct", raw)
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > 3 or int(value) > 100:
        log.note("invalid-value", "policy_published/pct", value)
        return None
    return int(value)


def check_date_range(metadata: ReportMetadata, log: IssueLog) -> None:
    if metadata.begin < FIRST_DMARC_REPORTS:
        log.add(
            "date-before-dmarc",
            f"The report period begins on {metadata.begin_utc:%Y-%m-%d}, before any DMARC "
            "report was sent (2012): the date is probably wrong; kept as reported",
            "report_metadata/date_range/begin",
        )
    if metadata.begin > time.time() + FUTURE_SLACK_SECONDS:
        log.add(
            "date-in-future",
            f"The report period begins on {metadata.begin_utc:%Y-%m-%d}, after the day it was "
            "read: the date is probably wrong; kept as reported",
            "report_metadata/date_range/begin",
        )
    span = metadata.end - metadata.begin
    if span < 0:
        log.add(
            "inverted-date-range",
            f"The report period ends before it begins ({metadata.begin_utc:%Y-%m-%d %H:%M} > "
            f"{metadata.end_utc:%Y-%m-%d %H:%M} UTC); kept as reported",
            "report_metadata/date_range",
        )
    elif span > MULTI_DAY_SECONDS:
        log.add(
            "multi-day-span",
            f"The report covers {span / 86400:.1f} days ({metadata.begin_utc:%Y-%m-%d} to "
            f"{metadata.end_utc:%Y-%m-%d}), more than one day",
            "report_metadata/date_range",
        )
