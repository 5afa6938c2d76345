"""feeds.yaml validation: good files load, bad ones say file, line, field and what is wrong."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import format_duration, load_config, parse_duration
from bot.errors import ConfigError

from .conftest import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        (90, 90),
        ("1.5h", 5400),
        ("500ms", 0.5),
    ],
)
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5 minutes", "soon", "", "5x", "m5", True, -3])
def test_bad_durations_are_refused_with_a_hint(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for seconds in (0, 59, 60, 3600, 5400, 90061):
        value = timedelta(seconds=seconds)
        assert parse_duration(format_duration(value)) == value


def test_default_config_is_valid() -> None:
    config = load_config(REPO / "feeds.yaml", env={})
    langs = {feed.lang for feed in config.file.feeds}
    assert {"en", "ja", "uk", "de", "ru"} <= langs
    assert {"air_defense", "drone_strike", "weapons_pause", "coproduction"} <= set(
        config.file.topics
    )
    assert [c.id for c in config.channels()] == ["console"]


def test_bad_interval_names_file_line_field_and_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds:\n"
        "  - url: https://a.example/rss\n"
        "  - url: https://b.example/rss\n"
        "  - url: https://c.example/rss\n"
        "  - url: https://d.example/rss\n"
        "    interval: 5 minutes\n",
    )
    assert error_of(path) == (
        f"{path}:6: feeds[3].interval: '5 minutes' is not a duration; write 5m, 2h or 1d"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "feeds:\n  - url: ftp://x.example/f\n",
            ":2: feeds[0].url: 'ftp://x.example/f' is not an http(s) URL",
        ),
        ("feeds:\n  - name: no url\n", ":2: feeds[0].url: is required"),
        (
            "feeds:\n  - url: https://x.example/\n    intervall: 5m\n",
            ":3: feeds[0].intervall: is not a known setting",
        ),
        (
            "settings:\n  poll_interval: often\n",
            ":2: settings.poll_interval: 'often' is not a duration",
        ),
        ("channels:\n  - id: irc:#news\n", ":2: channels[0].id: 'irc:#news' is not a channel"),
        (
            "channels:\n  - id: console\n    timezone: Mars/Base\n",
            ":3: channels[0].timezone: 'Mars/Base' is not a time zone",
        ),
        (
            "channels:\n  - id: console\n    quiet: 22-07\n",
            ":3: channels[0].quiet: '22' is not a time of day",
        ),
        (
            "channels:\n  - id: console\n    follows: [nope]\n",
            ":3: channels[0].follows: 'nope' is not a topic",
        ),
        (
            "feeds:\n  - url: https://x.example/\n  - url: https://x.example/\n",
            ":3: feeds[1].url: https://x.example/ is listed twice",
        ),
        ("feeds: [\n", ": not valid YAML"),
        ("- just\n- a list\n", ":1: the file must be a mapping"),
    ],
)
def test_config_errors_are_located(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(write(tmp_path, text))
    assert expected in message, message
    assert "Traceback" not in message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    assert "no such file" in error_of(tmp_path / "nope.yaml")


def test_secrets_come_from_env_and_files_and_are_masked(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij\n")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1234-secret",
        "TELEGRAM_BOT_TOKEN_FILE": str(token_file),
        "DATABASE_URL": "postgresql+psycopg://bot:hunter2@db.example/skywatch",
    }
    config = load_config(write(tmp_path, "feeds: []\n"), env=env)
    assert config.secrets.telegram_bot_token is not None
    assert config.secrets.telegram_bot_token.get_secret_value().startswith("123456:")
    shown = repr(config.masked())
    for secret in ("xoxb-1234-secret", "ABCDEFGHIJ", "hunter2"):
        assert secret not in shown
    assert config.masked()["environment"]["slack_bot_token"] == "***"
    assert "bot:***@db.example" in config.masked()["environment"]["database"]


def test_sqlite_lives_in_the_data_dir_next_to_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "settings:\n  data_dir: state\n"), env={})
    assert config.database_url == f"sqlite:///{tmp_path / 'state' / 'skywatch.db'}"
