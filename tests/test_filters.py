"""The filter model: params round trips and the compiled SQL, as one table."""

import re
from datetime import date
from pathlib import Path

import pytest

from dmarc_analytics.errors import FilterError
from dmarc_analytics.filters import FIELDS, Filter, compile_filter, quote_value
from dmarc_analytics.i18n_en import ENGLISH

CASES = [
    ({}, "TRUE", {}),
    ({"since": "2026-01-02"}, "day >= $since", {"since": date(2026, 1, 2)}),
    (
        {"since": "2026-01-02", "until": "2026-01-31"},
        "day >= $since AND day <= $until",
        {"since": date(2026, 1, 2), "until": date(2026, 1, 31)},
    ),
    (
        {"policy_domain": "Example.COM., example.org"},
        "policy_domain IN (SELECT unnest($policy_domain))",
        {"policy_domain": ["example.com", "example.org"]},
    ),
    (
        {"reporter": ["Google.com", "Outlook.com"]},
        "rtrim(lower(reporter), '.') IN (SELECT rtrim(lower(unnest($reporter)), '.'))",
        {"reporter": ["Google.com", "Outlook.com"]},
    ),
    (
        {"header_from": "mail.example.com"},
        "header_from IN (SELECT unnest($header_from))",
        {"header_from": ["mail.example.com"]},
    ),
    (
        {"disposition": "Reject,quarantine"},
        "disposition IN (SELECT unnest($disposition))",
        {"disposition": ["reject", "quarantine"]},
    ),
    ({"dmarc": "pass"}, "dmarc_pass", {}),
    ({"dmarc": "FAIL"}, "NOT dmarc_pass", {}),
    ({"spf_aligned": "yes"}, "spf = 'pass'", {}),
    ({"dkim_aligned": "no"}, "dkim IS DISTINCT FROM 'pass'", {}),
    (
        {"source_ip": "192.0.2.7"},
        "((ip_version = 4 AND ip_num BETWEEN CAST($ip0_lo AS UHUGEINT) AND "
        "CAST($ip0_hi AS UHUGEINT)))",
        {"ip0_lo": str(0xC0000207), "ip0_hi": str(0xC0000207)},
    ),
    (
        {"source-ip": "2001:db8::/32"},
        "((ip_version = 6 AND ip_num BETWEEN CAST($ip0_lo AS UHUGEINT) AND "
        "CAST($ip0_hi AS UHUGEINT)))",
        {
            "ip0_lo": str(0x20010DB8 << 96),
            "ip0_hi": str((0x20010DB8 << 96) | ((1 << 96) - 1)),
        },
    ),
]


@pytest.mark.parametrize(("params", "sql", "bound"), CASES)
def test_compile_filter(params, sql, bound):
    where = compile_filter(Filter.from_params(params))
    assert where.sql == sql
    assert where.params == bound


@pytest.mark.parametrize(("params", "sql", "bound"), CASES)
def test_params_round_trip(params, sql, bound):
    flt = Filter.from_params(params)
    assert Filter.from_params(flt.to_params()) == flt


