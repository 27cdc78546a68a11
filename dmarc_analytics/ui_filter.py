"""The shared sidebar filter: one widget per ``filters.FIELDS`` entry, kept across pages.

The current ``Filter`` lives in ``st.session_state`` under one key. Widgets use
underscore-prefixed shadow keys: before they are drawn, each run copies the filter into
them, and their ``on_change`` callbacks copy a change back into the filter, through
``Filter.from_params`` so that the sidebar, the URL and the CLI share one set of rules.
Streamlit forgets widget state on a page switch; the filter survives because it is not a
widget's state.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from dmarc_analytics.errors import FilterError
from dmarc_analytics.filters import DISPOSITIONS, FIELDS, Filter, quote_value
from dmarc_analytics.i18n import domain_display, error_text, markdown_escape, single_address, t
from dmarc_analytics.insights_reports import LINK_VALUE_MAX
from dmarc_analytics.zones import canonical_zone

ANY = "any"
MAX_OPTIONS = 2000  # more values can still be typed in (accept_new_options)
TZ_PARAM = "tz"
_CHOICE_LISTS = {
    "policy_domain": "policy_domains",
    "header_from": "header_froms",
    "reporter": "reporters",
}


def shadow_key(name: str) -> str:
    return f"_filter_{name}"


def restore_filter(
    state_key: str, tz_key: str, drill_downs: dict[str, str] | None = None
) -> Filter:
    """The session's filter; on a session's first run, the one in the URL (if any).

    ``drill_downs`` maps other URL parameters (a picked source, a picked report) to the
    session keys of their pickers, which are set from the link too.
    """
    if state_key in st.session_state:
        return st.session_state[state_key]
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    for param, key in (drill_downs or {}).items():
        value = params.pop(param, None)
        if value and value[-1].strip():
            # as written: the page reads it by the link's rules (``linked_pick``)
            text = value[-1].strip()[:LINK_VALUE_MAX]
            st.session_state[key] = text
            st.session_state.setdefault(LINKED_PICKS, {})[key] = text
    zone = params.pop(TZ_PARAM, None)
    named = canonical_zone(zone[-1]) if zone else None
    if named is not None:
        st.session_state[tz_key] = named
    elif zone:
        _link_problem(t("filter.bad_zone", zone=markdown_escape(zone[-1][:100])))
    flt = _filter_from_link(params)
    st.session_state[state_key] = flt
    return flt


def _filter_from_link(params: dict[str, list[str]]) -> Filter:
    """The link's filter; a bad parameter is reported and left out, the others kept (a typo
    in one value no longer throws away the rest of a shared view)."""
    try:
        return Filter.from_params(params)
    except FilterError:
        pass
    good: dict[str, list[str]] = {}
    for name, value in params.items():
        try:
            Filter.from_params({name: value})
        except FilterError as exc:
            _link_problem(t("filter.bad_link", message=markdown_escape(error_text(exc))))
        else:
            good[name] = value
    try:
        return Filter.from_params(good)
    except FilterError as exc:  # fields that are fine alone but not together: the dates
        _link_problem(t("filter.bad_link", message=markdown_escape(error_text(exc))))
    dateless = {name: value for name, value in good.items() if name not in ("since", "until")}
    try:
        return Filter.from_params(dateless)  # the rest of the link still applies
    except FilterError:
        return Filter()


LINKED_PICKS = "linked_picks"  # picker key -> the value a link gave it (see ``linked_pick``)
LINK_PROBLEMS = "link_problems"  # what a link's parameters could not say, shown by the page


def linked_pick(key: str) -> str | None:
    """The value a link gave the picker ``key`` (a link is read by stricter rules than
    typed text: its report number is never taken for a report key)."""
    return st.session_state.get(LINKED_PICKS, {}).get(key)


def _link_problem(message: str) -> None:
    """Keep a message about the link for the page to show under its title (shown at once,
    above the title, it read like a crash)."""
    st.session_state.setdefault(LINK_PROBLEMS, []).append(message)


def mirror_to_url(
    flt: Filter, zone: str, extra: dict[str, str] | None = None, default_zone: str = "UTC"
) -> None:
    """Write the filter (and the zone, unless both it and the app's default are UTC, and
    ``extra``: the page's picked source or report) to the URL; Streamlit clears it on page
    switch. A link from an app with another default zone names its zone; one without a zone
    opens in the default zone of the app that opens it."""
    wanted = flt.to_params()
    if zone != "UTC" or default_zone != "UTC":
        wanted[TZ_PARAM] = zone
    wanted.update(extra or {})
    current = {key: st.query_params.get(key) for key in st.query_params}
    if current != wanted:
        st.query_params.from_dict(wanted)


def draw_filter(state_key: str, error_key: str, choices: Any) -> Filter:
    """Draw the filter widgets (inside the sidebar) and return the filter now in force."""
    flt: Filter = st.session_state[state_key]
    pending = st.session_state.get(error_key)
    for spec in FIELDS:
        if pending is None or pending[0] != spec.name:
            st.session_state[shadow_key(spec.name)] = _widget_value(spec.name, flt, choices)
    st.subheader(t("filter.title"))
    for spec in FIELDS:
        _draw_widget(spec.name, choices, state_key, error_key)
        if pending is not None and pending[0] == spec.name:
            # under its own field: "source_ip: '1.2.3.999' is not ..." without the name
            problem = pending[1].removeprefix(f"{spec.name}: ")
            st.error(t("filter.bad_value", message=markdown_escape(problem)))
    if not flt.is_empty:
        st.button(t("filter.clear"), key="_filter_clear", on_click=_clear,
                  args=(state_key, error_key))  # fmt: skip
    return st.session_state[state_key]


def dates_in_zone(flt: Filter, zone: str) -> str | None:
    """What the filter's UTC days are in ``zone`` (None in UTC or without dates): a Tokyo
    admin who asks for 2024-06-13 gets 09:00 that day to 08:59 the next."""
    if zone == "UTC" or (flt.since is None and flt.until is None):
        return None
    local = ZoneInfo(zone)
    first = None if flt.since is None else datetime.combine(flt.since, time(), UTC)
    last = None if flt.until is None else (
        datetime.combine(flt.until + timedelta(days=1), time(), UTC) - timedelta(minutes=1)
    )  # fmt: skip
    if all(m is None or not local.utcoffset(m.replace(tzinfo=None)) for m in (first, last)):
        return None  # a zone that is UTC there (Etc/UTC, GMT): nothing to add

    def shown(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(local).strftime("%Y-%m-%d %H:%M")

    since, until = shown(first), shown(last)
    if since is not None and until is not None:
        return t("tz.dates", zone=zone, since=since, until=until)
    return t("tz.dates.since", zone=zone, since=since) if since is not None else t(
        "tz.dates.until", zone=zone, until=until
    )  # fmt: skip


def _clear(state_key: str, error_key: str) -> None:
    st.session_state[state_key] = Filter()
    st.session_state.pop(error_key, None)


def _options(name: str, flt: Filter, choices: Any) -> list[str]:
    """The stored values (at most ``MAX_OPTIONS``) plus any value the filter holds."""
    known = list(getattr(choices, _CHOICE_LISTS[name]))[:MAX_OPTIONS]
    lowered = {c.lower() for c in known}
    return known + [v for v in getattr(flt, name) if v.lower() not in lowered]


def _widget_value(name: str, flt: Filter, choices: Any) -> Any:
    value = getattr(flt, name)
    if name in ("since", "until"):
        return value
    if name in _CHOICE_LISTS:
        wanted = {v.lower() for v in value}
        return [o for o in _options(name, flt, choices) if o.lower() in wanted]
    if name == "source_ip":
        return ", ".join(single_address(network) for network in value)
    if name == "disposition":
        return list(value)
    if name == "dmarc":
        return value or ANY
    return ANY if value is None else ("yes" if value else "no")


def _draw_widget(name: str, choices: Any, state_key: str, error_key: str) -> None:
    common: dict[str, Any] = {
        "key": shadow_key(name),
        "help": t(f"filter.help.{name}"),
        "on_change": _apply,
        "args": (name, state_key, error_key),
    }
    label = t(f"filter.{name}")
    if name in ("since", "until"):
        st.date_input(label, format="YYYY-MM-DD", **common)
    elif name in _CHOICE_LISTS:
        options = _options(name, st.session_state[state_key], choices)
        st.multiselect(label, options, placeholder=t("filter.any"), accept_new_options=True,
                       format_func=domain_display, **common)  # fmt: skip
    elif name == "source_ip":
        st.text_input(label, placeholder=t("filter.source_ip_placeholder"), **common)
    elif name == "disposition":
        st.multiselect(label, list(DISPOSITIONS), placeholder=t("filter.any"), **common)
    elif name == "dmarc":
        st.selectbox(label, [ANY, "pass", "fail"], format_func=_choice_text, **common)
    else:
        st.selectbox(label, [ANY, "yes", "no"], format_func=_choice_text, **common)


def _choice_text(value: str) -> str:
    return t(f"filter.{value}")


def _param(value: Any) -> str | None:
    """A widget value as the filter's string parameter (None = not set)."""
    if value is None or value == ANY:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(quote_value(str(v)) for v in value) or None
    return str(value).strip() or None


def _apply(name: str, state_key: str, error_key: str) -> None:
    """``on_change``: rebuild the filter with this field's new value, or keep the error."""
    params = st.session_state[state_key].to_params()
    params.pop(name, None)
    value = _param(st.session_state[shadow_key(name)])
    if value is not None:
        params[name] = value
    try:
        st.session_state[state_key] = Filter.from_params(params)
    except FilterError as exc:
        st.session_state[error_key] = (name, error_text(exc))
        return
    st.session_state.pop(error_key, None)
