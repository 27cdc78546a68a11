"""Settings from one documented place.

Precedence, lowest first: built-in defaults, the config file, environment variables
``DMARC_ANALYTICS_*``, then command-line options (applied by the caller through
``Settings.with_overrides``). The config file is ``dmarc-analytics.toml`` in the working
directory, or the file named by ``DMARC_ANALYTICS_CONFIG``; its keys are the field names
below (``db = "data/dmarc.duckdb"``, ``[limits]`` for the limits).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dmarc_analytics.errors import ConfigError

ENV_PREFIX = "DMARC_ANALYTICS_"
_PATHS = frozenset({"db", "inbox", "archive_dir"})
_KINDS = {"archive": bool}  # settings whose default (None) does not tell their type
CONFIG_FILE_NAME = "dmarc-analytics.toml"
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Safety limits for hostile input. Real reports stay far below every default."""

    max_input_bytes: int = 256 * MiB  # one input file or upload read into memory (not mbox)
    max_decompressed_bytes: int = 256 * MiB  # output of one gzip/zlib/zip member
    max_total_decompressed_bytes: int = 1024 * MiB  # all decompression of one input
    max_zip_members: int = 1000
    max_mime_parts: int = 500  # per e-mail message
    max_depth: int = 8  # containers nested in containers
    max_records: int = 1_000_000  # <record> elements per report
    max_xml_tags: int = 10_000_000  # "<" in one report's XML: bounds its tree's memory
    max_message_bytes: int = 100 * MiB  # one message inside an mbox file


@dataclass(frozen=True, slots=True)
class Settings:
    db: Path = Path("data/dmarc.duckdb")
    inbox: Path = Path("data/inbox")
    archive_dir: Path | None = None  # None: the folder ``archive`` beside the database
    # Keep originals, content-addressed, for `reparse`. None: not set here, so the choice
    # stored in the database (the app's switch) holds, and without one, True.
    archive: bool | None = None
    lock_timeout: float = 20.0  # seconds to retry a locked database before giving up
    workers: int = 0  # parse processes; 0 = one per CPU core
    time_zone: str = "UTC"  # the app's zone until one is picked, and ``export --tz``'s default
    limits: Limits = field(default_factory=Limits)

    @property
    def archive_folder(self) -> Path:
        """Where originals are kept: ``archive_dir``, or ``archive`` beside the database.

        Beside the database by default, so that a command run from another folder (or with
        another ``--db``) finds the originals of that database and no other.
        """
        return self.archive_dir if self.archive_dir is not None else self.db.parent / "archive"

    def with_overrides(self, **values: Any) -> Settings:
        """Return a copy with the given non-None values applied (command-line options)."""
        return _apply(self, {k: v for k, v in values.items() if v is not None}, "option")


def load_settings(environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Defaults, then the config file, then ``DMARC_ANALYTICS_*`` environment variables."""
    env = dict(os.environ if environ is None else environ)
    settings = Settings()
    config_path = env.get(ENV_PREFIX + "CONFIG")
    path = Path(config_path) if config_path else (cwd or Path.cwd()) / CONFIG_FILE_NAME
    if config_path or path.is_file():
        settings = _apply(settings, _read_config_file(path), f"config file {path}")
    from_env: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name != "limits" and ENV_PREFIX + f.name.upper() in env:
            from_env[f.name] = env[ENV_PREFIX + f.name.upper()]
    limits_env = {
        f.name: env[ENV_PREFIX + f.name.upper()]
        for f in fields(Limits)
        if ENV_PREFIX + f.name.upper() in env
    }
    if limits_env:
        from_env["limits"] = limits_env
    return _apply(settings, from_env, "environment")


def _read_config_file(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _apply(settings: Settings, values: dict[str, Any], where: str) -> Settings:
    known = {f.name: f for f in fields(Settings)}
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in known:
            raise ConfigError(f"unknown setting {name!r} in {where}")
        if name == "limits":
            if not isinstance(raw, dict):
                raise ConfigError(f"'limits' in {where} must be a table")
            changes[name] = _apply_limits(settings.limits, raw, where)
        else:
            kind = Path if name in _PATHS else _KINDS.get(name) or type(getattr(settings, name))
            changes[name] = _coerce(name, raw, kind, where)
            if name == "time_zone":
                changes[name] = _check_zone(changes[name], where)
            elif kind in (int, float) and changes[name] < 0:  # workers, lock_timeout
                raise ConfigError(f"invalid value {raw!r} for {name} in {where}: below 0")
    return replace(settings, **changes)


def _check_zone(zone: str, where: str) -> str:
    """The zone's IANA name (``utc`` is UTC), or ConfigError."""
    from dmarc_analytics.zones import canonical_zone  # asks DuckDB: only when a zone is set

    named = canonical_zone(zone)
    if named is not None:
        return named
    raise ConfigError(
        f"invalid value {zone!r} for time_zone in {where}: not a time zone name (an IANA "
        "name such as Asia/Tokyo)"
    )


def _apply_limits(limits: Limits, values: dict[str, Any], where: str) -> Limits:
    known = {f.name for f in fields(Limits)}
    changes = {}
    for name, raw in values.items():
        if name not in known:
            raise ConfigError(f"unknown limit {name!r} in {where}")
        value = _coerce(name, raw, int, where)
        if value <= 0:
            raise ConfigError(f"limit {name} in {where} must be positive, got {value}")
        changes[name] = value
    return replace(limits, **changes)


def _coerce(name: str, raw: Any, kind: type, where: str) -> Any:
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if issubclass(kind, Path):
            return Path(str(raw)).expanduser()
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value {raw!r} for {name} in {where}") from exc
