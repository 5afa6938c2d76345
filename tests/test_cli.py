"""The `skywatch` command as a user meets it: help everywhere, clear errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from bot.cli import cli

from .conftest import REPO


def skywatch(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command in a subprocess, as a user would."""
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", all_commands(cli), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.help and len(command.help.strip()) > 10, f"{' '.join(path)} has no help text"
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_check_on_the_default_config_exits_0() -> None:
    result = skywatch("check")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_on_a_broken_config_exits_2_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - url: https://a.example/rss\n    interval: 5 minutes\n")
    result = skywatch("--config", str(bad), "check")
    assert result.returncode == 2
    assert f"{bad}:3: feeds[0].interval: '5 minutes' is not a duration" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_config_masks_secrets() -> None:
    result = skywatch(
        "config",
        env={
            "SLACK_BOT_TOKEN": "xoxb-very-secret-token",
            "TELEGRAM_BOT_TOKEN": "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "xoxb-very-secret-token" not in result.stdout
    assert "AAbbCCdd" not in result.stdout
    assert "slack_bot_token: '***'" in result.stdout


def test_db_upgrade_creates_the_sqlite_file(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  data_dir: state\n")
    result = skywatch("--config", str(config), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "state" / "skywatch.db").exists()
    health = skywatch("--config", str(config), "health")
    assert health.returncode == 0, health.stderr


def test_python_dash_m_bot_and_console_script_agree() -> None:
    result = skywatch("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("skywatch, version ")


def test_backtest_prints_precision_and_recall_of_the_story_groups() -> None:
    result = skywatch("backtest", "tests/data/stories", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "precision" in result.stdout.lower() and "recall" in result.stdout.lower()


def test_backtest_on_a_missing_file_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = skywatch("backtest", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
