"""Every string the app shows, in one catalogue per language.

Pages, charts and the sidebar ask ``t(key, **values)`` for their text; nothing user-facing
is written inline. The English text is in ``i18n_en``; a new language is one more module
and one more entry in ``CATALOGUE`` (``"ja": {...}``) with the same keys; a key missing
there falls back to English. The active language is module state, set once per run with
``set_language`` (later from a setting).

Catalogue text is trusted (it may contain Markdown); report data never goes into a
Markdown string, only into the ``{value}`` slots of plain-text messages shown as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from dmarc_analytics.filters import Filter
from dmarc_analytics.i18n_en import ENGLISH

DEFAULT_LANGUAGE = "en"


CATALOGUE: dict[str, dict[str, str]] = {"en": ENGLISH}

_language = DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    """Choose the catalogue for the following ``t`` calls; unknown languages mean English."""
    global _language
    _language = language if language in CATALOGUE else DEFAULT_LANGUAGE


def language() -> str:
    return _language


def t(key: str, count: int | None = None, **values: object) -> str:
    """The text for ``key`` in the active language, with ``{name}`` slots filled in.

    With ``count``, a catalogue may give the singular as ``<key>.one`` (used when ``count``
    is 1); languages without plural forms simply leave it out.

    :raises KeyError: no catalogue has the key (a programming error, caught by the tests).
    """
    if count == 1 and _lookup(f"{key}.one") is not None:
        key = f"{key}.one"
    text = _lookup(key)
    if text is None:
        text = ENGLISH[key]
    return text.format(**values) if values else text


def word(kind: str, code: object) -> str:
    """A stored code (an outcome, how an input came in) as the catalogue words it; a code it
    does not know (written by another version) as it is."""
    text = _lookup(f"{kind}.{code}")
    return str(code) if text is None else text


def error_text(error: Exception) -> str:
    """A library error in the active language: worded by the catalogue when it has a key
    (``DmarcAnalyticsError.worded``), its English message otherwise."""
    key = getattr(error, "key", None)
    return str(error) if key is None else t(key, **getattr(error, "values", {}))


def _lookup(key: str) -> str | None:
    text = CATALOGUE.get(_language, ENGLISH).get(key)
    return text if text is not None else ENGLISH.get(key)


def describe_filter(flt: Filter, quote: Callable[[str], str] = str) -> str:
    """The filter in words, for the sentence under each page title.

    ``quote`` is applied to every value taken from the filter (domains, reporters, networks),
    for example to escape them for Markdown.
    """
    parts = []
    if flt.since and flt.until:
        parts.append(t("describe.since_until", since=flt.since, until=flt.until))
    elif flt.since:
        parts.append(t("describe.since", since=flt.since))
    elif flt.until:
        parts.append(t("describe.until", until=flt.until))
    for name in ("policy_domain", "header_from", "reporter", "source_ip", "disposition"):
        values = getattr(flt, name)
        if name == "source_ip":  # one address is the address, not a /32 (or /128) network
            values = tuple(single_address(str(v)) for v in values)
        elif name == "reporter":  # "google.com." is google.com, and ends no sentence twice
            values = tuple(v[:-1] if v.endswith(".") and len(v) > 1 else v for v in values)
        if values:
            joined = t("describe.or").join(quote(str(v)) for v in values)
            parts.append(t(f"describe.{name}", values=joined))
    if flt.dmarc:
        parts.append(t("describe.dmarc", value=t(f"filter.{flt.dmarc}")))
    for name in ("spf_aligned", "dkim_aligned"):
        value = getattr(flt, name)
        if value is not None:
            parts.append(t(f"describe.{name}.{'yes' if value else 'no'}"))
    if not parts:
        return t("describe.all")
    return t("describe.prefix", parts=t("describe.join").join(parts))


def percent(rate: float, digits: int = 1) -> str:
    """A rate as a percentage, with more digits where rounding would hide failures or
    passes: 3,048 of 3,049 is 99.97 %, not 100.0 %, and 1 in a million is not 0.0 %."""
    text = f"{rate:.{digits}%}"
    while 0 < rate < 1 and float(text[:-1]) in (0.0, 100.0):
        if digits == 4:  # still all or nothing: the nearest value short of it
            scale = 10 ** (digits + 2)
            near = math.floor(rate * scale) if rate > 0.5 else math.ceil(rate * scale)
            return f"{near / 10**digits:.{digits}f}%"
        digits += 1
        text = f"{rate:.{digits}%}"
    return text


def single_address(network: str) -> str:
    """A network of one address as that address (192.0.2.7/32 is 192.0.2.7)."""
    address, _, length = network.partition("/")
    return address if length == ("128" if ":" in address else "32") else network


_MARKDOWN = frozenset("\\`*_{}[]()<>#+-.!|~$:&")


# Streamlit turns web and e-mail addresses into links and ``:name:`` codes into icons,
# emoji and colours after the Markdown is parsed, so escapes cannot stop them; a zero-width
# space breaks each such pattern up without changing what is shown.
_ZWSP = "\u200b"
_AFTER_PARSING = re.compile(r"(?i)(:|www\.|@)")


# Characters that reorder the text around them (right-to-left overrides and isolates): in
# report data they can make "\u202egnp.exe" read "exe.png", so they are shown by name.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible_controls(text: str) -> str:
    """Report text with its bidirectional control characters shown as ``<U+202E>``."""
    return _BIDI_CONTROLS.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


# A domain with an internationalised label, as stored (ASCII, "xn--").
_IDN_DOMAIN = re.compile(
    r"(?<![\w.-])((?:[a-z0-9_-]+\.)*xn--[a-z0-9-]+(?:\.[a-z0-9_-]+)*)(?![\w-])", re.IGNORECASE
)


def domain_display(text: str) -> str:
    """Internationalised domain names in ``text`` shown in their own script, each followed
    by the stored ASCII form: "例え.jp (xn--r8jz45g.jp)". Both, because a look-alike name
    (Cyrillic "а" for Latin "a") must not pass for the real one in a tool that finds
    spoofing; the ASCII form is what DNS and the CSV files hold."""
    if "xn--" not in text.lower():
        return text
    return _IDN_DOMAIN.sub(_with_unicode, text)


def _with_unicode(match: re.Match[str]) -> str:
    name = match.group(1)
    try:
        unicode = name.encode("ascii").decode("idna")
    except UnicodeError:
        return name
    return name if unicode == name else f"{unicode} ({name})"


def markdown_escape(text: str) -> str:
    """Text from data made inert for Markdown, so it is shown exactly as it is
    (``st.markdown``, ``st.error`` and friends): every Markdown punctuation backslash-escaped,
    and a zero-width space in the patterns Streamlit acts on after parsing (``http:``,
    ``www.``, ``a@b``, ``:material/icon:``, ``:red[text]``)."""
    broken = _AFTER_PARSING.sub(lambda m: _break(m.group()), visible_controls(text))
    return "".join("\\" + c if c in _MARKDOWN else c for c in broken)


def _break(pattern: str) -> str:
    if pattern == ":":
        return ":" + _ZWSP
    if pattern == "@":
        return _ZWSP + "@"
    return pattern[:-1] + _ZWSP + "."  # www.


def yes_no(value: object) -> str:
    """A boolean as catalogue text ("yes"/"no"); anything else unchanged as text."""
    if isinstance(value, bool):
        return t("bool.true" if value else "bool.false")
    return "" if value is None else str(value)
