"""Ingest benchmark: ``python -m dmarc_analytics ingest DIR --db PATH`` on a fresh database.

Usage: python bench/bench_ingest.py --reports 5000 [--runs 3] [--seed 1]
       [--workdir bench/out] [--records-mean 20] [--no-archive] [--json]

The corpus (synthetic reports of 1 to 200 records, a mix of .xml, .xml.gz and .zip) is
generated once and cached in the work folder. Each run starts the command on a fresh
database and is timed on the wall clock, start-up included; peak memory is the largest sum
of the RSS of the command's whole process tree, sampled from /proc every 20 ms. Then one
re-ingest of the same folder into the last database is timed, and decode + parse alone is
timed in this process through the library.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dmarc_analytics import __version__, synth  # noqa: E402

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.02
PACKAGES = ("duckdb", "lxml", "pyarrow", "pandas", "click")
TARGET_RECORDS_PER_SECOND = 50_000
TARGET_PEAK_MB = 1024
TARGET_REINGEST_SPEEDUP = 10
MB = 1024 * 1024
ARCHIVE_NAME = "bench-ingest-archive"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


class TreeMemorySampler:
    """Keeps the largest sum of RSS over a process and all its descendants.

    Parent ids are cached, so a sample reads /proc/PID/stat only for processes it has not
    seen before (reading every process's stat takes milliseconds here).
    """

    def __init__(self, root: int, interval: float = SAMPLE_SECONDS) -> None:
        self.root = root
        self.interval = interval
        self.peak_bytes = 0
        self.samples = 0
        self._parents: dict[int, int | None] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def process_tree(self) -> list[int]:
        live = {int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()}
        self._parents = {pid: self._parents[pid] if pid in self._parents else parent_pid(pid)
                         for pid in live}
        children: dict[int | None, list[int]] = {}
        for pid, parent in self._parents.items():
            children.setdefault(parent, []).append(pid)
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, ()))
        return tree

    def sample(self) -> int:
        total = sum(rss_bytes(pid) for pid in self.process_tree())
        self.peak_bytes = max(self.peak_bytes, total)
        self.samples += 1
        return total

    def _sample_until_stopped(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def synth_fingerprint() -> str:
    return hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest()[:10]


def ensure_corpus(
    workdir: Path, reports: int, seed: int, records_mean: float
) -> tuple[Path, dict[str, Any]]:
    """The cached corpus folder and its totals; generated when missing or stale."""
    name = f"corpus-{reports}r-seed{seed}-mean{records_mean:g}-{synth_fingerprint()}"
    folder, totals_file = workdir / name, workdir / f"{name}.json"
    if folder.is_dir() and totals_file.is_file():
        return folder, json.loads(totals_file.read_text()) | {"generated_seconds": None}
    partial = workdir / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    log(f"generating {reports:,} reports into {folder}")
    started = time.perf_counter()
    stats = synth.write_corpus(partial, reports, seed, records_mean=records_mean)
    seconds = time.perf_counter() - started
    partial.rename(folder)
    totals = asdict(stats) | {"seed": seed, "records_mean": records_mean, "mix": synth.CONTAINERS}
    totals_file.write_text(json.dumps(totals, indent=2))
    return folder, totals | {"generated_seconds": round(seconds, 2)}


def cli_environment(workdir: Path) -> dict[str, str]:
    """Our environment without DMARC_ANALYTICS_* settings, archive kept inside workdir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMARC_ANALYTICS_")}
    env["DMARC_ANALYTICS_ARCHIVE_DIR"] = str(workdir / ARCHIVE_NAME)
    # As a user's Python runs it: compiled modules are cached after the first run (here in
    # the work folder). A shell with PYTHONDONTWRITEBYTECODE would otherwise recompile
    # every changed module on every run, about 0.1 s of a 1 s re-ingest.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH"))))
    return env


def run_command(command: list[str], workdir: Path) -> Run:
    log_path = workdir / "bench-ingest-stderr.log"
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=workdir, env=cli_environment(workdir),
                                   stdout=subprocess.DEVNULL, stderr=log)
        with TreeMemorySampler(process.pid) as sampler:
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    peak = max(sampler.peak_bytes, usage.ru_maxrss * 1024)
    if process.returncode != 0:
        stderr = log_path.read_text(errors="replace")[-4000:]
        sys.exit(f"command failed with exit code {process.returncode}: {' '.join(command)}\n"
                 f"{stderr}")
    return Run(round(seconds, 3), round(peak / MB, 1))


