"""Clean reports straight from XML to table rows, skipping the ``Record`` objects.

Most reports need no repair at all. For those, building a ``Record`` per record and then
turning it into rows (``parse_records`` + ``flatten``) costs several times more than reading
the XML, so this module goes from the <record> elements to the rows in one pass.

It is an optimisation of the reference path ``parse.parse_report`` + ``TableBuilder.add``,
never a second set of rules: the report head (metadata, policy, format, report-level issues)
is read by the same functions, and every record value goes through the same normalisers.
A report is taken only when the reference path would produce exactly the same rows and no
record-level issue: well-formed XML, at most one (default) namespace, and every record
value already in its normal form. At the first value or shape that would need a repair or
an issue, ``add_clean_report`` returns None and the caller uses the reference path for the
whole report. ``tests/test_fastpath.py`` checks that both paths give identical tables.
"""

from __future__ import annotations

from lxml import etree

from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.flatten import (
    SECONDS_PER_DAY,
    TableBuilder,
    ip_key,
    reporter_name,
    summarise_auth,
)
from dmarc_analytics.model import (
    AggregateReport,
    Disposition,
    DkimResultCode,
    OverrideType,
    ReportFormat,
    SpfResultCode,
    SpfScope,
    Verdict,
)
from dmarc_analytics.outcomes import ReportMeta
from dmarc_analytics.parse import MAX_XML_TAGS, check_date_range, open_feedback, read_head
from dmarc_analytics.parse_fields import (
    COUNT_FAST_DIGITS,
    IssueLog,
    enum_values,
    normalise_domain,
    normalise_ip,
    normalise_text,
    normalise_token,
)

_DISPOSITIONS = enum_values(Disposition)
_VERDICTS = enum_values(Verdict)
_DKIM_CODES = enum_values(DkimResultCode)
_SPF_CODES = enum_values(SpfResultCode)
_SCOPES = enum_values(SpfScope)
_REASON_TYPES = enum_values(OverrideType)

# Raw values known to need no repair, shared by all reports of this process (a clean value
# produces no issue, so unlike the reference path's caches these need not be per report).
_CACHE_LIMIT = 50_000  # per cache; emptied when full, to bound the workers' memory
_IPS: dict[str, tuple[str, int | None, str | None]] = {}  # raw -> (canonical, version, number)
_DOMAINS: dict[str, str] = {}
_TEXTS: dict[str, str] = {}

_NAMES = (
    "row", "identifiers", "auth_results", "identities", "source_ip", "count",
    "policy_evaluated", "disposition", "dkim", "spf", "reason", "type", "comment",
    "header_from", "envelope_from", "envelope_to", "domain", "selector", "result",
    "human_result", "scope",
)  # fmt: skip
_QUALIFIED: dict[str, tuple[str, ...]] = {}


class _Unclean(Exception):
    """A value or shape that the reference path would repair or report."""


def add_clean_report(
    builder: TableBuilder,
    data: bytes,
    content_sha256: str,
    input_sha256: str,
    origin: str,
    max_records: int,
    max_tags: int = MAX_XML_TAGS,
    notes: tuple[str, ...] = (),
    whole_document: bool = False,
) -> ReportMeta | None:
    """Add the report in ``data`` to ``builder`` if it is clean; None (nothing added) if not.

    None also for anything the reference path refuses: it then raises the proper error.
    With ``whole_document``, also None for a <feedback> that is not the document's root
    (a wrapper may hold several: see ``decode.split_reports``).
    """
    log = IssueLog()
    for note in notes:  # as the reference path does
        log.add("trailing-bytes", note)
    try:
        # Elements of other namespaces are not looked for in the bytes (as the reference
        # path does, 7 to 20 µs a report): in the head they decline the report below, in
        # a record where they are met (``_check_foreign``).
        feedback, partial = open_feedback(data, log, max_records, max_tags, drop_foreign=False)
        if partial or (whole_document and feedback.getparent() is not None):
            return None
        names = _names_of(feedback)
        head = read_head(feedback, log, max_records)
    except DmarcAnalyticsError:
        return None
    if head.foreign:
        return None
    policy = head.policy
    metadata = head.metadata
    index = builder.count
    context = (metadata.begin, metadata.begin // SECONDS_PER_DAY, reporter_name(metadata),
               policy.domain)  # fmt: skip
    reader = _RecordRows(
        builder, index, context, (policy.effective_adkim, policy.effective_aspf), names,
        head.format is ReportFormat.RFC9990,
    )  # fmt: skip
    try:
        reader.read(head.record_elements)
    except _Unclean:
        return None
    check_date_range(metadata, log)
    report = AggregateReport(head.format, metadata, policy, (), head.version, log.issues(), False)
    reader.commit()
    return builder.add_report(
        index, report, len(reader.records), reader.messages, content_sha256, input_sha256,
        origin,
    )  # fmt: skip


