"""``python -m dmarc_analytics``: a thin adapter over the library.

Errors of the library become one line on stderr and exit code 1; a rejected input is an
outcome, not an error.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dmarc_analytics import __version__
from dmarc_analytics.config import Settings, load_settings
from dmarc_analytics.errors import DmarcAnalyticsError
from dmarc_analytics.filters import FIELDS, Filter
from dmarc_analytics.outcomes import FileOutcome, is_whole_input


def _settings(db: str | None, **overrides: Any) -> Settings:
    return load_settings().with_overrides(db=Path(db) if db else None, **overrides)


def library_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DmarcAnalyticsError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        metavar="PATH",
        help="DuckDB file (default data/dmarc.duckdb; env DMARC_ANALYTICS_DB).",
    )(func)


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The shared filter options: the same names and meanings as the app's filter."""
    for spec in reversed(FIELDS):
        option = "--" + spec.name.replace("_", "-")
        multiple = spec.kind in ("list", "network", "choice") and spec.name != "dmarc"
        metavar = {"date": "YYYY-MM-DD", "yesno": "yes|no", "network": "IP|CIDR"}.get(
            spec.kind, "|".join(spec.choices) if spec.choices else "VALUE"
        )
        suffix = (
            " (repeat or comma-separate for several; a value with a comma in double quotes)"
            if multiple
            else ""
        )
        func = click.option(
            option, spec.name, multiple=multiple, metavar=metavar, help=spec.help + suffix
        )(func)
    return func


def filter_from_options(options: dict[str, Any]) -> Filter:
    params = {}
    for spec in FIELDS:
        value = options.pop(spec.name, None)
        if value not in (None, ()):
            params[spec.name] = list(value) if isinstance(value, tuple) else value
    return Filter.from_params(params)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dmarc-analytics")
def main() -> None:
    """Local, private analytics for DMARC aggregate reports."""
    from dmarc_analytics.store import on_upgrade

    on_upgrade(_announce_upgrade)


def _announce_upgrade(migrations: list[str]) -> None:
    """On a large database an upgrade builds new tables for a while: say so first."""
    del migrations
    click.echo(
        "upgrading the database for this version (once; on millions of records it takes a "
        "minute or so)",
        err=True,
    )


@main.command()
@click.argument("paths", nargs=-1)
@db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input on stdout.")
@click.option("--watch", metavar="DIR", help="Keep ingesting new files dropped into DIR.")
@click.option("--archive/--no-archive", default=None, help="Keep originals for `reparse`.")
@click.option(
    "--workers", type=click.IntRange(min=0), help="Parse processes (default: one per CPU core)."
)
@library_errors
def ingest(
    paths: tuple[str, ...], db: str | None, as_json: bool, watch: str | None,
    archive: bool | None, workers: int | None,
) -> None:  # fmt: skip
    """Ingest report files, folders (recursively) or globs: xml, gz, zip, eml, mbox."""
    from dmarc_analytics.ingest_cli import run_ingest, run_watch

    settings = _settings(db, archive=archive, workers=workers)
    if not paths and not watch:
        raise click.UsageError("give at least one PATH, or --watch DIR")
    if paths:
        run_ingest(settings, paths, as_json)
    if watch:
        run_watch(settings, Path(watch), as_json)


@main.command()
@db_option
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the totals as one JSON object.")
@library_errors
def summary(db: str | None, as_json: bool, **options: Any) -> None:
    """Totals for the filter: reports, records, messages, DMARC pass, dispositions."""
    from dmarc_analytics.i18n import percent
    from dmarc_analytics.queries import summary as summarise
    from dmarc_analytics.store import open_store

    settings = _settings(db)
    flt = filter_from_options(options)
    with open_store(
        settings.db, read_only=True, timeout=settings.lock_timeout, must_exist=True
    ) as con:
        result = summarise(con, flt)
        _warn_if_reparse_unfinished(con)
    if as_json:
        import json  # here: a plain ingest has no JSON to write (4 ms to import)

        click.echo(json.dumps(result.as_json(), sort_keys=False))
        return
    data = result.as_json()
    rate = result.dmarc_pass_rate
    for key in ("reports", "records", "messages", "dmarc_pass_messages"):
        click.echo(f"{key:22} {data[key]}")
    click.echo(f"{'dmarc_pass_rate':22} {'-' if rate is None else percent(rate, 2)}")
    for disposition, messages in result.by_disposition.items():
        click.echo(f"{'  ' + disposition:22} {messages}")
    click.echo(f"{'begin':22} {data['begin'] or '-'}")
    click.echo(f"{'end':22} {data['end'] or '-'}")