def reset_database(db: Path, workdir: Path) -> None:
    """Delete the database with its .wal and .tmp companions, and the archive."""
    for leftover in [*db.parent.glob(db.name + "*"), workdir / ARCHIVE_NAME]:
        if leftover.is_dir():
            shutil.rmtree(leftover)
        else:
            leftover.unlink(missing_ok=True)


def ingest_command(corpus: Path, db: Path, no_archive: bool) -> list[str]:
    command = [sys.executable, "-m", "dmarc_analytics", "ingest", str(corpus), "--db", str(db)]
    return command + (["--no-archive"] if no_archive else [])


def ingested_totals(db: Path, workdir: Path) -> dict[str, Any] | None:
    """What ``summary --json`` says is in the database, to check nothing was lost."""
    command = [sys.executable, "-m", "dmarc_analytics", "summary", "--db", str(db), "--json"]
    done = subprocess.run(command, cwd=workdir, env=cli_environment(workdir),
                          capture_output=True, text=True, check=False)
    try:
        return json.loads(done.stdout) if done.returncode == 0 else None
    except json.JSONDecodeError:
        return None


def measure_decode_and_parse(corpus: Path) -> dict[str, Any]:
    """Decode + parse over the corpus in this process (one core, no database), two ways,
    with Python's cycle collector paused as in an ingest run.

    ``reference``: decode_file + parse_report (the typed model). ``rows``: what the ingest
    workers do (``worker.parse_payloads``: the fast path to table rows, the reference path
    for reports it declines) and the Arrow tables, per chunk of 256 files; ``fast_share``
    is the share of reports the fast path took.
    """
    try:
        from dmarc_analytics import worker
        from dmarc_analytics.alignment import organizational_domain
        from dmarc_analytics.config import Limits
        from dmarc_analytics.decode import decode_file
        from dmarc_analytics.flatten import TableBuilder
        from dmarc_analytics.model import Payload
        from dmarc_analytics.parse import parse_report
    except ImportError as exc:
        return {"skipped": f"decode/parse not importable yet ({exc})"}
    limits, paths = Limits(), sorted(corpus.iterdir())
    gc.disable()
    try:
        records, started = 0, time.perf_counter()
        for path in paths:
            for item in decode_file(path, limits):
                if isinstance(item, Payload):
                    records += len(parse_report(item.data, item.origin).records)
        reference = time.perf_counter() - started
        TableBuilder().tables()  # one-off costs paid at start-up: the first Arrow arrays,
        organizational_domain("example.com")  # and the Public Suffix List is parsed
        taken = []
        clean = worker.add_clean_report

        def counted(*args: Any, **kwargs: Any) -> Any:
            meta = clean(*args, **kwargs)
            taken.append(meta is not None)
            return meta

        worker.add_clean_report = counted  # only to count: the work is the workers' own
        reports, started = 0, time.perf_counter()
        for start in range(0, len(paths), 256):
            builder = TableBuilder()
            for path in paths[start : start + 256]:
                items = decode_file(path, limits, split=False)
                reports += len(worker.parse_payloads(items, limits, builder, ""))
            builder.tables()
        rows = time.perf_counter() - started
    finally:
        worker.add_clean_report = clean
        gc.enable()
    return {
        "records": records,
        "reference": {"seconds": round(reference, 3), "records_per_s": round(records / reference)},
        "rows": {"seconds": round(rows, 3), "records_per_s": round(records / rows),
                 "fast_share": round(sum(taken) / max(reports, 1), 3)},
    }  # fmt: skip


def file_create_ms(workdir: Path, files: int = 200) -> float:
    """How long creating one small file takes here: it bounds corpus and archive writes."""
    probe = workdir / "fs-probe"
    probe.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for index in range(files):
        (probe / f"{index}.xml").write_bytes(b"<feedback/>" * 400)
    seconds = time.perf_counter() - started
    shutil.rmtree(probe)
    return round(seconds / files * 1000, 3)


