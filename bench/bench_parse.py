"""Measure parse_report throughput in records per second of CPU time on one core.

Usage: .venv/bin/python bench/bench_parse.py [--passes N] [FILE.xml ...]

Without files: a synthetic 20,000-record report and, when the ../shared corpus is present,
its 2,286-record report. Each input is parsed once to warm up, then N times; the best and
the median pass are shown, next to lxml's tree building alone (the floor). CPU time rather
than wall time, because the development machine is shared; still, compare several runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dmarc_analytics.parse import parse_report  # noqa: E402
from dmarc_analytics.parse_xml import STRICT_PARSER  # noqa: E402

CORPUS_LARGE = (
    Path(__file__).resolve().parents[2]
    / "shared/corpus/aggregate/!large-example.com!1711897200!1711983600.xml"
)


def synthetic_report(records: int) -> bytes:
    """A Google-shaped RFC 7489 report with ``records`` varied records (IPv4 and IPv6)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8" ?>\n<feedback>\n<version>1.0</version>\n'
        "<report_metadata><org_name>google.com</org_name>"
        "<email>noreply-dmarc-support@google.com</email>"
        "<report_id>1234567890</report_id>"
        "<date_range><begin>1718236800</begin><end>1718323199</end></date_range>"
        "</report_metadata>\n<policy_published><domain>example.com</domain><adkim>r</adkim>"
        "<aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct></policy_published>\n"
    ]
    for i in range(records):
        ipv6 = f"2001:db8:{i % 65536:x}::{i % 7 + 1}"
        ip = ipv6 if i % 5 == 0 else f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        passed = "pass" if i % 3 else "fail"
        dkim = (
            f"<dkim><domain>example.com</domain><selector>s{i % 4}</selector>"
            f"<result>{passed}</result></dkim>"
        )
        if i % 10 == 0:
            dkim += "<dkim><domain>esp.example.net</domain><selector>k1</selector>"
            dkim += "<result>pass</result></dkim>"
        reason = "<reason><type>local_policy</type></reason>" if i % 50 == 0 else ""
        parts.append(
            f"<record><row><source_ip>{ip}</source_ip><count>{i % 17 + 1}</count>"
            f"<policy_evaluated><disposition>none</disposition><dkim>{passed}</dkim>"
            f"<spf>pass</spf>{reason}</policy_evaluated></row>"
            "<identifiers><header_from>example.com</header_from>"
            "<envelope_from>bounce.example.com</envelope_from></identifiers>"
            f"<auth_results>{dkim}<spf><domain>bounce.example.com</domain>"
            "<scope>mfrom</scope><result>pass</result></spf></auth_results></record>\n"
        )
    parts.append("</feedback>\n")
    return "".join(parts).encode()


def cpu_seconds(action, passes: int) -> tuple[float, float]:
    """Best and median CPU time of ``passes`` runs of ``action`` (after one warm-up run)."""
    action()
    timings = []
    for _ in range(passes):
        start = time.process_time()
        action()
        timings.append(time.process_time() - start)
    return min(timings), statistics.median(timings)


def measure(name: str, data: bytes, passes: int) -> None:
    records = len(parse_report(data).records)
    best, median = cpu_seconds(lambda: parse_report(data), passes)
    tree, _ = cpu_seconds(lambda: etree.fromstring(data, STRICT_PARSER), passes)
    print(
        f"{name}: {records:,} records; parse_report best {records / best:,.0f} records/s "
        f"(median {records / median:,.0f}); lxml tree alone {records / tree:,.0f} records/s"
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--passes", type=int, default=9)
    options.add_argument("files", nargs="*", type=Path)
    args = options.parse_args()
    inputs = [(path.name, path.read_bytes()) for path in args.files]
    if not inputs:
        inputs.append(("synthetic", synthetic_report(20_000)))
        if CORPUS_LARGE.exists():
            inputs.append((CORPUS_LARGE.name, CORPUS_LARGE.read_bytes()))
    for name, data in inputs:
        measure(name, data, args.passes)


if __name__ == "__main__":
    main()
