from pathlib import Path

import pytest

from dmarc_analytics.config import Limits, Settings, load_settings
from dmarc_analytics.errors import ConfigError


def test_defaults(tmp_path):
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings == Settings()
    assert settings.db == Path("data/dmarc.duckdb")
    assert settings.archive_folder == Path("data/archive")
    assert settings.archive is None  # not configured: the database's switch, else on


def test_the_archive_follows_the_database_unless_set(tmp_path):
    moved = load_settings(environ={}, cwd=tmp_path).with_overrides(db=Path("/x/y/z.duckdb"))
    assert moved.archive_folder == Path("/x/y/archive")
    env = {"DMARC_ANALYTICS_ARCHIVE_DIR": "~/kept"}
    settings = load_settings(environ=env, cwd=tmp_path).with_overrides(db=Path("/x/z.duckdb"))
    assert settings.archive_folder == Path("~/kept").expanduser()


def test_precedence_file_then_environment_then_options(tmp_path):
    (tmp_path / "dmarc-analytics.toml").write_text(
        'db = "from-file.duckdb"\narchive = false\ninbox = "drop"\n[limits]\nmax_zip_members = 7\n'
    )
    env = {"DMARC_ANALYTICS_DB": "from-env.duckdb", "DMARC_ANALYTICS_MAX_DEPTH": "3"}
    settings = load_settings(environ=env, cwd=tmp_path)
    assert settings.db == Path("from-env.duckdb")
    assert settings.archive is False
    assert settings.inbox == Path("drop")
    assert settings.limits == Limits(max_zip_members=7, max_depth=3)
    assert settings.with_overrides(db=Path("opt.duckdb"), archive=None).db == Path("opt.duckdb")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DMARC_ANALYTICS_ARCHIVE": "maybe"}, "invalid value 'maybe' for archive"),
        ({"DMARC_ANALYTICS_MAX_DEPTH": "-1"}, "must be positive"),
        ({"DMARC_ANALYTICS_LOCK_TIMEOUT": "soon"}, "invalid value 'soon' for lock_timeout"),
        # localtime is no zone DuckDB converts in (it had crashed an export mid-way)
        ({"DMARC_ANALYTICS_TIME_ZONE": "localtime"}, "invalid value 'localtime' for time_zone"),
        ({"DMARC_ANALYTICS_TIME_ZONE": "JST"}, "not a time zone name"),
        ({"DMARC_ANALYTICS_WORKERS": "-1"}, "invalid value '-1' for workers .*: below 0"),
        ({"DMARC_ANALYTICS_LOCK_TIMEOUT": "-5"}, "invalid value '-5' for lock_timeout .*: below 0"),
    ],
)
def test_invalid_values(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env, cwd=tmp_path)


def test_unknown_key_in_file(tmp_path):
    (tmp_path / "cfg.toml").write_text("colour = 'red'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(environ={"DMARC_ANALYTICS_CONFIG": str(tmp_path / "cfg.toml")}, cwd=tmp_path)


def test_a_time_zone_for_the_app_and_the_export(tmp_path):
    (tmp_path / "dmarc-analytics.toml").write_text('time_zone = "Asia/Tokyo"\n')
    assert load_settings(environ={}, cwd=tmp_path).time_zone == "Asia/Tokyo"
    assert load_settings(environ={}, cwd=tmp_path / "elsewhere").time_zone == "UTC"
    typed = {"DMARC_ANALYTICS_TIME_ZONE": "asia/tokyo"}  # the zone, in any case
    assert load_settings(environ=typed, cwd=tmp_path).time_zone == "Asia/Tokyo"
