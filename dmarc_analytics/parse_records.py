"""The per-record hot path of ``parse``: <record> elements -> ``Record`` values.

Reports can hold millions of records, so this module trades some generality for speed
(measure with bench/bench_parse.py):

- each element's children are fetched once with ``element[:]``, a list built in C, which
  is markedly faster than iterating an lxml element;
- tags are compared as they are; only namespaced tags (``{...}name``) go through
  ``local_name``. Tags are always strings here: the parser drops comments and processing
  instructions, and ``parse_xml`` removes entity nodes from recovered trees;
- every value is first looked up in a per-report cache of raw values that need no repair
  (``ValueKind.clean``); only the rest goes through normalisation and the issue log;
- identical DKIM/SPF results share one (immutable) object, and Records are built by
  setting their slots directly, see ``new_record``.
"""

from __future__ import annotations

import dataclasses

from dmarc_analytics.errors import ParseError
from dmarc_analytics.model import (
    Disposition,
    DkimResult,
    DkimResultCode,
    OverrideReason,
    OverrideType,
    Record,
    SpfResult,
    SpfResultCode,
    SpfScope,
    Verdict,
)
from dmarc_analytics.parse_fields import (
    COUNT_FAST_DIGITS,
    IssueLog,
    ValueKind,
    enum_values,
    local_name,
    normalise_domain,
    normalise_ip,
    normalise_text,
    read_count,
    token_kind,
)

_RECORD_FIELDS = (
    "source_ip", "count", "disposition", "dkim", "spf", "header_from", "envelope_from",
    "envelope_to", "reasons", "dkim_results", "spf_results",
)  # fmt: skip
if tuple(field.name for field in dataclasses.fields(Record)) != _RECORD_FIELDS or hasattr(
    Record, "__post_init__"
):
    raise RuntimeError("model.Record changed: update parse_records.new_record to match")
(
    _set_source_ip, _set_count, _set_disposition, _set_dkim, _set_spf, _set_header_from,
    _set_envelope_from, _set_envelope_to, _set_reasons, _set_dkim_results, _set_spf_results,
) = (getattr(Record, name).__set__ for name in _RECORD_FIELDS)  # fmt: skip
_new_object = object.__new__


def new_record(
    source_ip, count, disposition, dkim, spf, header_from, envelope_from, envelope_to,
    reasons, dkim_results, spf_results,
) -> Record:  # fmt: skip
    """Exactly ``Record(...)`` with all fields, about twice as fast.

    A frozen dataclass's ``__init__`` calls ``object.__setattr__`` per field, which cost
    more than reading the record's XML; this sets the slots directly (the module checks at
    import that Record's fields are still the ones set here).
    """
    record = _new_object(Record)
    _set_source_ip(record, source_ip)
    _set_count(record, count)
    _set_disposition(record, disposition)
    _set_dkim(record, dkim)
    _set_spf(record, spf)
    _set_header_from(record, header_from)
    _set_envelope_from(record, envelope_from)
    _set_envelope_to(record, envelope_to)
    _set_reasons(record, reasons)
    _set_dkim_results(record, dkim_results)
    _set_spf_results(record, spf_results)
    return record


_NO_ROW = (None, None, None, None, None, ())
_NO_EVALUATION = (None, None, None, ())
_SPF_ALIASES = {"hardfail": ("fail", "spf-hardfail")}


