"""Bytes -> the <feedback> element, safely: refuse DTDs, parse strictly, recover if broken.

The lxml parsers are hardened as described in docs (dmarc-formats.md §6): no entity
resolution, no network, no DTD loading, libxml2's size and depth limits kept, comments and
processing instructions dropped. Nothing here "repairs" bytes before parsing; broken
documents go through libxml2's recovery mode instead, and the report is marked partial.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

from dmarc_analytics.errors import LimitExceeded, NotAggregateReport, ParseError, UnsafeXmlError
from dmarc_analytics.parse_fields import IssueLog, local_name

RFC9990_NAMESPACES = frozenset(
    {"urn:ietf:params:xml:ns:dmarc-2.0", "http://dmarc.org/dmarc-xml/0.2"}
)
# Elements in any other namespace are extensions (see ``drop_foreign_elements``).
DMARC_NAMESPACES = RFC9990_NAMESPACES | {"", "http://dmarc.org/dmarc-xml/0.1"}
_PREFIX_DECLARATION = re.compile(rb"xmlns:([^\s=<>]+)\s*=")

_SAFE_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)
# Built once and reused; lxml parsers are not thread-safe, and parsing runs in worker
# processes with one thread each. Whitespace-only text between elements is never read, and
# not building those nodes halves the nodes of an indented report (allocating and freeing
# them was 2.5 µs a record); a leaf's own text is kept, blank or not.
STRICT_PARSER = etree.XMLParser(remove_blank_text=True, **_SAFE_OPTIONS)
RECOVERING_PARSER = etree.XMLParser(recover=True, **_SAFE_OPTIONS)

_HUGE_HINT = re.compile(r",? (?:use|try) XML_PARSE_HUGE(?: option)?")
_BOM = b"\xef\xbb\xbf"
_LEADING_WHITESPACE = b" \t\r\n"
_HEAD_BYTES = 4096
_MAX_JUNK_BYTES = 64
_DOCUMENT_STARTS = (b"<?xml", b"<feedback")
UNSAFE_MESSAGE = (
    "The XML contains a DOCTYPE or entity declaration, which DMARC reports never need; "
    "refused for safety"
)
# Leaf elements: in recovered XML, a child node inside one of these is broken markup.
_LEAF_NAMES = frozenset(
    {
        "version", "org_name", "email", "extra_contact_info", "report_id", "begin", "end",
        "error", "generator", "domain", "p", "sp", "np", "pct", "adkim", "aspf", "fo",
        "testing", "discovery_method", "source_ip", "count", "disposition", "type", "comment",
        "header_from", "envelope_from", "envelope_to", "selector", "result", "human_result",
        "scope",
    }
)  # fmt: skip


def read_feedback(data: bytes, log: IssueLog) -> tuple[etree._Element, bool]:
    """Return the <feedback> element and whether it was recovered from broken XML."""
    data = _strip_leading_bytes(data, log)
    _refuse_non_xml(data)
    _refuse_unsafe_head(data)
    try:
        root = etree.fromstring(data, STRICT_PARSER)
    except etree.XMLSyntaxError as error:
        if "amplification" in str(error):  # entity expansion past libxml2's limit
            raise UnsafeXmlError(UNSAFE_MESSAGE) from error
        if "XML_PARSE_HUGE" in str(error):  # nesting or a text past libxml2's safety limits
            detail = _HUGE_HINT.sub("", _first_line(error))
            raise LimitExceeded(
                f"The XML goes past the parser's safety limits ({detail}); no DMARC report "
                "is shaped like that"
            ) from error
        return _recover(data, error, log), True
    _refuse_doctype(root)
    if local_name(root.tag) != "feedback":
        return _find_wrapped_feedback(root, log), False
    return root, False


def _strip_leading_bytes(data: bytes, log: IssueLog) -> bytes:
    """Drop a UTF-8 BOM (normal), and whitespace or a little junk before the document."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    stripped = data.lstrip(_LEADING_WHITESPACE)
    if stripped.startswith(_BOM):  # whitespace, then the BOM: seen in re-encoded attachments
        stripped = stripped[len(_BOM) :].lstrip(_LEADING_WHITESPACE)
    start = stripped.find(b"<", 0, _MAX_JUNK_BYTES)
    if start > 0 and stripped.startswith(_DOCUMENT_STARTS, start):
        stripped = stripped[start:]
    if stripped and len(stripped) != len(data):
        skipped = len(data) - len(stripped)
        kind = "whitespace" if not data[:skipped].strip() else "stray"
        log.add("leading-bytes", f"Ignored {skipped} {kind} bytes before the XML document")
    return stripped


