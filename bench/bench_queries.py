"""Median time of each page query (dmarc_analytics.insights) on a 1,000,000-record database.

Usage: python bench/bench_queries.py [--records N] [--method auto|ingest|sql] [--rebuild]
                                     [--runs K] [--db PATH]

The database is cached under bench/out/. ``ingest`` writes a synthetic corpus with
``dmarc_analytics.synth.write_corpus`` and runs ``python -m dmarc_analytics ingest`` on it;
``sql`` generates the rows directly in DuckDB, shaped like docs/performance-notes.md §1
(8 skewed reporters, 3 policy domains, 20,000 skewed source IPs of which 1 in 6 IPv6,
count = 1 + floor(199·u⁶), 80 % legitimate senders, rows in report-time order). ``auto``
tries a small ingest first and falls back to ``sql`` when the ingest command does not work.

Each query runs once to warm up, then ``--runs`` times on one read-only connection; the
median and the fastest run are printed for the unfiltered view and for a narrow filter (the
last 91 days, the biggest reporter, dispositions none + quarantine), with the load average:
on a shared machine the fastest run is the better guide to the query's own cost.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from dmarc_analytics import insights as ins  # noqa: E402
from dmarc_analytics.export import records_csv_bytes  # noqa: E402
from dmarc_analytics.filters import Filter  # noqa: E402
from dmarc_analytics.queries import summary  # noqa: E402
from dmarc_analytics.store import open_store  # noqa: E402
from dmarc_analytics.synth import write_corpus  # noqa: E402

OUT = ROOT / "bench" / "out"
RECORDS_PER_REPORT = 20
BUDGET_MS = 100.0
BERLIN = "Europe/Berlin"

_REPORTERS = """CASE WHEN ur < 0.35 THEN 'google.com' WHEN ur < 0.60 THEN 'Outlook.com'
    WHEN ur < 0.72 THEN 'Yahoo' WHEN ur < 0.80 THEN 'Mail.Ru' WHEN ur < 0.87 THEN 'Comcast'
    WHEN ur < 0.92 THEN 'zoho.com' WHEN ur < 0.96 THEN 'GMX' ELSE 'Fastmail' END"""
_DOMAINS = """CASE WHEN ud < 0.6 THEN 'example.com' WHEN ud < 0.85 THEN 'example.org'
    ELSE 'example.net' END"""

GENERATE_SQL = f"""
CREATE OR REPLACE TEMP MACRO u(i, salt) AS (hash(i, salt) % 1000003) / 1000003.0;
CREATE TEMP TABLE g_rep AS
WITH base AS (
    SELECT i, 1 + CAST(hash(i, 'n') % 39 AS INTEGER) AS n, u(i, 'reporter') AS ur,
           u(i, 'domain') AS ud, CAST(hash(i, 'day') % 365 AS INTEGER) AS d,
           u(i, 'multi') < 0.005 AS multi
    FROM range(0, $candidates) t(i)
), sized AS (
    SELECT *, sum(n) OVER (ORDER BY i ROWS UNBOUNDED PRECEDING) - n AS start FROM base
)
SELECT row_number() OVER (ORDER BY d, i) AS report_key, i,
       CAST(least(n, $records - start) AS BIGINT) AS n,
       {_REPORTERS} AS reporter, {_DOMAINS} AS policy_domain,
       DATE '2025-01-01' + d AS day,
       TIMESTAMP '2025-01-01' + to_days(d) AS begin_utc,
       TIMESTAMP '2025-01-01' + to_days(d) + to_seconds(CASE WHEN multi THEN 604799 ELSE 86399 END)
           AS end_utc,
       multi
FROM sized WHERE start < $records;

