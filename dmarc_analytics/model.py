"""The vocabulary: frozen value types for a DMARC aggregate report and its parts.

Values are the RFCs' lowercase tokens, normalised by ``parse``. Fields typed ``str`` keep a
value even when it is outside the RFC's set (an ``Issue`` on the report says so), because
dropping a receiver's word would lose data. Collections are tuples so everything is hashable.
Times are integers: seconds since the epoch, UTC, exactly as the report states them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from dmarc_analytics.errors import Issue


class ReportFormat(StrEnum):
    RFC7489 = "rfc7489"
    RFC9990 = "rfc9990"
    DRAFT = "draft"  # pre-RFC dmarc.org draft shape: no <version>, older element names


class Disposition(StrEnum):
    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"
    PASS = "pass"  # RFC 9990: DMARC passed under an enforcing policy, no action


class Verdict(StrEnum):
    """policy_evaluated dkim/spf: the receiver's *aligned* verdict per mechanism."""

    PASS = "pass"
    FAIL = "fail"


class DkimResultCode(StrEnum):
    NONE = "none"
    PASS = "pass"
    FAIL = "fail"
    POLICY = "policy"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class SpfResultCode(StrEnum):
    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"
    POLICY = "policy"


class SpfScope(StrEnum):
    HELO = "helo"
    MFROM = "mfrom"


class OverrideType(StrEnum):
    FORWARDED = "forwarded"
    SAMPLED_OUT = "sampled_out"
    TRUSTED_FORWARDER = "trusted_forwarder"
    MAILING_LIST = "mailing_list"
    LOCAL_POLICY = "local_policy"
    POLICY_TEST_MODE = "policy_test_mode"
    OTHER = "other"


class Alignment(StrEnum):
    RELAXED = "r"
    STRICT = "s"


@dataclass(frozen=True, slots=True)
class DkimResult:
    domain: str | None
    selector: str | None
    result: str
    human_result: str | None = None


@dataclass(frozen=True, slots=True)
class SpfResult:
    domain: str | None
    scope: str | None
    result: str
    human_result: str | None = None


@dataclass(frozen=True, slots=True)
class OverrideReason:
    type: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One <record>: a (source IP, evaluation, identifiers, auth results) tuple and its count."""

    source_ip: str
    count: int
    disposition: str
    dkim: str | None  # policy_evaluated/dkim: aligned verdict
    spf: str | None  # policy_evaluated/spf: aligned verdict
    header_from: str | None
    envelope_from: str | None = None
    envelope_to: str | None = None
    reasons: tuple[OverrideReason, ...] = ()
    dkim_results: tuple[DkimResult, ...] = ()
    spf_results: tuple[SpfResult, ...] = ()

    @property
    def dmarc_pass(self) -> bool:
        """DMARC passes when either aligned verdict passed (RFC 7489 §6.6.2)."""
        return self.dkim == Verdict.PASS or self.spf == Verdict.PASS


@dataclass(frozen=True, slots=True)
class PolicyPublished:
    """The DMARC record the receiver found, exactly as reported (``None`` = not reported).

    The ``effective_*`` properties apply the RFC defaults, so "reported" and "defaulted"
    are never confused.
    """

    domain: str
    p: str | None
    sp: str | None = None
    np: str | None = None
    pct: int | None = None
    adkim: str | None = None
    aspf: str | None = None
    fo: str | None = None
    testing: str | None = None
    discovery_method: str | None = None

    @property
    def effective_p(self) -> str:
        return self.p or "none"

    @property
    def effective_sp(self) -> str:
        return self.sp or self.effective_p

    @property
    def effective_np(self) -> str:
        return self.np or self.effective_sp

    @property
    def effective_pct(self) -> int:
        return 100 if self.pct is None else self.pct

    @property
    def effective_adkim(self) -> str:
        return self.adkim or Alignment.RELAXED

    @property
    def effective_aspf(self) -> str:
        return self.aspf or Alignment.RELAXED

    @property
    def effective_fo(self) -> str:
        return self.fo or "0"

    @property
    def effective_testing(self) -> str:
        return self.testing or "n"


@dataclass(frozen=True, slots=True)
class ReportMetadata:
    org_name: str
    email: str | None
    report_id: str
    begin: int  # epoch seconds, UTC
    end: int  # epoch seconds, UTC
    extra_contact_info: str | None = None
    generator: str | None = None
    errors: tuple[str, ...] = ()

    @property
    def begin_utc(self) -> datetime:
        return datetime.fromtimestamp(self.begin, UTC)

    @property
    def end_utc(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)


@dataclass(frozen=True, slots=True)
class ReportIdentity:
    """What makes two reports "the same report" (see README, data model)."""

    org_name: str  # trimmed, case-folded
    report_id: str  # trimmed, any <...> wrapper removed
    policy_domain: str
    begin: int
    end: int

    @property
    def key(self) -> str:
        return "\x1f".join(
            (self.org_name, self.report_id, self.policy_domain, str(self.begin), str(self.end))
        )


MULTI_DAY_SECONDS = 86400
# DMARC reporting began in 2012 (the specification was published on 30 January 2012); a
# period that begins before this is a reporter's bug, such as a date in the wrong unit.
FIRST_DMARC_REPORTS = 1_325_376_000  # 2012-01-01 00:00 UTC


@dataclass(frozen=True, slots=True)
class AggregateReport:
    format: ReportFormat
    metadata: ReportMetadata
    policy: PolicyPublished
    records: tuple[Record, ...]
    version: str | None = None
    issues: tuple[Issue, ...] = ()
    partial: bool = False  # recovered from broken XML; data may be incomplete

    @property
    def identity(self) -> ReportIdentity:
        report_id = self.metadata.report_id.strip()
        if report_id.startswith("<") and report_id.endswith(">"):
            report_id = report_id[1:-1].strip()
        return ReportIdentity(
            org_name=self.metadata.org_name.strip().casefold(),
            report_id=report_id,
            policy_domain=self.policy.domain,
            begin=self.metadata.begin,
            end=self.metadata.end,
        )

    @property
    def message_count(self) -> int:
        return sum(r.count for r in self.records)

    @property
    def spans_multiple_days(self) -> bool:
        return self.metadata.end - self.metadata.begin > MULTI_DAY_SECONDS


@dataclass(frozen=True, slots=True)
class Payload:
    """One candidate report document found inside an input, with where it was found.

    ``origin`` is the path inside the carrier, e.g. ``reports.zip/a/google.xml`` or
    ``label.mbox/message 12/part 2/report.xml.gz``; ``containers`` lists the wrappers
    that were removed, outermost first (``("mbox", "email", "gzip")``); ``notes`` says what
    unwrapping it left aside (bytes after a gzip stream), for the report's issues.
    """

    origin: str
    data: bytes
    containers: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # XML not yet looked at for several documents in one (``decode.split_payload``)
    split_pending: bool = False


@dataclass(frozen=True, slots=True)
class RejectedPart:
    """A part of an input that is not usable, with the reason in words a user understands."""

    origin: str
    reason: str
    kind: str  # "tls-report", "failure-report", "not-a-report", "limit", "corrupt", "unsafe"
    # (and "unexpected" on a parse result: a fault no rule foresaw)