def _names_of(feedback: etree._Element) -> tuple[str, ...]:
    """The element names to compare tags with: in the namespace of <feedback>, if any."""
    tag = feedback.tag
    if not tag.startswith("{"):
        return _NAMES
    namespace = tag[1:].partition("}")[0]
    names = _QUALIFIED.get(namespace)
    if names is None:
        names = tuple(f"{{{namespace}}}{name}" for name in _NAMES)
        if len(_QUALIFIED) < 64:
            _QUALIFIED[namespace] = names
    return names


def _check_foreign(tag: str, names: tuple[str, ...]) -> None:
    """An element not matched by name: fine if the reference path ignores it too.

    The reference path reads elements by local name in any namespace. An element in another
    namespace than <feedback>'s may carry a name it reads, so such a report is declined.
    Plain names in a plain document are extension elements, ignored by both paths.
    """
    if tag[0] == "{" or names is not _NAMES:
        raise _Unclean


class _RecordRows:
    """Reads the <record> elements of one report into rows, kept here until ``commit``."""

    def __init__(
        self, builder: TableBuilder, index: int, context: tuple, modes: tuple[str, str],
        names: tuple[str, ...], selector_required: bool,
    ) -> None:  # fmt: skip
        self.builder = builder
        self.index = index
        self.context = context
        self.modes = modes
        self.names = names
        self.selector_required = selector_required
        self.records: list[tuple] = []
        self.dkim: list[tuple] = []
        self.spf: list[tuple] = []
        self.reasons: list[tuple] = []
        self.messages = 0

    def commit(self) -> None:
        rows = self.builder.rows
        rows["records"].extend(self.records)
        rows["dkim_results"].extend(self.dkim)
        rows["spf_results"].extend(self.spf)
        rows["override_reasons"].extend(self.reasons)

    def read(self, elements: list[etree._Element]) -> None:  # noqa: C901, PLR0912, PLR0915
        # One long loop on purpose: a call per element would cost more than the element.
        (
            ROW, IDENTIFIERS, AUTH_RESULTS, IDENTITIES, SOURCE_IP, COUNT, POLICY_EVALUATED,
            DISPOSITION, DKIM, SPF, REASON, _TYPE, _COMMENT, HEADER_FROM, ENVELOPE_FROM,
            ENVELOPE_TO, DOMAIN, SELECTOR, RESULT, HUMAN_RESULT, SCOPE,
        ) = names = self.names  # fmt: skip
        index, modes = self.index, self.modes
        begin, day, reporter, policy_domain = self.context
        selector_required = self.selector_required
        ips, domains, texts = _IPS, _DOMAINS, _TEXTS
        summaries = _SUMMARIES.setdefault(modes, {})
        records, dkim_rows, spf_rows = self.records, self.dkim, self.spf
        messages = 0
        for ordinal, element in enumerate(elements):
            row = identifiers = auth_results = None
            for child in element:
                tag = child.tag
                if tag == ROW:
                    row = child
                elif tag == IDENTIFIERS:
                    identifiers = child
                elif tag == AUTH_RESULTS:
                    auth_results = child
                elif tag == IDENTITIES:
                    raise _Unclean
                else:
                    _check_foreign(tag, names)
            source_ip = count = disposition = dkim = spf = None
            reasons: list = []
            if row is not None:
                for child in row:
                    tag = child.tag
                    if tag == SOURCE_IP:
                        text = child.text
                        source_ip = ips.get(text) or _ip(text)
                    elif tag == COUNT:
                        text = child.text
                        if not (
                            text and len(text) <= COUNT_FAST_DIGITS and text.isdigit()
                            and text.isascii()
                        ):  # fmt: skip
                            raise _Unclean
                        count = int(text)
                    elif tag == POLICY_EVALUATED:
                        disposition = dkim = spf = None
                        reasons = []
                        for item in child:
                            tag = item.tag
                            if tag == DISPOSITION:
                                text = item.text
                                disposition = (
                                    text if text in _DISPOSITIONS else _token(text, _DISPOSITIONS)
                                )
                            elif tag == DKIM:
                                text = item.text
                                dkim = text if text in _VERDICTS else _token(text, _VERDICTS)
                            elif tag == SPF:
                                text = item.text
                                spf = text if text in _VERDICTS else _token(text, _VERDICTS)
                            elif tag == REASON:
                                reasons.append(self._reason(item))
                            else:
                                _check_foreign(tag, names)
                    else:
                        _check_foreign(tag, names)
            if source_ip is None or count is None or disposition is None or dkim is None:
                raise _Unclean
            if spf is None:
                raise _Unclean
            header_from = envelope_from = envelope_to = None
            if identifiers is not None:
                for child in identifiers:
                    tag = child.tag
                    if tag == HEADER_FROM:
                        text = child.text
                        header_from = domains.get(text) or _domain(text)
                    elif tag == ENVELOPE_FROM:
                        text = child.text
                        envelope_from = domains.get(text) or _domain(text)
                    elif tag == ENVELOPE_TO:
                        text = child.text
                        envelope_to = domains.get(text) or _domain(text)
                    else:
                        _check_foreign(tag, names)
            if header_from is None:
                raise _Unclean
            dkim_list: list = []
            spf_list: list = []
            if auth_results is not None:
                for child in auth_results:
                    tag = child.tag
                    if tag == DKIM:
                        domain = selector = result = human = None
                        for item in child:
                            tag = item.tag
                            text = item.text
                            if tag == DOMAIN:
                                domain = domains.get(text) or _domain(text)
                            elif tag == RESULT:
                                result = text if text in _DKIM_CODES else _token(text, _DKIM_CODES)
                            elif tag == SELECTOR:
                                selector = texts.get(text) or _text(text)
                            elif tag == HUMAN_RESULT:
                                human = texts.get(text) or _text(text)
                            else:
                                _check_foreign(tag, names)
                        if result is None or (selector is None and selector_required):
                            if domain is None and result is None:
                                continue  # an empty <dkim/> block: nothing was reported
                            raise _Unclean
                        dkim_list.append((domain, selector, result, human))
                    elif tag == SPF:
                        domain = scope = result = human = None
                        for item in child:
                            tag = item.tag
                            text = item.text
                            if tag == DOMAIN:
                                domain = domains.get(text) or _domain(text)
                            elif tag == RESULT:
                                result = text if text in _SPF_CODES else _token(text, _SPF_CODES)
                            elif tag == SCOPE:
                                scope = text if text in _SCOPES else _token(text, _SCOPES)
                            elif tag == HUMAN_RESULT:
                                human = texts.get(text) or _text(text)
                            else:
                                _check_foreign(tag, names)
                        if result is None:
                            if domain is None:
                                continue  # an empty <spf/> block: nothing was reported
                            raise _Unclean
                        spf_list.append((domain, scope, result, human))
                    else:
                        _check_foreign(tag, names)
            # built as lists: growing a tuple per item is quadratic in a crafted record
            key = (header_from, tuple(dkim_list), tuple(spf_list))
            auth = summaries.get(key)
            if auth is None:
                auth = _summary(key, modes, summaries)
            dkim_tails, spf_tails, dkim_calc, spf_calc, unaligned, dkim_auth, spf_auth = auth
            for tail in dkim_tails:
                dkim_rows.append((index, ordinal, *tail))
            for tail in spf_tails:
                spf_rows.append((index, ordinal, *tail))
            reason_types = None
            if reasons:
                self.reasons.extend(
                    (index, ordinal, i, kind, comment) for i, (kind, comment) in enumerate(reasons)
                )
                reason_types = "; ".join(kind for kind, _ in reasons)
            address, version, number = source_ip
            dkim_pass, spf_pass = dkim == "pass", spf == "pass"
            mismatch = (
                None if dkim_calc is None else (dkim_calc != dkim_pass or spf_calc != spf_pass)
            )
            records.append((
                index, ordinal, begin, day, reporter, policy_domain, address, version, number,
                count, disposition, dkim, spf, dkim_pass or spf_pass, header_from,
                envelope_from, envelope_to, reason_types, dkim_auth, spf_auth, dkim_calc,
                spf_calc, mismatch, unaligned is not None, unaligned,
            ))  # fmt: skip
            messages += count
        self.messages = messages

    def _reason(self, element: etree._Element) -> tuple[str, str | None]:
        kind = comment = None
        _type, _comment = self.names[11], self.names[12]
        for child in element:
            tag = child.tag
            if tag == _type:
                text = child.text
                kind = text if text in _REASON_TYPES else _token(text, _REASON_TYPES)
            elif tag == _comment:
                comment = _TEXTS.get(child.text) or _text(child.text)
            else:
                _check_foreign(tag, self.names)
        if kind is None:
            raise _Unclean  # the reference path reads it as "other" and notes it
        return kind, comment