CREATE TEMP TABLE g_rec AS
WITH rows AS (
    SELECT report_key, unnest(range(n)) AS ordinal, begin_utc, day, reporter, policy_domain
    FROM g_rep
), drawn AS (
    SELECT *, report_key * 64 + ordinal AS rid,
           CAST(floor(20000 * pow(u(report_key * 64 + ordinal, 'ip'), 3)) AS INTEGER) AS k
    FROM rows
), flags AS (
    SELECT *, k % 5 <> 0 AS legit, k % 6 = 5 AS v6,
           u(rid, 'dkim') < CASE WHEN k % 5 <> 0 THEN 0.95 ELSE 0.03 END AS dkim_ok,
           u(rid, 'spf') < CASE WHEN k % 5 <> 0 THEN 0.90 ELSE 0.05 END AS spf_ok,
           u(rid, 'hf') AS uh, u(rid, 'disp') AS ux, u(rid, 'extra') AS ue
    FROM drawn
)
SELECT *,
    CASE policy_domain WHEN 'example.com' THEN
             CASE WHEN uh < 0.7 THEN 'example.com' ELSE 'mail.example.com' END
         WHEN 'example.org' THEN
             CASE WHEN uh < 0.8 THEN 'example.org' ELSE 'news.example.org' END
         ELSE 'example.net' END AS header_from,
    CASE WHEN legit AND spf_ok THEN 'bounce.' || policy_domain
         WHEN legit THEN 'bounce.esp-mail.net'
         ELSE 'spoof-' || (k % 50) || '.example' END AS envelope_from,
    legit AND ue < 0.2 AS esp_signature,
    NOT legit AND NOT dkim_ok AND ue < 0.3 AS foreign_pass,
    legit AND NOT spf_ok AND ue < 0.6 AS bounce_pass,
    NOT (dkim_ok OR spf_ok) AND ux < 0.4 AND ue < 0.5 AS overridden
FROM flags;