def _refuse_non_xml(data: bytes) -> None:
    if data[:1] == b"<":  # the rule, after the leading bytes are stripped: no copy to make
        return
    if not data.strip():
        raise ParseError("The file is empty (no XML document)")
    if data.strip() == b"unused":
        raise NotAggregateReport(
            'The payload is the word "unused" instead of a report (a known reporter fault)'
        )
    if data[:1] in (b"{", b"["):
        head = data[: _HEAD_BYTES * 4]
        if b'"policies"' in head or b'"organization-name"' in head:
            raise NotAggregateReport("This is an SMTP TLS report (JSON), not a DMARC report")
        raise NotAggregateReport("This is a JSON document, not a DMARC aggregate report")


def _refuse_unsafe_head(data: bytes) -> None:
    if data.find(b"<!", 0, _HEAD_BYTES) < 0:  # both start so, in any case: most reports
        return  # are looked at without a copy
    head = data[:_HEAD_BYTES].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise UnsafeXmlError(UNSAFE_MESSAGE)


def _refuse_doctype(root: etree._Element) -> None:
    """Second line of defence: a DOCTYPE the head check missed (e.g. after a long comment)."""
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.system_url or docinfo.public_id:
        raise UnsafeXmlError(UNSAFE_MESSAGE)


def _find_wrapped_feedback(root: etree._Element, log: IssueLog) -> etree._Element:
    root_name = local_name(root.tag)
    for element in root.iter("{*}feedback"):
        log.add(
            "wrapped-feedback",
            f"The <feedback> report was wrapped in a <{root_name}> element, which was ignored",
        )
        return element
    raise NotAggregateReport(
        f"XML document with root element <{root_name}>, not a DMARC aggregate report"
    )


def _recover(data: bytes, error: etree.XMLSyntaxError, log: IssueLog) -> etree._Element:
    """Re-read broken XML with libxml2's recovery mode; find <feedback> anywhere in it."""
    try:
        root = etree.fromstring(data, RECOVERING_PARSER)
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        raise ParseError(f"Not readable as XML: {_first_line(error)}") from error
    _refuse_doctype(root)
    feedback = root if local_name(root.tag) == "feedback" else next(root.iter("{*}feedback"), None)
    if feedback is None:
        raise NotAggregateReport(
            f"XML document with root element <{local_name(root.tag)}>, not a DMARC aggregate "
            f"report (and not well-formed: {_first_line(error)})"
        )
    log.add(
        "recovered-xml",
        f"The XML is not well-formed ({_first_line(error)}); the report was read in "
        "recovery mode and may be incomplete",
    )
    _lift_nested_records(feedback, log)
    _drop_damaged_values(feedback, log)
    return feedback


def _lift_nested_records(feedback: etree._Element, log: IssueLog) -> None:
    """Make every <record> a child of <feedback>, in document order.

    Recovery closes an unclosed element only where its parent ends, so the records after
    a broken value end up inside it (``<version>1.0 <draft>`` swallowed every record after
    it; an unclosed ``<count>`` put the next record inside the broken one). Read where
    they are, they would be dropped with the broken value or not found at all.
    """
    records = list(feedback.iter("{*}record"))
    nested = [
        (number, record)
        for number, record in enumerate(records, start=1)
        if record.getparent() is not feedback
    ]
    last_after: dict[etree._Element, etree._Element] = {}  # top-level element -> last lifted
    for number, record in nested:
        top = record
        while top.getparent() is not feedback:
            top = top.getparent()
        anchor = last_after.get(top, top)
        record.tail = None
        anchor.addnext(record)
        last_after[top] = record
        log.note("nested-record", f"record[{number}]")


def _first_line(error: etree.XMLSyntaxError) -> str:
    message = (error.msg or str(error)).strip()
    return message.splitlines()[0] if message else "unknown XML error"


def _drop_damaged_values(feedback: etree._Element, log: IssueLog) -> None:
    """Blank out leaf values that recovery split with stray nodes (a raw '<' in text).

    Also removes entity nodes anywhere, so that every node left is an element.
    """
    numbers: dict[etree._Element, int] = {}  # <record> -> its number, counted once
    strays: dict[etree._Element, None] = {}  # parents of entity nodes etc., in order
    dropped: set[etree._Element] = set()  # nodes removed with a damaged value
    for node in list(feedback.iter()):  # a list: the loop edits the tree
        if node in dropped:
            continue
        _decodable_text(node)
        if not isinstance(node.tag, str):
            parent = node.getparent()
            if parent is not None:
                strays[parent] = None
            continue
        name = local_name(node.tag)
        if name not in _LEAF_NAMES and not _is_verdict_leaf(node, name):
            continue
        if len(node):
            log.note("damaged-value", _element_path(node, numbers))
            for child in list(node):
                dropped.update(child.iter())
                node.remove(child)
            node.text = None
        elif node.text and "\ufffd" in node.text:
            log.note("undecodable-bytes", _element_path(node, numbers), node.text)
    for parent in strays:
        _remove_non_elements(parent)


