"""Seeded synthetic DMARC aggregate reports that look like what real receivers send.

Used by the ingest benchmark and the demo dataset. Everything is drawn from one
``random.Random(seed)``, so the same arguments always give the same bytes. The senders (IP
addresses, DKIM and bounce domains) are one fixed world shared by every seed, so the same
sources reappear across reports, reporters and corpora.
"""

from __future__ import annotations

import gzip
import io
import math
import random
import re
import uuid
import zipfile
from bisect import bisect
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from itertools import accumulate, cycle, islice
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

DEFAULT_START = date(2026, 11, 1) - timedelta(days=42)
MAX_RECORDS = 200
DAY = 86400
CONTAINERS = ("xml", "xml.gz", "zip")
ZIP_DATE_TIME = (2026, 1, 1, 0, 0, 0)
DUPLICATE_ROW_RETRIES = 3
WRITE_BATCH = 200

Dkim = tuple[str, str, str]  # d=, s=, result
Spf = tuple[str, str, str]  # domain, scope ("" = not reported), result
Reason = tuple[str, str]  # type, comment ("" = none)


@dataclass(frozen=True, slots=True)
class SyntheticReport:
    file_name: str
    xml: bytes
    records: int
    messages: int


@dataclass(frozen=True, slots=True)
class CorpusStats:
    files: int
    reports: int
    records: int
    messages: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Reporter:
    receiver: str  # the file name's first part
    org_name: str
    email: str
    share: float
    dialect: str  # "rfc7489", "google", "outlook", "zoho" (no envelope_from) or "rfc9990"
    id_style: str  # "digits", "hex", "uuid", "epoch" or "bracketed"
    utc_offset: int  # seconds east of UTC: windows start at the reporter's local midnight
    end_is_next_midnight: bool
    volume: float  # scales message counts: big mailbox providers see more mail
    envelope_to: tuple[str, ...] = ()
    extra_contact: str = ""
    forward_reason: Reason = ("forwarded", "")
    list_reason: Reason = ("mailing_list", "")


@dataclass(frozen=True, slots=True)
class Sender:
    kind: str  # own, cloud, esp, third_party, forwarder, mailing_list, spoofer
    ips: tuple[str, ...]
    count_scale: float
    count_power: float = 3.0
    signatures: tuple[tuple[str, str], ...] = ()  # (d=, s=) templates: {domain} {dashed} {flat}
    bounce_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyDomain:
    name: str
    share: float
    p: str
    sp: str
    pct: int
    np: str
    fo: str
    selector: str
    subdomains: tuple[str, ...]
    esp_subdomain: str
    senders: tuple[tuple[str, float], ...]  # sender name, share of records


