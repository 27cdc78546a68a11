"""README stays true: the two set-up commands, every CLI command, option and setting."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from click.testing import CliRunner

from dmarc_analytics.cli import main
from dmarc_analytics.config import Limits, Settings
from dmarc_analytics.filters import FIELDS

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def setup_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "README must open with a sh block of set-up commands"
    assert README.index(block.group(0)) < README.index("\n## ")
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
    run_app, run_tests = setup_commands()
    assert run_app.endswith("streamlit run app.py")
    assert "requirements.txt" in run_app
    assert run_tests.endswith("python -m pytest")
    assert "requirements-dev.txt" in run_tests


def test_ci_runs_the_readme_test_command_and_ruff():
    script = (REPO / ".ci" / "run").read_text()
    _, run_tests = setup_commands()
    assert run_tests in script.splitlines()
    assert "DMARC_ANALYTICS_NO_SKIP=1" in script
    assert "ruff check" in script
    assert "playwright install" not in script


def test_every_command_is_documented_and_has_help():
    runner = CliRunner()
    for name, command in main.commands.items():
        assert f"`{name}" in README, f"command {name} missing from README"
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0
        assert command.help


def test_every_filter_option_is_documented():
    for spec in FIELDS:
        assert "--" + spec.name.replace("_", "-") in README, spec.name


def test_every_setting_is_documented():
    names = [f.name for f in fields(Settings) if f.name != "limits"]
    names += [f.name for f in fields(Limits)]
    for name in names:
        assert f"`{name}`" in README, f"setting {name} missing from README"