def _decodable_text(node: etree._Element) -> None:
    """Recovery keeps a reference to a character XML forbids (``&#xD800;``) as bytes that
    are not UTF-8, and lxml then raises on reading the text: such bytes become U+FFFD
    (noted as undecodable bytes where the value is read)."""
    for side in ("text", "tail"):
        try:
            getattr(node, side)
        except UnicodeDecodeError as exc:
            setattr(node, side, bytes(exc.object).decode("utf-8", "replace"))


def _remove_non_elements(parent: etree._Element) -> None:
    """Remove the children that are not elements, their tails joined to the text before
    them. Joined once per run of such nodes: appending each tail in turn was quadratic
    (40,000 entity references in one text took 50 s)."""
    _remove_children(parent, lambda child: not isinstance(child.tag, str))


def _remove_children(parent: etree._Element, unwanted: Callable[[etree._Element], bool]) -> None:
    anchor = None  # the element whose tail gathers the text; None: the parent's own text
    tails: list[str] = []
    for child in list(parent):
        if unwanted(child):
            if child.tail:
                tails.append(child.tail)
            parent.remove(child)
        else:
            _append_text(parent, anchor, tails)
            anchor, tails = child, []
    _append_text(parent, anchor, tails)


def drop_foreign_elements(feedback: etree._Element, data: bytes) -> None:
    """Remove the elements of another namespace than DMARC's (RFC 9990 extensions) that
    carry the name of a DMARC element beside them.

    The readers match elements by local name, so that any DMARC namespace (or none) reads
    alike, and the last of a name counts: an extension named like a DMARC element
    (``<ext:row>`` after a record's auth results) would replace the real values. A
    foreign element with no DMARC namesake beside it stays (a section put in a namespace
    of its own by a careless writer is still read). A document whose declared prefixes
    start no tag, with no default namespace but the report's own, has no foreign element
    and is not walked (walking cost 15 µs per record).
    """
    declarations = data.count(b"xmlns")  # bytes.count: the regular expressions cost more
    if declarations == 0:
        return
    own = _namespace(feedback.tag)
    prefixed = data.count(b"xmlns:")
    prefixes = _PREFIX_DECLARATION.findall(data) if prefixed else []
    if not any(b"<" + prefix + b":" in data for prefix in prefixes):  # no prefixed element
        defaults = declarations - prefixed  # or "xmlns" in text: then it is walked
        if defaults == 0 or (defaults == 1 and own and feedback.prefix is None):
            return  # nor a default namespace but <feedback>'s own (xsi and xsd: prefixes)
    ours = DMARC_NAMESPACES | {own}
    doomed: dict[etree._Element, None] = {}
    dmarc_names: dict[etree._Element, set[str]] = {}  # per parent, found once: linear
    for element in feedback.iter():
        tag = element.tag
        if not isinstance(tag, str) or _namespace(tag) in ours:
            continue
        parent = element.getparent()
        if parent is None or parent in doomed:
            continue
        names = dmarc_names.get(parent)
        if names is None:
            names = dmarc_names[parent] = {
                local_name(other.tag) for other in parent
                if isinstance(other.tag, str) and _namespace(other.tag) in ours
            }  # fmt: skip
        if local_name(tag) in names:
            doomed[element] = None
    parents = {element.getparent(): None for element in doomed}
    for parent in parents:
        _remove_children(parent, doomed.__contains__)


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag[:1] == "{" else ""


def _append_text(parent: etree._Element, anchor: etree._Element | None, tails: list[str]) -> None:
    if not tails:
        return
    if anchor is None:
        parent.text = (parent.text or "") + "".join(tails)
    else:
        anchor.tail = (anchor.tail or "") + "".join(tails)


def _is_verdict_leaf(element: etree._Element, name: str) -> bool:
    parent = element.getparent()
    return (
        name in ("dkim", "spf")
        and parent is not None
        and local_name(parent.tag) == "policy_evaluated"
    )


def _element_path(element: etree._Element, numbers: dict[etree._Element, int]) -> str:
    """Where ``element`` is (``record[3]/row/source_ip``). Records are numbered once per
    report into ``numbers``: counting each one's predecessors took quadratic time."""
    parts = []
    while element is not None and local_name(element.tag) != "feedback":
        name = local_name(element.tag)
        if name == "record":
            if element not in numbers:  # number this record's siblings, once per parent
                siblings = element.getparent().iterchildren()  # type: ignore[union-attr]
                records = (s for s in siblings if local_name(s.tag) == "record")
                numbers.update((record, i) for i, record in enumerate(records, start=1))
            name = f"record[{numbers[element]}]"
        parts.append(name)
        element = element.getparent()
    return "/".join(reversed(parts))