ARC = ("local_policy", "arc=pass")
REPORTERS = (
    Reporter("google.com", "google.com", "noreply-dmarc-support@google.com", 0.34, "google",
             "digits", 0, False, 1.0, extra_contact="https://support.google.com/a/answer/2466580",
             forward_reason=ARC, list_reason=ARC),
    Reporter("protection.outlook.com", "Outlook.com", "dmarcreport@microsoft.com", 0.22,
             "outlook", "hex", 0, True, 0.7, ("outlook.com", "hotmail.com", "live.com", "msn.com")),
    Reporter("yahoo.com", "Yahoo", "dmarchelp@yahooinc.com", 0.11, "rfc7489", "epoch", 0, False,
             0.5),
    Reporter("mail.ru", "Mail.Ru", "dmarc_support@corp.mail.ru", 0.06, "rfc7489", "digits",
             3 * 3600, False, 0.3, extra_contact="http://help.mail.ru/mail-help",
             list_reason=("mailing_list", "list-id <users.lists.example.net> & footer added")),
    Reporter("gmx.net", "GMX", "dmarc_agg@gmx.net", 0.05, "rfc7489", "uuid", 3600, False, 0.25,
             ("gmx.de", "gmx.net", "gmx.at")),
    Reporter("comcast.net", "comcast.net", "dmarc_reports@comcast.net", 0.05, "rfc7489",
             "digits", 0, False, 0.25),
    Reporter("zoho.com", "zoho.com", "noreply-dmarc@zoho.com", 0.04, "zoho", "digits",
             5 * 3600 + 1800, False, 0.15),
    Reporter("fastmail.com", "FastMail Pty Ltd", "reports@fastmaildmarc.com", 0.05, "rfc9990",
             "digits", 0, False, 0.2, ("fastmail.com", "fastmail.fm"),
             "https://www.fastmail.com/", forward_reason=("trusted_forwarder", "arc=pass")),
    Reporter("docomo.ne.jp", "NTT DOCOMO, INC.", "dmarc-report@docomo.ne.jp", 0.04, "rfc7489",
             "bracketed", 9 * 3600, False, 0.2, ("docomo.ne.jp",)),
    Reporter("kddi.com", "KDDI CORPORATION", "dmarc-report@kddi.com", 0.04, "rfc7489", "digits",
             9 * 3600, True, 0.2, ("au.com", "ezweb.ne.jp"),
             forward_reason=("forwarded", "転送メールと判定 (forwarded)")),
)
DOMAINS = (
    PolicyDomain("example.com", 0.45, "reject", "quarantine", 100, "reject", "1", "mail2026",
                 ("support.example.com", "billing.example.com"), "news.example.com",
                 (("own_com", 0.10), ("google_workspace", 0.18), ("sendgrid", 0.16),
                  ("forwarder", 0.10), ("mailing_list", 0.04), ("spoofer", 0.42))),
    PolicyDomain("example.org", 0.33, "quarantine", "none", 50, "", "0", "s1",
                 ("members.example.org",), "info.example.org",
                 (("own_org", 0.06), ("microsoft_365", 0.18), ("mailchimp", 0.14),
                  ("ticketdesk", 0.08), ("forwarder", 0.08), ("mailing_list", 0.12),
                  ("spoofer", 0.34))),
    PolicyDomain("example.co.jp", 0.22, "none", "none", 100, "", "1", "default",
                 ("shop.example.co.jp",), "mag.example.co.jp",
                 (("own_jp", 0.16), ("microsoft_365", 0.10), ("sendgrid", 0.12),
                  ("payroll_notify", 0.08), ("forwarder", 0.12), ("mailing_list", 0.02),
                  ("spoofer", 0.40))),
)
SPOOF_SUBDOMAINS = ("secure-login", "account-verify", "payroll-update", "invoice")
NULL_SENDER_HELOS = ("ylmf-pc", "localhost.localdomain", "user-pc")
SPOOF_SPF_RESULTS = ("fail", "softfail", "none", "neutral", "permerror", "temperror")
SPOOF_SPF_CUM = tuple(accumulate((0.40, 0.25, 0.20, 0.08, 0.05, 0.02)))
SPAM_TLDS = ("top", "xyz", "click", "info", "ru", "cn", "biz", "online")
PUBLIC_LOOKING_V4_PREFIXES = ("45.133", "91.215", "103.151", "185.234", "194.165", "5.188",
                              "80.94", "141.98", "176.113", "212.70", "36.89", "177.54")


