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


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("digest", "--dry-run", "--since", "garbage"), "'garbage' is not a duration"),
        (("digest", "--dry-run", "--since", "-5m"), "'-5m' is negative"),
        (("digest", "--dry-run", "--since", "999999999d"), "'999999999d' is longer than 10 years"),
        (
            ("digest", "--dry-run", "--since", "99999999999999999999s"),
            "'99999999999999999999s' is longer",
        ),
        (("health", "--grace", "garbage"), "'garbage' is not a duration"),
        (("health", "--grace", "-1m"), "'-1m' is negative"),
    ],
)
def test_a_bad_duration_option_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...], problem: str
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  data_dir: state\n")
    result = skywatch("--config", str(config), *args)
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '{args[-2]}': {problem}" in result.stderr
    assert "bug" not in result.stderr and "Traceback" not in result.stderr


def test_removing_a_feed_by_a_huge_id_says_there_is_none(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  data_dir: state\n")
    result = skywatch("--config", str(config), "feeds", "remove", "99999999999999999999999")
    assert result.returncode == 1
    assert result.stderr == "error: no followed feed 99999999999999999999999\n"


# -- channel list / resume ------------------------------------------------------------------

PAUSED, RUNNING = "slack:C0GONE", "telegram:-1001234"


@pytest.fixture
def channels_config(tmp_path: Path) -> Path:
    """A configuration whose store has a paused Slack channel with 2 kept alerts."""
    from datetime import UTC, datetime

    from bot.config import load_config
    from bot.store import channels as channel_store
    from bot.store import outbox
    from bot.store.db import Database

    config = tmp_path / "feeds.yaml"
    config.write_text(
        "settings:\n  data_dir: state\n"
        "topics:\n  ships:\n    concepts:\n      ship: [zeppelin]\n    any: [ship]\n"
        "  trains:\n    concepts:\n      train: [locomotive]\n    any: [train]\n"
        f"channels:\n  - {{id: '{PAUSED}', follows: [ships, trains], admin: true}}\n"
        f"  - {{id: '{RUNNING}', mode: digest}}\n",
        encoding="utf-8",
    )
    loaded = load_config(config)
    database = Database(loaded.database_url)
    database.upgrade()
    now = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    with database.write() as session:
        channel_store.sync_channels(session, loaded.channels(), now)
        for n in range(2):
            outbox.enqueue(session, channel_id=PAUSED, kind="alert", dedup_key=f"a{n}",
                           payload={"title": "t"}, now=now)  # fmt: skip
        outbox.enqueue(session, channel_id=RUNNING, kind="report", dedup_key="r",
                       payload={"text": "hi"}, now=now)  # fmt: skip
        channel_store.pause_channel(session, PAUSED, "channel_not_found", now)
    database.dispose()
    return config


def test_channel_list_shows_follows_pauses_and_waiting_messages(channels_config: Path) -> None:
    result = skywatch("--config", str(channels_config), "channel", "list", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    rows = [line.split("│")[1:-1] for line in result.stdout.splitlines() if "│" in line]
    cells = {row[0].strip(): [c.strip() for c in row[1:]] for row in rows}
    assert cells[PAUSED] == [
        "slack",
        "instant, admin",
        "ships, trains",
        "channel_not_found (since 2026-11-27 03:00 UTC)",
        "2",
    ]
    assert cells[RUNNING] == ["telegram", "digest", "all topics", "", "1"]


def test_channel_resume_sends_the_kept_messages_again(channels_config: Path) -> None:
    result = skywatch("--config", str(channels_config), "channel", "resume", PAUSED)
    assert result.returncode == 0, result.stderr
    assert f"resumed {PAUSED}: 2 kept message(s) go out at the next send" in result.stdout
    listed = skywatch("--config", str(channels_config), "channel", env={"COLUMNS": "200"})
    assert "channel_not_found" not in listed.stdout
    again = skywatch("--config", str(channels_config), "channel", "resume", PAUSED)
    assert again.returncode == 0
    assert f"{PAUSED} is not paused; nothing to do" in again.stdout


def test_channel_resume_of_an_unknown_channel_exits_1(channels_config: Path) -> None:
    result = skywatch("--config", str(channels_config), "channel", "resume", "slack:C0NOPE")
    assert result.returncode == 1
    assert f"no channel 'slack:C0NOPE' (known: {PAUSED}, {RUNNING})" in result.stderr
    assert "Traceback" not in result.stderr


def test_channel_list_before_the_first_run_says_why_it_is_empty(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  data_dir: state\n")
    result = skywatch("--config", str(config), "channel", "list")
    assert result.returncode == 0, result.stderr
    assert "no channels yet" in result.stdout


# -- match ----------------------------------------------------------------------------------


def match_output(data: bytes, *args: str) -> tuple[int, list[dict[str, object]], str]:
    """Run `skywatch match` on `data` (stdin); the exit code, JSON documents and stderr."""
    import json
    import os

    result = subprocess.run(
        [sys.executable, "-m", "bot", "match", *args],
        cwd=REPO,
        env=os.environ.copy(),
        input=data,
        capture_output=True,
        timeout=60,
    )
    docs = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    return result.returncode, docs, result.stderr.decode("utf-8", "replace")


LINES = (
    b'{"title": "drone strike"}\n'
    b'{"title": "\\ud800 x"}\n'  # valid JSON, but a lone surrogate is no text
    b'\xff\xfe{"title": "a"}\n'
    b"\n"
    b'{"title": "caf\xc3\xa9"}\r\n'
)


@pytest.mark.parametrize("from_file", [False, True], ids=["stdin", "file"])
def test_match_reports_lines_that_are_not_text_and_goes_on(tmp_path: Path, from_file: bool) -> None:
    # A lone surrogate stopped the command (UnicodeEncodeError) and non-UTF-8 input
    # ended in UnicodeDecodeError; either way the later lines were lost.
    path = tmp_path / "in.jsonl"
    path.write_bytes(LINES)
    code, docs, stderr = match_output(
        b"" if from_file else LINES, *([str(path)] if from_file else [])
    )
    assert (code, stderr) == (0, "")
    assert docs[0]["title"] == "drone strike" and docs[0]["topics"]
    assert docs[1] == {
        "line": 2,
        "error": "line 2: holds a lone surrogate \\ud800, which is not text; remove it",
    }
    assert docs[2] == {"line": 3, "error": "line 3: not UTF-8 text (byte 0xff at column 1)"}
    assert docs[3] == {"title": "café", "topics": []}
    assert len(docs) == 4


def test_match_on_random_bytes_says_which_lines_are_bad() -> None:
    data = bytes(range(256)) * 3
    code, docs, stderr = match_output(data)
    assert code == 0 and "Traceback" not in stderr and "bug" not in stderr
    assert docs and all(str(d["error"]).startswith(f"line {d['line']}: ") for d in docs)