INSERT INTO records
SELECT report_key, ordinal, begin_utc, day, reporter, policy_domain,
    CASE WHEN v6 THEN '2001:db8::' || lower(printf('%x', k))
         ELSE '10.0.' || (k // 256) || '.' || (k % 256) END,
    CASE WHEN v6 THEN 6 ELSE 4 END,
    CASE WHEN v6 THEN CAST('42540766411282592856903984951653826560' AS UHUGEINT) + k
         ELSE CAST(167772160 + k AS UHUGEINT) END,
    1 + CAST(floor(199 * pow(u(rid, 'count'), 6)) AS BIGINT),
    CASE WHEN dkim_ok OR spf_ok OR ux < 0.4 THEN 'none' WHEN ux < 0.75 THEN 'quarantine'
         ELSE 'reject' END,
    CASE WHEN dkim_ok THEN 'pass' ELSE 'fail' END,
    CASE WHEN spf_ok THEN 'pass' ELSE 'fail' END,
    dkim_ok OR spf_ok, header_from, envelope_from,
    CASE WHEN ue > 0.9 THEN header_from END,
    CASE WHEN overridden THEN CASE WHEN ue < 0.25 THEN 'forwarded' ELSE 'mailing_list' END END,
    concat_ws('; ',
        CASE WHEN foreign_pass THEN 'esp-mail.net/k1=pass'
             ELSE policy_domain || '/s1=' || CASE WHEN dkim_ok THEN 'pass' ELSE 'fail' END END,
        CASE WHEN esp_signature THEN 'esp-mail.net/k1=pass' END),
    'mfrom:' || envelope_from || '='
        || CASE WHEN spf_ok OR bounce_pass THEN 'pass' WHEN legit THEN 'softfail' ELSE 'fail' END,
    dkim_ok, spf_ok, ue BETWEEN 0.5 AND 0.505,
    esp_signature OR foreign_pass OR bounce_pass,
    nullif(concat_ws('; ', CASE WHEN esp_signature OR foreign_pass THEN 'dkim:esp-mail.net' END,
                     CASE WHEN bounce_pass THEN 'spf:bounce.esp-mail.net' END), '')
FROM g_rec ORDER BY report_key, ordinal;

INSERT INTO dkim_results
SELECT report_key, ordinal, 0,
    CASE WHEN foreign_pass THEN 'esp-mail.net' ELSE policy_domain END,
    CASE WHEN foreign_pass THEN 'k1' ELSE 's1' END,
    CASE WHEN dkim_ok OR foreign_pass THEN 'pass' ELSE 'fail' END, NULL, NOT foreign_pass
FROM g_rec
UNION ALL
SELECT report_key, ordinal, 1, 'esp-mail.net', 'k1', 'pass', NULL, false
FROM g_rec WHERE esp_signature
ORDER BY 1, 2, 3;

INSERT INTO spf_results
SELECT report_key, ordinal, 0, envelope_from, 'mfrom',
    CASE WHEN spf_ok OR bounce_pass THEN 'pass' WHEN legit THEN 'softfail' ELSE 'fail' END,
    NULL, legit AND spf_ok
FROM g_rec ORDER BY report_key, ordinal;

INSERT INTO override_reasons
SELECT report_key, ordinal, 0, CASE WHEN ue < 0.25 THEN 'forwarded' ELSE 'mailing_list' END,
    CASE WHEN ue < 0.1 THEN 'list.example.org' END
FROM g_rec WHERE overridden ORDER BY report_key, ordinal;

INSERT INTO reports (report_key, identity, content_sha256, format, version, org_name, reporter,
    email, report_id, begin_utc, end_utc, day, errors, policy_domain, p, sp, pct, adkim, aspf,
    effective_p, effective_sp, effective_np, effective_pct, effective_adkim, effective_aspf,
    records, messages, partial, multi_day, issue_count, input_sha256, origin, demo,
    ingested_at)
SELECT g.report_key, sha256('identity' || g.report_key), sha256('content' || g.report_key),
    'rfc7489', '1.0', g.reporter, g.reporter, 'dmarc@' || lower(g.reporter),
    CAST(1000000000000000000 + hash(g.report_key, 'id') % 8999999999999999999 AS VARCHAR),
    g.begin_utc, g.end_utc, g.day, [], g.policy_domain, 'reject', 'quarantine', 100, 'r', 'r',
    'reject', 'quarantine', 'quarantine', 100, 'r', 'r',
    coalesce(a.n, 0), coalesce(a.m, 0), g.report_key % 997 = 0, g.multi,
    CASE WHEN g.report_key % 50 = 0 THEN 1 ELSE 0 END, sha256('input' || g.report_key),
    'report-' || g.report_key || '.xml', false, g.end_utc + INTERVAL 2 HOUR
FROM g_rep g LEFT JOIN (
    SELECT report_key, count(*) AS n, sum(count) AS m FROM records GROUP BY report_key
) a USING (report_key) ORDER BY g.report_key;

INSERT INTO report_issues
SELECT report_key, 0, 'token-case', 'info', 'Lower-cased values not written in lower case',
    'policy_published/p'
FROM reports WHERE issue_count > 0;

INSERT INTO ingest_ledger
SELECT report_key, ingested_at, 'cli', origin, input_sha256, 4096, 'inserted', NULL, 1,
    records, messages, 0, 0, CAST(partial AS INTEGER), 0
FROM reports ORDER BY report_key;

INSERT INTO conflicts
SELECT identity, report_key, sha256('other' || report_key), sha256('x' || report_key),
    origin, report_key, ingested_at
FROM reports WHERE report_key % 1000 = 0;

UPDATE state SET value = value + 1 WHERE key = 'data_version';
"""


def build_with_sql(path: Path, records: int) -> None:
    candidates = records // RECORDS_PER_REPORT + 10_000
    with open_store(path) as con:
        for statement in re.split(r";\s*\n", GENERATE_SQL):
            if statement.strip():
                params = {"candidates": candidates, "records": records} if "$" in statement else {}
                con.execute(statement, params)
        con.execute("CHECKPOINT")


def ingest_works(folder: Path) -> bool:
    """Ingest 3 synthetic reports into a scratch database; True if they arrive."""
    corpus = folder / "probe-corpus"
    write_corpus(corpus, 3, seed=7)
    db = folder / "probe.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "dmarc_analytics", "ingest", "--db", str(db), "--no-archive",
         str(corpus)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    if done.returncode != 0 or not db.exists():
        return False
    with open_store(db, read_only=True) as con:
        return con.execute("SELECT count(*) FROM records").fetchall()[0][0] > 0


def build_with_ingest(path: Path, records: int) -> None:
    corpus = OUT / f"corpus-{records}"
    if not corpus.exists():
        stats = write_corpus(corpus, records // RECORDS_PER_REPORT, seed=1, days=365,
                             start=date(2025, 1, 1))  # fmt: skip
        print(f"wrote {stats.files} files, {stats.records} records", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "dmarc_analytics", "ingest", "--db", str(path), "--no-archive",
         str(corpus)],
        check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip


def database(records: int, method: str, rebuild: bool) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    if method == "auto":
        with tempfile.TemporaryDirectory() as scratch:
            method = "ingest" if ingest_works(Path(scratch)) else "sql"
        print(f"method: {method}", file=sys.stderr)
    path = OUT / f"insights-{method}-{records}.duckdb"
    if rebuild:
        path.unlink(missing_ok=True)
    if not path.exists():
        started = time.perf_counter()
        try:
            (build_with_ingest if method == "ingest" else build_with_sql)(path, records)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        print(f"built {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def timings_ms(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, fastest) of ``runs`` calls after one warm-up call."""
    call()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), min(timings)