def test_report_level_compilation_ignores_record_fields():
    flt = Filter.from_params({"reporter": "google.com", "dmarc": "fail", "since": "2026-01-01"})
    where = compile_filter(flt, report_level_only=True)
    assert where.sql == (
        "day >= $since AND rtrim(lower(reporter), '.') IN "
        "(SELECT rtrim(lower(unnest($reporter)), '.'))"
    )
    assert flt.has_record_conditions
    assert not Filter.from_params({"reporter": "x"}).has_record_conditions


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"colour": "red"}, "unknown filter 'colour'"),
        ({"since": "yesterday"}, "'yesterday' is not a date"),
        # 9999-12-31 in a link overflowed the day arithmetic behind the pages
        ({"until": "9999-12-31"}, "until: 9999-12-31 is not between 1970-01-01 and 2199-12-31"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "is after until"),
        ({"disposition": "deleted"}, "'deleted' is not one of none, quarantine, reject, pass"),
        ({"dmarc": "maybe"}, "'maybe' is not one of pass, fail"),
        ({"spf_aligned": "perhaps"}, "spf_aligned must be yes or no"),
        ({"source_ip": "300.1.1.1"}, "'300.1.1.1' is not an IP address or CIDR range"),
    ],
)
def test_invalid_params_are_filter_errors(params, message):
    with pytest.raises(FilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Filter.from_params(params)


def test_filter_errors_carry_their_catalogue_key_and_values():
    with pytest.raises(FilterError) as caught:
        Filter.from_params({"since": "yesterday"})
    error = caught.value
    assert (error.key, dict(error.values)) == (
        "filter_error.not_a_date", {"field": "since", "value": "yesterday"}
    )
    assert str(error) == "since: 'yesterday' is not a date (YYYY-MM-DD)"  # the CLI's text


def test_every_worded_error_key_is_in_the_english_catalogue():
    library = Path(__file__).resolve().parents[1] / "dmarc_analytics"
    keys = {key for path in library.glob("*.py")
            for key in re.findall(r"""\.worded\(\s*["']([a-z_.0-9]+)["']""", path.read_text())}
    assert len(keys) >= 11
    assert sorted(keys - set(ENGLISH)) == []


def test_every_field_is_a_filter_attribute():
    names = [f.name for f in FIELDS]
    assert names == [
        "since", "until", "policy_domain", "header_from", "reporter", "source_ip",
        "disposition", "dmarc", "spf_aligned", "dkim_aligned",
    ]  # fmt: skip
    assert all(hasattr(Filter(), n) for n in names)


def test_reporter_names_keep_their_dots_and_commas_are_quoted():
    # "Test Inc." lost its dot and "Example, Inc." was cut in two, so neither matched.
    flt = Filter.from_params({"reporter": ["Test Inc.", '"Example, Inc."'],
                              "policy_domain": "Example.COM."})  # fmt: skip
    assert flt.reporter == ("Test Inc.", "Example, Inc.")
    assert flt.policy_domain == ("example.com",)  # a domain's trailing dot still goes
    assert flt.to_params()["reporter"] == 'Test Inc.,"Example, Inc."'
    assert Filter.from_params(flt.to_params()) == flt
    assert Filter.from_params({"reporter": 'a, b ,"c,d", "say ""hi"""'}).reporter == (
        "a", "b", "c,d", 'say "hi"',
    )  # fmt: skip
    assert quote_value('say "hi"') == 'say "hi"' and quote_value('"x') == '"""x"'
    # A line break in a crafted link is part of a value (the csv module raised on it).
    assert Filter.from_params({"reporter": "a\nb,c"}).reporter == ("a\nb", "c")


def test_an_internationalised_domain_filters_in_its_ascii_form():
    # Stored names are in ASCII form (parse_fields.normalise_domain): either spelling finds them.
    flt = Filter.from_params({"header_from": "Bücher.example.", "policy_domain": "例え.jp"})
    assert flt.header_from == ("xn--bcher-kva.example",)
    assert flt.policy_domain == ("xn--r8jz45g.jp",)
    assert Filter.from_params({"header_from": "xn--bcher-kva.example"}).header_from == (
        "xn--bcher-kva.example",
    )


def test_an_ipv4_mapped_address_filters_as_the_ipv4_address_it_maps():
    # Reports' ::ffff:192.0.2.7 is stored as 192.0.2.7; the filter matched nothing.
    flt = Filter.from_params({"source_ip": "::ffff:192.0.2.7, ::FFFF:198.51.100.0/120"})
    assert flt.source_ip == ("192.0.2.7/32", "198.51.100.0/24")
    assert compile_filter(flt).params == compile_filter(
        Filter.from_params({"source_ip": "192.0.2.7,198.51.100.0/24"})
    ).params
    assert Filter.from_params({"source_ip": "::ffff:0:0/95"}).source_ip == ("::fffe:0:0/95",)