def _ip_range(prefix: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{host}" for host in range(first, last + 1))


def _spoofer_world(world: random.Random) -> Sender:
    ips = (
        _ip_range("203.0.113.", 128, 255)
        + tuple(f"{world.choice(PUBLIC_LOOKING_V4_PREFIXES)}.{world.randrange(256)}"
                f".{world.randrange(1, 255)}" for _ in range(1600))
        + tuple(f"2001:db8:{world.randrange(1, 0xFFFF):x}:{world.randrange(1, 0xFFFF):x}"
                f"::{world.randrange(1, 0xFFFF):x}" for _ in range(600))
    )
    spam_domains = tuple(
        "".join(world.choices("abcdefghijklmnopqrstuvwxyz", k=world.randrange(5, 11)))
        + f"{world.choice(('', '-mail', '-secure', 'mx'))}.{world.choice(SPAM_TLDS)}"
        for _ in range(300)
    )
    return Sender("spoofer", ips, 8, 6.0, bounce_domains=spam_domains)


SENDERS = {
    "own_com": Sender("own", ("192.0.2.10", "192.0.2.11", "192.0.2.12", "2001:db8:25::10",
                              "2001:db8:25::11"), 300),
    "own_org": Sender("own", ("192.0.2.20", "192.0.2.21", "2001:db8:26::20"), 120),
    "own_jp": Sender("own", ("192.0.2.30", "192.0.2.31", "192.0.2.32"), 200),
    "google_workspace": Sender(
        "cloud", ("209.85.220.41", "209.85.220.69", "209.85.220.73", "209.85.128.172",
                  "209.85.221.45", "209.85.208.176", "2607:f8b0:4864:20::d2d",
                  "2607:f8b0:4864:20::1033"), 500,
        signatures=(("{domain}", "google"), ("{dashed}.20230601.gappssmtp.com", "20230601"))),
    "microsoft_365": Sender(
        "cloud", ("40.107.22.58", "40.107.93.71", "40.107.244.95", "52.100.167.241",
                  "52.101.66.118", "2a01:111:f403:2412::701", "2a01:111:f403:c201::3"), 400,
        signatures=(("{domain}", "selector1"),
                    ("{flat}.onmicrosoft.com", "selector1-{flat}-onmicrosoft-com"))),
    "sendgrid": Sender("esp", _ip_range("198.51.100.", 16, 47) + ("2001:db8:5e::16",), 800,
                       4.0, (("sendgrid.net", "smtpapi"),),
                       ("sendgrid.net", "em4281.sendgrid.net")),
    "mailchimp": Sender("esp", _ip_range("198.51.100.", 64, 95), 800, 4.0,
                        (("mcsv.net", "k2"),),
                        ("mail141.atl221.mcdlv.net", "mail87.sea31.mcsv.net")),
    "ticketdesk": Sender("third_party", _ip_range("203.0.113.", 40, 47), 40, 3.0,
                         (("ticketdesk.example", "td1"),), ("bounce.ticketdesk.example",)),
    "payroll_notify": Sender("third_party", _ip_range("203.0.113.", 60, 63), 25, 3.0,
                             (("payroll-notify.example", "pn2024"),),
                             ("payroll-notify.example",)),
    "forwarder": Sender("forwarder", _ip_range("192.0.2.", 100, 131) + (
        "10.160.4.23", "172.20.1.9", "2001:db8:f0::7", "2001:db8:f0::8"), 20, 4.0,
        bounce_domains=("alumni.example.edu", "forward.example.net", "mail.example-isp.net")),
    "mailing_list": Sender("mailing_list", _ip_range("198.51.100.", 200, 215), 30,
                           bounce_domains=("lists.example.net", "groups.list-host.example")),
    "spoofer": _spoofer_world(random.Random("dmarc-analytics synthetic senders")),
}
DOMAIN_SENDERS = {
    d.name: (tuple(SENDERS[name] for name, _ in d.senders),
             tuple(accumulate(share for _, share in d.senders)))
    for d in DOMAINS
}


def _pick(rng: random.Random, items: Sequence[Any], cumulative: Sequence[float]) -> Any:
    return items[bisect(cumulative, rng.random() * cumulative[-1])]


def _template(text: str, domain: str) -> str:
    return text.format(domain=domain, dashed=domain.replace(".", "-"), flat=domain.replace(".", ""))


# header_from, envelope_from ("" = null reverse-path), DKIM results, SPF results,
# whether header_from exists, and "forwarded"/"mailing_list" for legitimate indirect mail
Auth = tuple[str, str, tuple[Dkim, ...], tuple[Spf, ...], bool, str]


def _own_auth(rng: random.Random, s: Sender, d: PolicyDomain) -> Auth:
    header_from = d.name if rng.random() < 0.85 else rng.choice(d.subdomains)
    dkim = "pass" if rng.random() < 0.97 else "fail"
    return (header_from, header_from, ((d.name, d.selector, dkim),),
            ((header_from, "mfrom", "pass"),), True, "")


def _cloud_auth(rng: random.Random, s: Sender, d: PolicyDomain) -> Auth:
    dkim = tuple((_template(dom, d.name), _template(sel, d.name), "pass")
                 for dom, sel in s.signatures)
    if rng.random() < 0.03:
        dkim = dkim[1:]
    return d.name, d.name, dkim, ((d.name, "mfrom", "pass"),), True, ""


def _esp_auth(rng: random.Random, s: Sender, d: PolicyDomain) -> Auth:
    header_from = d.esp_subdomain if rng.random() < 0.7 else d.name
    aligned = "pass" if rng.random() < 0.96 else "fail"
    bounce = rng.choice(s.bounce_domains)
    return (header_from, bounce, ((header_from, "s1", aligned), (*s.signatures[0], "pass")),
            ((bounce, "mfrom", "pass"),), True, "")


def _third_party_auth(rng: random.Random, s: Sender, d: PolicyDomain) -> Auth:
    bounce = s.bounce_domains[0]
    return (d.name, bounce, ((*s.signatures[0], "pass"),), ((bounce, "mfrom", "pass"),),
            True, "")


def _forwarder_auth(rng: random.Random, s: Sender, d: PolicyDomain) -> Auth:
    original = ((d.name, d.selector, "pass" if rng.random() < 0.65 else "fail"),)
    if rng.random() < 0.5:
        spf = (d.name, "mfrom", "softfail" if rng.random() < 0.6 else "fail")
        return d.name, d.name, original, (spf,), True, "forwarded"
    srs = rng.choice(s.bounce_domains)
    return d.name, srs, original, ((srs, "mfrom", "pass"),), True, "forwarded"


def _mailing_list_auth(rng: random.Random, s: Sender, d: PolicyDomain) -> Auth:
    list_domain = rng.choice(s.bounce_domains)
    dkim: tuple[Dkim, ...] = ((d.name, d.selector, "pass" if rng.random() < 0.25 else "fail"),)
    if rng.random() < 0.6:
        dkim += ((list_domain, "list", "pass"),)
    return d.name, list_domain, dkim, ((list_domain, "mfrom", "pass"),), True, "mailing_list"


def _spoofer_auth(rng: random.Random, s: Sender, d: PolicyDomain) -> Auth:
    exists = rng.random() < 0.8
    header_from = d.name if exists else f"{rng.choice(SPOOF_SUBDOMAINS)}.{d.name}"
    spam = rng.choice(s.bounce_domains)
    roll = rng.random()
    envelope_from = spam if roll < 0.5 else (header_from if roll < 0.9 else "")
    result = SPOOF_SPF_RESULTS[bisect(SPOOF_SPF_CUM, rng.random() * SPOOF_SPF_CUM[-1])]
    spf = ((envelope_from, "mfrom", result) if envelope_from
           else (rng.choice(NULL_SENDER_HELOS), "helo", result))
    roll = rng.random()
    dkim: tuple[Dkim, ...] = ()
    if roll < 0.1:
        dkim = ((d.name, d.selector, "fail"),)
    elif roll < 0.3:
        dkim = ((spam, "default", "pass"),)
    return header_from, envelope_from, dkim, (spf,), exists, ""


AUTH_BY_KIND = {
    "own": _own_auth, "cloud": _cloud_auth, "esp": _esp_auth, "third_party": _third_party_auth,
    "forwarder": _forwarder_auth, "mailing_list": _mailing_list_auth, "spoofer": _spoofer_auth,
}
ONE_LEVEL_LOWER = {"reject": "quarantine", "quarantine": "none", "none": "none"}
REPORTER_CUM = tuple(accumulate(r.share for r in REPORTERS))
DOMAIN_CUM = tuple(accumulate(d.share for d in DOMAINS))


def _aligned_verdict(results: tuple[tuple[str, str, str], ...], org: str, spf: bool) -> str:
    """``pass`` when a passing result's domain is in the policy domain (relaxed alignment)."""
    for domain, scope, result in results:
        if (result == "pass" and (domain == org or domain.endswith("." + org))
                and (not spf or scope == "mfrom")):
            return "pass"
    return "fail"


def _decide_disposition(
    rng: random.Random, r: Reporter, d: PolicyDomain, auth: Auth, dmarc_pass: bool
) -> tuple[str, tuple[Reason, ...]]:
    header_from, _, _, _, exists, indirect = auth
    bis = r.dialect == "rfc9990"
    policy = d.p if header_from == d.name else d.sp
    if header_from != d.name and bis and not exists and d.np:
        policy = d.np  # only an RFC 9990 receiver applies np to a subdomain that does not exist
    if dmarc_pass:
        return ("pass" if bis and policy != "none" else "none"), ()
    if policy == "none":
        return "none", ()
    if not bis and d.pct < 100 and rng.random() * 100 >= d.pct:
        return ONE_LEVEL_LOWER[policy], ((("sampled_out", ""),) if rng.random() < 0.7 else ())
    if indirect and rng.random() < 0.6:
        return "none", (r.forward_reason if indirect == "forwarded" else r.list_reason,)
    if policy == "reject" and r.dialect == "outlook" and rng.random() < 0.5:
        return "quarantine", ()  # an unexplained downgrade, as Outlook sends them
    if policy == "reject" and rng.random() < 0.1:
        return "quarantine", (("local_policy", "quarantined instead of rejected"),)
    return policy, ()


def _draw_row(rng: random.Random, r: Reporter, d: PolicyDomain) -> tuple[tuple, int]:
    """One record: its content (without the count) and its message count."""
    sender: Sender = _pick(rng, *DOMAIN_SENDERS[d.name])
    ip = sender.ips[int(len(sender.ips) * rng.random() ** 2)]
    count = 1 + int(sender.count_scale * r.volume * rng.random() ** sender.count_power)
    auth = AUTH_BY_KIND[sender.kind](rng, sender, d)
    header_from, envelope_from, dkim_results, spf_results, _, _ = auth
    dkim = _aligned_verdict(dkim_results, d.name, False)
    spf = _aligned_verdict(spf_results, d.name, True)
    disposition, reasons = _decide_disposition(rng, r, d, auth, "pass" in (dkim, spf))
    envelope_to = rng.choice(r.envelope_to) if r.envelope_to else ""
    return (ip, disposition, dkim, spf, reasons, header_from, envelope_from, envelope_to,
            dkim_results, spf_results), count


def _draw_rows(rng: random.Random, r: Reporter, d: PolicyDomain, n: int) -> list[tuple]:
    """Rows a receiver would have merged into one are redrawn, a few times at most."""
    rows: dict[tuple, int] = {}
    while len(rows) < n:
        for _ in range(DUPLICATE_ROW_RETRIES):
            row, count = _draw_row(rng, r, d)
            if row not in rows:
                break
        rows[row] = rows.get(row, 0) + count
    return [(*row, count) for row, count in rows.items()]


def _record_count(rng: random.Random, records_mean: float) -> int:
    if records_mean <= 1:
        return 1
    geometric = math.log(1.0 - rng.random()) / math.log(1.0 - 1.0 / records_mean)
    return min(MAX_RECORDS, 1 + int(geometric))


def _new_report_id(rng: random.Random, r: Reporter, begin: int) -> str:
    match r.id_style:
        case "digits":
            return str(rng.randrange(10**18, 10**20))
        case "hex":
            return f"{rng.getrandbits(128):032x}"
        case "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        case "epoch":
            return f"{begin + DAY + rng.randrange(3600, 36000)}.{rng.randrange(10**6):06d}"
        case _:
            return f"<{rng.getrandbits(64):016x}.{begin}@{r.receiver}>"


def _file_id(report_id: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", report_id.split("@")[0])


XML_HEADS = {
    "google": '<?xml version="1.0" encoding="UTF-8" ?>\n<feedback>\n',
    "outlook": '<?xml version="1.0"?>\n<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
               ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n',
    "rfc9990": '<?xml version="1.0" encoding="UTF-8"?>\n'
               '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">\n',
}
DEFAULT_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n'
RFC9990_GENERATOR = "fastmail-dmarc-reporter 2.3.1"


def _render_metadata(r: Reporter, report_id: str, begin: int, end: int) -> str:
    extra = (f"    <extra_contact_info>{escape(r.extra_contact)}</extra_contact_info>\n"
             if r.extra_contact else "")
    generator = (f"    <generator>{RFC9990_GENERATOR}</generator>\n"
                 if r.dialect == "rfc9990" else "")
    return ("  <version>1.0</version>\n"
            f"  <report_metadata>\n    <org_name>{escape(r.org_name)}</org_name>\n"
            f"    <email>{escape(r.email)}</email>\n{extra}"
            f"    <report_id>{escape(report_id)}</report_id>\n"
            f"    <date_range>\n      <begin>{begin}</begin>\n      <end>{end}</end>\n"
            f"    </date_range>\n{generator}  </report_metadata>\n")


@cache
def _render_policy(d: PolicyDomain, bis: bool) -> str:
    tags: tuple[tuple[str, object], ...] = (
        (("domain", d.name), ("p", d.p), ("sp", d.sp), ("np", d.np), ("adkim", "r"),
         ("aspf", "r"), ("fo", d.fo), ("testing", "n"), ("discovery_method", "treewalk"))
        if bis else (("domain", d.name), ("adkim", "r"), ("aspf", "r"), ("p", d.p),
                     ("sp", d.sp), ("pct", d.pct), ("fo", d.fo))
    )
    body = "".join(f"    <{tag}>{escape(str(value))}</{tag}>\n" for tag, value in tags
                   if value != "")
    return f"  <policy_published>\n{body}  </policy_published>\n"


def _spf_results_for(spf_results: tuple[Spf, ...], dialect: str) -> tuple[Spf, ...]:
    if dialect == "rfc9990":  # at most one result, and only the mfrom scope exists
        return tuple((dom, scope if scope == "mfrom" else "", res)
                     for dom, scope, res in spf_results[:1])
    if dialect == "zoho":  # Zoho adds the HELO identity
        dom, _, res = spf_results[0]
        return (*spf_results, (dom, "helo", res if res == "pass" else "none"))
    return spf_results


@lru_cache(maxsize=1 << 16)
def _render_identifiers_and_auth(
    header_from: str, envelope_from: str, envelope_to: str,
    dkim_results: tuple[Dkim, ...], spf_results: tuple[Spf, ...], dialect: str,
) -> str:
    to = f"\n      <envelope_to>{escape(envelope_to)}</envelope_to>" if envelope_to else ""
    mail_from = ("" if dialect == "zoho"
                 else f"\n      <envelope_from>{escape(envelope_from)}</envelope_from>")
    dkim = "".join(
        f"\n      <dkim>\n        <domain>{escape(dom)}</domain>\n        <selector>"
        f"{escape(sel)}</selector>\n        <result>{res}</result>\n      </dkim>"
        for dom, sel, res in dkim_results
    )
    spf = "".join(
        f"\n      <spf>\n        <domain>{escape(dom)}</domain>"
        + (f"\n        <scope>{scope}</scope>" if scope else "")
        + f"\n        <result>{res}</result>\n      </spf>"
        for dom, scope, res in _spf_results_for(spf_results, dialect)
    )
    return (f"    <identifiers>{to}{mail_from}\n      <header_from>{escape(header_from)}"
            f"</header_from>\n    </identifiers>\n    <auth_results>{dkim}{spf}\n"
            f"    </auth_results>\n  </record>\n")


def _render_record(row: tuple, dialect: str) -> str:
    (ip, disposition, dkim, spf, reasons, header_from, envelope_from, envelope_to,
     dkim_results, spf_results, count) = row
    reason_xml = "".join(
        f"\n        <reason>\n          <type>{kind}</type>"
        + (f"\n          <comment>{escape(comment)}</comment>" if comment else "")
        + "\n        </reason>"
        for kind, comment in reasons
    )
    return (
        f"  <record>\n    <row>\n      <source_ip>{ip}</source_ip>\n      <count>{count}</count>"
        f"\n      <policy_evaluated>\n        <disposition>{disposition}</disposition>"
        f"\n        <dkim>{dkim}</dkim>\n        <spf>{spf}</spf>{reason_xml}"
        "\n      </policy_evaluated>\n    </row>\n"
        + _render_identifiers_and_auth(header_from, envelope_from, envelope_to, dkim_results,
                                       spf_results, dialect)
    )


def _build_report(
    rng: random.Random, midnight: int, records_mean: float, used_ids: set[str]
) -> SyntheticReport:
    r: Reporter = _pick(rng, REPORTERS, REPORTER_CUM)
    d: PolicyDomain = _pick(rng, DOMAINS, DOMAIN_CUM)
    begin = midnight - r.utc_offset
    end = begin + DAY - (0 if r.end_is_next_midnight else 1)
    report_id = _new_report_id(rng, r, begin)
    while _file_id(report_id) in used_ids:
        report_id = _new_report_id(rng, r, begin)
    used_ids.add(_file_id(report_id))
    rows = _draw_rows(rng, r, d, _record_count(rng, records_mean))
    xml = "".join((
        XML_HEADS.get(r.dialect, DEFAULT_XML_HEAD),
        _render_metadata(r, report_id, begin, end),
        _render_policy(d, r.dialect == "rfc9990"),
        *(_render_record(row, r.dialect) for row in rows),
        "</feedback>\n",
    ))
    return SyntheticReport(
        file_name=f"{r.receiver}!{d.name}!{begin}!{end}!{_file_id(report_id)}.xml",
        xml=xml.encode(),
        records=len(rows),
        messages=sum(row[-1] for row in rows),
    )


def generate_reports(
    n_reports: int,
    seed: int = 0,
    start: date | None = None,
    days: int = 42,
    records_mean: float = 20,
) -> Iterator[SyntheticReport]:
    """``n_reports`` reports spread evenly over ``days`` days from ``start``, oldest first."""
    if n_reports < 0 or days < 1 or records_mean < 1:
        raise ValueError("need n_reports >= 0, days >= 1 and records_mean >= 1")
    rng = random.Random(seed)
    first_midnight = int(datetime.combine(start or DEFAULT_START, time(), UTC).timestamp())
    used_ids: set[str] = set()
    for index in range(n_reports):
        midnight = first_midnight + index * days // n_reports * DAY
        yield _build_report(rng, midnight, records_mean, used_ids)


def package_report(report: SyntheticReport, container: str) -> tuple[str, bytes]:
    """The file name and bytes of ``report`` as ``.xml``, ``.xml.gz`` or a one-member ``.zip``."""
    if container == "xml":
        return report.file_name, report.xml
    if container == "xml.gz":
        return report.file_name + ".gz", gzip.compress(report.xml, compresslevel=6, mtime=0)
    if container == "zip":
        member = zipfile.ZipInfo(report.file_name, date_time=ZIP_DATE_TIME)
        member.compress_type = zipfile.ZIP_DEFLATED
        member.create_system = 3
        member.external_attr = 0o644 << 16
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(member, report.xml)
        return report.file_name.removesuffix(".xml") + ".zip", buffer.getvalue()
    raise ValueError(f"unknown container {container!r}; use one of {', '.join(CONTAINERS)}")


def _write_batch(directory: Path, batch: list[tuple[SyntheticReport, str]]) -> int:
    size = 0
    for report, container in batch:
        name, data = package_report(report, container)
        (directory / name).write_bytes(data)
        size += len(data)
    return size


def write_corpus(
    directory: Path,
    n_reports: int,
    seed: int = 0,
    mix: tuple[str, ...] = CONTAINERS,
    **kwargs: Any,
) -> CorpusStats:
    """Write ``n_reports`` reports into ``directory``, cycling through the containers in ``mix``.

    ``kwargs`` go to ``generate_reports`` (``start``, ``days``, ``records_mean``). A writer
    thread compresses and writes one batch while the next is generated (zlib and file I/O
    release the GIL).
    """
    if not mix or set(mix) - set(CONTAINERS):
        raise ValueError(f"mix must name some of {', '.join(CONTAINERS)}; got {mix!r}")
    directory.mkdir(parents=True, exist_ok=True)
    items = zip(generate_reports(n_reports, seed, **kwargs), cycle(mix))
    records = messages = size = 0
    with ThreadPoolExecutor(max_workers=1) as writer:
        in_flight: Future[int] | None = None
        while batch := list(islice(items, WRITE_BATCH)):
            records += sum(report.records for report, _ in batch)
            messages += sum(report.messages for report, _ in batch)
            if in_flight:
                size += in_flight.result()
            in_flight = writer.submit(_write_batch, directory, batch)
        size += in_flight.result() if in_flight else 0
    return CorpusStats(files=n_reports, reports=n_reports, records=records, messages=messages,
                       bytes=size)