@main.command()
@db_option
@filter_options
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Where to write ('-': standard output).")
@click.option("--bom", is_flag=True, help="Start with a UTF-8 BOM, so Excel reads UTF-8.")
@click.option(
    "--tz", "zone", metavar="ZONE",
    help="Time zone of the report times (an IANA name such as Asia/Tokyo; default: the "
    "time_zone setting, UTC unless set).",
)  # fmt: skip
@library_errors
def export(
    db: str | None, fmt: str, output: str, bom: bool, zone: str | None, **options: Any
) -> None:
    """Write the records matching the filter, one row per record."""
    from dmarc_analytics.export import export_records_csv, export_records_to
    from dmarc_analytics.store import open_store
    from dmarc_analytics.zones import canonical_zone

    if zone is not None:
        named = canonical_zone(zone)
        if named is None:
            raise click.BadParameter(f"{zone!r} is not a time zone name", param_hint="--tz")
        zone = named
    settings = _settings(db)
    zone = zone or settings.time_zone
    flt = filter_from_options(options)
    started = time.monotonic()
    with open_store(
        settings.db, read_only=True, timeout=settings.lock_timeout, must_exist=True
    ) as con:
        if output == "-":
            stdout = click.get_binary_stream("stdout")
            rows = export_records_to(con, flt, stdout, bom=bom, zone=zone)
        else:
            rows = export_records_csv(con, flt, Path(output), bom=bom, zone=zone)
        _warn_if_reparse_unfinished(con)
    place = "standard output" if output == "-" else output
    click.echo(f"wrote {rows:,} records to {place} in {time.monotonic() - started:.2f} s", err=True)


def _warn_if_reparse_unfinished(con: Any) -> None:
    from dmarc_analytics.store import reparse_started

    started = reparse_started(con)
    if started is not None:
        click.echo(
            f"warning: a reparse started at {started:%Y-%m-%d %H:%M} UTC has not finished, so "
            "reports are missing until it does; if it was stopped, run `reparse` again",
            err=True,
        )


@main.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per archived input.")
@library_errors
def reparse(db: str | None, as_json: bool) -> None:
    """Rebuild every report table from the archived originals (after an upgrade)."""
    from dmarc_analytics.ingest_cli import run_reparse

    run_reparse(_settings(db), as_json)


@main.command()
@db_option
@click.option("--demo", is_flag=True, help="Remove the demo dataset.")
@click.option("--since", metavar="YYYY-MM-DD", help="First UTC day of begin.")
@click.option("--until", metavar="YYYY-MM-DD", help="Last UTC day of begin.")
@click.option(
    "--policy-domain", multiple=True, metavar="VALUE",
    help="Only reports about this policy domain (repeat or comma-separate for several).",
)  # fmt: skip
@library_errors
def purge(
    db: str | None, demo: bool, since: str | None, until: str | None, policy_domain: tuple
) -> None:
    """Remove reports (all conditions given must hold). The ledger keeps its history."""
    from dmarc_analytics.errors import FilterError
    from dmarc_analytics.filters import split_values
    from dmarc_analytics.maintenance import purge as purge_reports

    if not (demo or since or until or policy_domain):
        raise click.UsageError("give --demo, --since/--until or --policy-domain")
    domains = split_values(policy_domain)  # commas and quotes as in the filter options
    if policy_domain and not domains:  # " " or ",": never purge every domain instead
        raise FilterError.worded("filter_error.no_domain")
    removed = purge_reports(
        _settings(db), since=since, until=until, policy_domain=domains, demo=demo
    )
    click.echo(f"removed {removed:,} {'report' if removed == 1 else 'reports'}")


@main.command()
@db_option
@library_errors
def schema(db: str | None) -> None:
    """List the applied schema migrations."""
    from dmarc_analytics.schema import applied_migrations
    from dmarc_analytics.store import open_store

    settings = _settings(db)
    with open_store(settings.db, timeout=settings.lock_timeout, must_exist=True) as con:
        for number, name, at in applied_migrations(con):
            click.echo(f"{number:3}  {name:28} {at}")


def echo_outcome(outcome: FileOutcome, as_json: bool) -> None:
    if as_json:
        import json  # see summary

        click.echo(json.dumps(outcome.as_json()))
        return
    if outcome.outcome == "rejected":
        click.echo(f"rejected  {outcome.path}: {outcome.reason}", err=True)
    for part in outcome.parts:
        if outcome.outcome != "rejected" and part.outcome in ("rejected", "conflict"):
            click.echo(f"{part.outcome:9} {_part_place(outcome.path, part.origin)}: "
                       f"{part.reason}", err=True)  # fmt: skip


def _part_place(path: str, origin: str) -> str:
    """Where a part is: the input's path, and the part's place inside it if it has one."""
    return path if is_whole_input(path, origin) else f"{path} ({origin})"