def read_value(path: str, key: str, separator: str = ":") -> str:
    """The value of the first ``key<separator>value`` line of a /proc or /etc file."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(separator, 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def machine(workdir: Path) -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    mem_kb = read_value("/proc/meminfo", "MemTotal").split()[0]
    return {
        "cpu": read_value("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem_kb) / 1024**2, 1) if mem_kb.isdigit() else None,
        "os": f"{read_value('/etc/os-release', 'PRETTY_NAME', '=')}, "
              f"kernel {platform.release()}",
        "python": platform.python_version(),
        "packages": {"dmarc-analytics": f"{__version__} ({commit or 'no git'})"} | versions,
        "file_create_ms": file_create_ms(workdir),
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    corpus, totals = ensure_corpus(workdir, args.reports, args.seed, args.records_mean)
    log("decode + parse in-process")
    parse_only = measure_decode_and_parse(corpus)
    db = workdir / "bench-ingest.duckdb"
    command = ingest_command(corpus, db, args.no_archive)
    runs = []
    for number in range(1, args.runs + 1):
        reset_database(db, workdir)
        runs.append(run_command(command, workdir))
        log(f"run {number}/{args.runs}: {runs[-1].seconds} s, peak {runs[-1].peak_mb} MB")
    reingests = []  # as many as the first ingests: one run varies by tens of percent here
    for number in range(1, args.runs + 1):
        reingests.append(run_command(command, workdir))
        log(f"re-ingest {number}/{args.runs}: {reingests[-1].seconds} s")
    reingest = sorted(reingests, key=lambda run: run.seconds)[len(reingests) // 2]
    median = statistics.median(run.seconds for run in runs)
    peak = max(run.peak_mb for run in runs)
    return {
        "machine": machine(workdir),
        "corpus": totals | {"folder": str(corpus)},
        "command": " ".join(["python -m dmarc_analytics ingest DIR --db DB"]
                            + (["--no-archive"] if args.no_archive else [])),
        "runs": [asdict(run) for run in runs],
        "median_seconds": median,
        "records_per_s": round(totals["records"] / median),
        "peak_mb": peak,
        "reingest": asdict(reingest),  # the median run
        "reingest_runs": [asdict(run) for run in reingests],
        "reingest_speedup": round(median / reingest.seconds, 1),
        "database": ingested_totals(db, workdir),
        "decode_parse_in_process": parse_only,
    }


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def markdown(result: dict[str, Any]) -> str:
    m, c, p = result["machine"], result["corpus"], result["decode_parse_in_process"]
    packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items())
    generated = (f"generated in {c['generated_seconds']} s" if c["generated_seconds"]
                 else "cached")
    parse_line = (p["skipped"] if "skipped" in p else
                  f"{p['records']:,} records (one process, no database): decode + parse_report "
                  f"{p['reference']['seconds']} s = {p['reference']['records_per_s']:,} "
                  f"records/s; decode + rows as the workers make them "
                  f"{p['rows']['seconds']} s = {p['rows']['records_per_s']:,} records/s, "
                  f"{p['rows']['fast_share']:.0%} of reports on the fast path")
    speed, peak, speedup = (result["records_per_s"], result["peak_mb"],
                            result["reingest_speedup"])
    return "\n".join([
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, "
        f"Python {m['python']}",
        f"Packages: {packages}",
        f"File creation in the work folder: {m['file_create_ms']} ms per file",
        f"Corpus: {c['reports']:,} reports, {c['records']:,} records, {c['messages']:,} "
        f"messages, {c['bytes'] / MB:.1f} MB in {c['files']:,} files "
        f"({', '.join(c['mix'])}), seed {c['seed']}; {generated}",
        f"Command: `{result['command']}`",
        "",
        "| runs | median s | records/s | peak MB | re-ingest s | speed-up |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {len(result['runs'])} | {result['median_seconds']:.2f} | {speed:,} | {peak:,.0f} "
        f"| {result['reingest']['seconds']:.2f} | {speedup}× |",
        "",
        f"Runs (s): {', '.join(str(run['seconds']) for run in result['runs'])}; "
        f"peak MB per run: {', '.join(str(run['peak_mb']) for run in result['runs'])}; "
        f"re-ingests (s): {', '.join(str(run['seconds']) for run in result['reingest_runs'])}",
        f"Targets: ≥ {TARGET_RECORDS_PER_SECOND:,} records/s "
        f"{verdict(speed >= TARGET_RECORDS_PER_SECOND)}; "
        f"peak < {TARGET_PEAK_MB} MB {verdict(peak < TARGET_PEAK_MB)}; "
        f"re-ingest ≥ {TARGET_REINGEST_SPEEDUP}× faster "
        f"{verdict(speedup >= TARGET_REINGEST_SPEEDUP)}",
        f"Database after the runs (summary --json): {json.dumps(result['database'])}",
        f"Decode + parse in-process: {parse_line}",
    ])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records-mean", type=float, default=20)
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--no-archive", action="store_true", help="pass --no-archive to ingest")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = benchmark(args)
    print(json.dumps(result, indent=2) if args.json else markdown(result))


if __name__ == "__main__":
    main()
