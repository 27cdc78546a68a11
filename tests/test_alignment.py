"""Our recomputation of alignment (the receiver's verdict stays the truth)."""

import pytest

from dmarc_analytics.alignment import check_alignment, is_aligned, organizational_domain
from dmarc_analytics.model import DkimResult, Record, SpfResult


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("mail.example.co.jp", "example.co.jp"),
        ("Example.COM.", "example.com"),
        ("a.b.example.com", "example.com"),
        ("co.jp", "co.jp"),
        ("localhost", "localhost"),
    ],
)
def test_organizational_domain(domain, org):
    assert organizational_domain(domain) == org


@pytest.mark.parametrize(
    ("domain", "header_from", "mode", "aligned"),
    [
        ("example.com", "example.com", "s", True),
        ("mail.example.com", "example.com", "s", False),
        ("mail.example.com", "example.com", "r", True),
        ("bounce.example.co.jp", "news.example.co.jp", "r", True),
        ("other.co.jp", "example.co.jp", "r", False),
        ("sendgrid.net", "example.com", "r", False),
        (None, "example.com", "r", False),
    ],
)
def test_is_aligned(domain, header_from, mode, aligned):
    assert is_aligned(domain, header_from, mode) is aligned


def record(**changes):
    base = dict(
        source_ip="192.0.2.1", count=1, disposition="none", dkim="fail", spf="fail",
        header_from="example.com",
    )  # fmt: skip
    return Record(**(base | changes))


def test_authenticated_but_not_aligned():
    check = check_alignment(
        record(
            dkim_results=(DkimResult("esp.net", "k1", "pass"),),
            spf_results=(SpfResult("bounce.esp.net", "mfrom", "pass"),),
        ),
        "r",
        "r",
    )
    assert (check.dkim_aligned, check.spf_aligned, check.verdict_mismatch) == (False, False, False)
    assert check.unaligned_pass_domains == ("dkim:esp.net", "spf:bounce.esp.net")


def test_helo_pass_for_the_from_domain_is_neither_aligned_nor_unaligned():
    check = check_alignment(
        record(spf_results=(SpfResult("example.com", "helo", "pass"),)), "r", "r"
    )
    assert check.spf_aligned is False  # HELO does not count for DMARC
    assert check.spf_flags == (True,)
    assert check.unaligned_pass_domains == ()


def test_a_helo_pass_for_the_servers_own_name_is_not_an_unaligned_sender():
    # Zoho: DKIM aligned, SPF for the envelope sender, and a HELO pass for its own server.
    check = check_alignment(
        record(
            dkim="pass",
            dkim_results=(DkimResult("example.com", "zoho", "pass"),),
            spf_results=(SpfResult("example.net", "mfrom", "pass"),
                         SpfResult("mx.zoho.com", "helo", "pass")),
        ),
        "r",
        "r",
    )  # fmt: skip
    assert check.unaligned_pass_domains == ("spf:example.net",)


def test_mismatch_with_the_receiver_is_flagged():
    check = check_alignment(
        record(dkim="fail", dkim_results=(DkimResult("mail.example.com", "s", "pass"),)), "r", "r"
    )
    assert (check.dkim_aligned, check.verdict_mismatch) == (True, True)
    strict = check_alignment(
        record(dkim="fail", dkim_results=(DkimResult("mail.example.com", "s", "pass"),)), "s", "r"
    )
    assert (strict.dkim_aligned, strict.verdict_mismatch) == (False, False)


def test_without_header_from_nothing_is_judged():
    check = check_alignment(
        record(header_from=None, dkim_results=(DkimResult("esp.net", "k", "pass"),)), "r", "r"
    )
    assert (check.dkim_aligned, check.spf_aligned, check.verdict_mismatch) == (None, None, None)
    assert check.unaligned_pass_domains == ()