class RecordReader:
    """Turns the <record> elements of one report into ``Record`` values.

    Record paths in issues are 1-based, like XPath: ``record[3]/row/source_ip``.
    """

    def __init__(self, log: IssueLog, selector_required: bool) -> None:
        self.log = log
        self.selector_required = selector_required
        self.ip = ValueKind(normalise_ip, log)
        self.domain = ValueKind(normalise_domain, log)
        self.text = ValueKind(normalise_text, log)
        self.disposition = token_kind(enum_values(Disposition), log)
        self.verdict = token_kind(enum_values(Verdict), log)
        self.dkim_code = token_kind(enum_values(DkimResultCode), log)
        self.spf_code = token_kind(enum_values(SpfResultCode), log, _SPF_ALIASES)
        self.scope = token_kind(enum_values(SpfScope), log)
        self.reason_type = token_kind(enum_values(OverrideType), log)
        # The fast path of every field: raw value -> value, for raw values needing no repair.
        self._known_ip = self.ip.clean.get
        self._known_domain = self.domain.clean.get
        self._known_text = self.text.clean.get
        self._known_disposition = self.disposition.clean.get
        self._known_verdict = self.verdict.clean.get
        self._known_dkim_code = self.dkim_code.clean.get
        self._known_spf_code = self.spf_code.clean.get
        self._known_scope = self.scope.clean.get
        self._results: dict[tuple, DkimResult | SpfResult] = {}

    def read(self, element, index: int) -> Record | None:
        """Read one <record> (``index`` is 1-based); None when it carries no data."""
        row = identifiers = auth_results = None
        for child in element[:]:
            tag = child.tag
            name = tag if tag[0] != "{" else local_name(tag)
            if name == "row":
                row = child
            elif name == "identifiers":
                identifiers = child
            elif name == "auth_results":
                auth_results = child
            elif name == "identities":
                identifiers = child
                self.log.note("identities-alias", "identities", None, index)
        row_values = _NO_ROW if row is None else self._read_row(row, index)
        source_ip, count, disposition, dkim, spf, reasons = row_values
        if source_ip is None and not count:
            self.log.note("empty-record-skipped", "row", None, index)
            return None
        if count is None:
            raise ParseError(f"record[{index}]/row/count is missing or empty")
        if source_ip is None or disposition is None or dkim is None or spf is None:
            source_ip, disposition = self._note_missing(source_ip, disposition, dkim, spf, index)
        header_from, envelope_from, envelope_to = self._read_identifiers(identifiers, index)
        dkim_results, spf_results = self._read_auth_results(auth_results, index)
        return new_record(
            source_ip, count, disposition, dkim, spf, header_from, envelope_from,
            envelope_to, reasons, dkim_results, spf_results,
        )  # fmt: skip

    def _note_missing(self, source_ip, disposition, dkim, spf, index: int) -> tuple[str, str]:
        if source_ip is None:
            self.log.note("missing-source-ip", "row/source_ip", None, index)
        for name, value in (("disposition", disposition), ("dkim", dkim), ("spf", spf)):
            if value is None:
                self.log.note("missing-field", f"row/policy_evaluated/{name}", None, index)
        return source_ip or "", disposition or ""

    def _read_row(self, row, index: int) -> tuple:
        source_ip = count = None
        evaluated = _NO_EVALUATION
        for child in row[:]:
            tag = child.tag
            name = tag if tag[0] != "{" else local_name(tag)
            if name == "source_ip":
                text = child.text
                source_ip = self._known_ip(text) or self.ip.read(text, "row/source_ip", index)
            elif name == "count":
                text = child.text
                if (
                    text is not None and len(text) <= COUNT_FAST_DIGITS and text.isdigit()
                    and text.isascii()
                ):  # fmt: skip
                    count = int(text)
                else:
                    count = read_count(text, index, self.log)
            elif name == "policy_evaluated":
                evaluated = self._read_policy_evaluated(child, index)
        disposition, dkim, spf, reasons = evaluated
        return source_ip, count, disposition, dkim, spf, reasons

    def _read_policy_evaluated(self, element, index: int) -> tuple:
        disposition = dkim = spf = None
        reasons = []  # a list: growing a tuple per item is quadratic in a crafted record
        for child in element[:]:
            tag = child.tag
            name = tag if tag[0] != "{" else local_name(tag)
            if name == "disposition":
                text = child.text
                disposition = self._known_disposition(text) or self.disposition.read(
                    text, "row/policy_evaluated/disposition", index
                )
            elif name == "dkim":
                text = child.text
                dkim = self._known_verdict(text) or self.verdict.read(
                    text, "row/policy_evaluated/dkim", index
                )
            elif name == "spf":
                text = child.text
                spf = self._known_verdict(text) or self.verdict.read(
                    text, "row/policy_evaluated/spf", index
                )
            elif name == "reason":
                reasons.append(self._read_reason(child, index))
        return disposition, dkim, spf, tuple(reasons)

    def _read_reason(self, element, index: int) -> OverrideReason:
        reason_type = comment = None
        for child in element[:]:
            name = local_name(child.tag)
            if name == "type":
                where = "row/policy_evaluated/reason/type"
                reason_type = self.reason_type.read(child.text, where, index)
            elif name == "comment":
                where = "row/policy_evaluated/reason/comment"
                comment = self.text.read(child.text, where, index)
        if reason_type is None:
            self.log.note("empty-reason-type", "row/policy_evaluated/reason/type", None, index)
            reason_type = OverrideType.OTHER.value
        return OverrideReason(reason_type, comment)

    def _read_identifiers(self, element, index: int) -> tuple:
        header_from = envelope_from = envelope_to = None
        if element is not None:
            for child in element[:]:
                tag = child.tag
                name = tag if tag[0] != "{" else local_name(tag)
                text = child.text
                if name == "header_from":
                    header_from = self._known_domain(text) or self.domain.read(
                        text, "identifiers/header_from", index
                    )
                elif name == "envelope_from":
                    envelope_from = self._known_domain(text) or self.domain.read(
                        text, "identifiers/envelope_from", index
                    )
                elif name == "envelope_to":
                    envelope_to = self.domain.read(text, "identifiers/envelope_to", index)
        if header_from is None:
            self.log.note("missing-field", "identifiers/header_from", None, index)
        return header_from, envelope_from, envelope_to

    def _read_auth_results(self, element, index: int) -> tuple[tuple, tuple]:
        dkim_results: list = []
        spf_results: list = []
        if element is not None:
            for child in element[:]:
                tag = child.tag
                name = tag if tag[0] != "{" else local_name(tag)
                if name == "dkim":
                    result = self._read_dkim(child, index)
                    if result is not None:
                        dkim_results.append(result)
                elif name == "spf":
                    result = self._read_spf(child, index)
                    if result is not None:
                        spf_results.append(result)
        return tuple(dkim_results), tuple(spf_results)

    def _read_dkim(self, element, index: int) -> DkimResult | None:
        domain = selector = result = human = None
        for child in element[:]:
            tag = child.tag
            name = tag if tag[0] != "{" else local_name(tag)
            text = child.text
            if name == "domain":
                domain = self._known_domain(text) or self.domain.read(
                    text, "auth_results/dkim/domain", index
                )
            elif name == "result":
                result = self._known_dkim_code(text) or self.dkim_code.read(
                    text, "auth_results/dkim/result", index
                )
            elif name == "selector":
                selector = self._known_text(text) or self.text.read(
                    text, "auth_results/dkim/selector", index
                )
            elif name == "human_result":
                human = self.text.read(text, "auth_results/dkim/human_result", index)
        if result is None or (selector is None and self.selector_required):
            if domain is None and result is None:
                return None  # an empty <dkim/> block: nothing was reported
            self._note_incomplete_dkim(result, selector, index)
        key = (domain, selector, result, human)
        cached = self._results.get(key)
        if cached is None:
            cached = self._results[key] = DkimResult(domain, selector, result or "", human)
        return cached

    def _note_incomplete_dkim(self, result, selector, index: int) -> None:
        if result is None:
            self.log.note("missing-field", "auth_results/dkim/result", None, index)
        if selector is None and self.selector_required:
            self.log.note("missing-dkim-selector", "auth_results/dkim/selector", None, index)

    def _read_spf(self, element, index: int) -> SpfResult | None:
        domain = scope = result = human = None
        for child in element[:]:
            tag = child.tag
            name = tag if tag[0] != "{" else local_name(tag)
            text = child.text
            if name == "domain":
                domain = self._known_domain(text) or self.domain.read(
                    text, "auth_results/spf/domain", index
                )
            elif name == "result":
                result = self._known_spf_code(text) or self.spf_code.read(
                    text, "auth_results/spf/result", index
                )
            elif name == "scope":
                scope = self._known_scope(text) or self.scope.read(
                    text, "auth_results/spf/scope", index
                )
            elif name == "human_result":
                human = self.text.read(text, "auth_results/spf/human_result", index)
        if result is None:
            if domain is None:
                return None  # an empty <spf/> block: nothing was reported
            self.log.note("missing-field", "auth_results/spf/result", None, index)
        key = (domain, scope, result, human, "spf")  # the 5th item keeps DKIM keys apart
        cached = self._results.get(key)
        if cached is None:
            cached = self._results[key] = SpfResult(domain, scope, result or "", human)
        return cached