# Per alignment modes: (header_from, DKIM results, SPF results) -> the record's auth values,
# with the rows of its results ready but for the report and record they belong to.
_SUMMARIES: dict[tuple[str, str], dict[tuple, tuple]] = {}


def _summary(key: tuple, modes: tuple[str, str], summaries: dict[tuple, tuple]) -> tuple:
    header_from, dkim_results, spf_results = key
    auth = summarise_auth(header_from, dkim_results, spf_results, modes)
    dkim_calc, spf_calc, dkim_flags, spf_flags, unaligned, dkim_auth, spf_auth = auth
    dkim_tails = tuple([
        (i, *values, aligned)
        for i, (values, aligned) in enumerate(zip(dkim_results, dkim_flags, strict=True))
    ])  # fmt: skip
    spf_tails = tuple([
        (i, *values, aligned)
        for i, (values, aligned) in enumerate(zip(spf_results, spf_flags, strict=True))
    ])  # fmt: skip
    if len(summaries) >= _CACHE_LIMIT:
        summaries.clear()
    summary = (dkim_tails, spf_tails, dkim_calc, spf_calc, unaligned, dkim_auth, spf_auth)
    summaries[key] = summary
    return summary


def _ip(raw: str | None) -> tuple[str, int | None, str | None] | None:
    hit = _IPS.get(raw)  # type: ignore[arg-type]
    if hit is not None:
        return hit
    if raw is None:
        return None
    value, codes = normalise_ip(raw)
    if codes:
        raise _Unclean
    if value is None:
        return None
    hit = (value, *ip_key(value))
    if len(_IPS) >= _CACHE_LIMIT:
        _IPS.clear()
    _IPS[raw] = hit
    return hit


def _token(raw: str | None, allowed: frozenset[str]) -> str | None:
    """A token not in ``allowed`` as written: absent, or unclean."""
    if raw is None:
        return None
    value, codes = normalise_token(raw, allowed)
    if codes:
        raise _Unclean
    return value


def _domain(raw: str | None) -> str | None:
    return _known(_DOMAINS, normalise_domain, raw)


def _text(raw: str | None) -> str | None:
    return _known(_TEXTS, normalise_text, raw)


def _known(cache: dict[str, str], normalise, raw: str | None) -> str | None:  # type: ignore[no-untyped-def]
    if raw is None:
        return None
    value, codes = normalise(raw)
    if codes:
        raise _Unclean
    if value is not None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[raw] = value
    return value