def narrow_filter(con: duckdb.DuckDBPyConnection) -> Filter:
    choices = ins.filter_choices(con)
    biggest = ins.reporters(con, Filter()).reporter.iloc[0]
    last = choices.last_day or date.today()
    return Filter(since=last - timedelta(days=90), until=last, reporter=(biggest.lower(),),
                  disposition=("none", "quarantine"))  # fmt: skip


def questions(
    con: duckdb.DuckDBPyConnection, flt: Filter
) -> list[tuple[str, Callable[[], object]]]:
    ip = ins.top_sources(con, flt, limit=1).source_ip.iloc[0]
    key = int(ins.report_list(con, flt, limit=1).report_key.iloc[0])
    return [
        ("queries.summary (reference)", lambda: summary(con, flt)),
        ("overview", lambda: ins.overview(con, flt)),
        ("daily_messages", lambda: ins.daily_messages(con, flt)),
        ("daily_messages tz=Europe/Berlin", lambda: ins.daily_messages(con, flt, tz=BERLIN)),
        ("disposition_over_time", lambda: ins.disposition_over_time(con, flt)),
        ("top_sources limit=100", lambda: ins.top_sources(con, flt, limit=100)),
        ("top_sources (all)", lambda: ins.top_sources(con, flt)),
        ("count_sources", lambda: ins.count_sources(con, flt)),
        ("source_records limit=500", lambda: ins.source_records(con, flt, ip, limit=500)),
        ("source_auth", lambda: ins.source_auth(con, flt, ip)),
        ("source_timeline", lambda: ins.source_timeline(con, flt, ip)),
        ("reporters", lambda: ins.reporters(con, flt)),
        ("alignment_matrix", lambda: ins.alignment_matrix(con, flt)),
        ("authenticated_unaligned limit=100", lambda: ins.authenticated_unaligned(con, flt, 100)),
        ("override_reasons", lambda: ins.override_reasons(con, flt)),
        ("report_list limit=100", lambda: ins.report_list(con, flt, limit=100)),
        ("report_list (all)", lambda: ins.report_list(con, flt)),
        ("count_reports", lambda: ins.count_reports(con, flt)),
        ("data_quality", lambda: ins.data_quality(con, flt)),
        ("report_detail", lambda: ins.report_detail(con, key)),
        ("filter_choices", lambda: ins.filter_choices(con)),
        ("ledger limit=100", lambda: ins.ledger(con, limit=100)),
        ("ledger search", lambda: ins.ledger(con, search="report-1", limit=100)),
        ("count_ledger", lambda: ins.count_ledger(con)),
        ("has_data", lambda: ins.has_data(con)),
    ]  # fmt: skip


def _load() -> str:
    """The 1-minute load average: other work on the machine inflates every timing."""
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--method", choices=("auto", "ingest", "sql"), default="auto")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db", type=Path, help="measure this existing database instead")
    args = parser.parse_args()
    path = args.db or database(args.records, args.method, args.rebuild)
    before = _load()
    with open_store(path, read_only=True) as con:
        total = con.execute("SELECT count(*), sum(count) FROM records").fetchall()[0]
        print(f"{path.name}: {total[0]:,} records, {int(total[1]):,} messages")
        narrow = narrow_filter(con)
        matched = ins.overview(con, narrow)
        print(f"narrow filter: {narrow.to_params()} ({matched.messages:,} messages)")
        results = {}
        for label, flt in (("all", Filter()), ("narrow", narrow)):
            for name, call in questions(con, flt):
                results.setdefault(name, {})[label] = timings_ms(call, args.runs)
        csv_ms = timings_ms(lambda: records_csv_bytes(con, narrow), 3)
    print(f"load average before: {before}, after: {_load()} on {os.cpu_count()} CPUs")
    print(f"\nms over {args.runs} runs (median, fastest){'all':>16} {'':>7} {'narrow':>9} {'':>7}")
    for name, timing in results.items():
        slow = " <-- median over budget" if max(m for m, _ in timing.values()) > BUDGET_MS else ""
        cells = " ".join(f"{m:9.1f} {f:7.1f}" for m, f in (timing["all"], timing["narrow"]))
        print(f"{name:40} {cells}{slow}")
    print(f"{'records_csv_bytes (3 runs)':40} {'':>17} {csv_ms[0]:9.1f} {csv_ms[1]:7.1f}")


if __name__ == "__main__":
    main()
