"""feeds.yaml validation: good files load, bad ones say file, line, field and what is wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import MAX_DURATION, format_duration, load_config, parse_duration
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


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("-5m", "'-5m' is negative; a duration is 0 or more, e.g. 5m"),
        (-3, "'-3' is negative"),
        ("999999999d", "'999999999d' is longer than 10 years (3650d); write at most 3650d"),
        ("99999999999999999999s", "is longer than 10 years"),
        (10**30, "is longer than 10 years"),
        (float("inf"), "is longer than 10 years"),
        (float("nan"), "is not a duration"),
    ],
)
def test_negative_and_absurd_durations_are_refused_with_the_bound(
    value: object, problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_duration(value)


def test_ten_years_is_the_longest_duration() -> None:
    assert parse_duration("3650d") == MAX_DURATION == timedelta(days=3650)
    with pytest.raises(ValueError, match="longer than 10 years"):
        parse_duration("3650d1s")


@pytest.mark.parametrize("key", ["poll_interval", "max_interval"])
def test_an_absurd_interval_is_a_located_config_error(tmp_path: Path, key: str) -> None:
    # It used to load, and then every poll crashed in next_check_at (date out of range).
    path = write(tmp_path, f"settings:\n  {key}: 999999999d\n")
    assert error_of(path) == (
        f"{path}:2: settings.{key}: '999999999d' is longer than 10 years (3650d); "
        "write at most 3650d"
    )


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
            "channels:\n  - id: console\n    digest_at: 12:30\n",
            ':3: channels[0].digest_at: write the time in quotes, e.g. "12:30"',
        ),
        (
            "channels:\n  - id: console\n    quiet: '7:00-07:00'\n",
            ":3: channels[0].quiet: '7:00-07:00' starts and ends at the same time",
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "a: &x [*x]\n",
            ":1: a[0]: is an alias of an entry that contains it; YAML loops are not allowed",
            id="alias loop",  # RecursionError
        ),
        pytest.param(
            "feeds:\n  - url: https://a.example/rss\nsettings:\n  poll_interval: 5m\nfeeds: []\n",
            ":5: feeds is given twice (first on line 1); keep one",
            id="top-level key twice",  # the first list was dropped silently
        ),
        pytest.param(
            "settings:\n  poll_interval: 5m\n  poll_interval: 6m\n",
            ":3: settings.poll_interval is given twice (first on line 2); keep one",
            id="setting twice",
        ),
        pytest.param(
            "a: " + "[" * 5000 + "]" * 5000 + "\n",
            ": nested too deeply to be a configuration",
            id="deep nesting",
        ),
    ],
)
def test_yaml_that_is_no_configuration_is_refused_with_its_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    assert error_of(path) == f"{path}{expected}"


def test_anchors_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds:\n"
        "  - &wire {url: https://a.example/rss, interval: 5m}\n"
        "  - {<<: *wire, url: https://b.example/rss}\n"
        "  - {url: https://c.example/rss, interval: 10m}\n",
    )
    feeds = load_config(path, env={}).file.feeds
    assert [(f.url, f.interval) for f in feeds] == [
        ("https://a.example/rss", timedelta(minutes=5)),
        ("https://b.example/rss", timedelta(minutes=5)),
        ("https://c.example/rss", timedelta(minutes=10)),
    ]


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


def test_a_secret_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    # It ended in UnicodeDecodeError.
    token_file = tmp_path / "token"
    token_file.write_bytes(b"\xff\xfe\x00x")
    env = {"SLACK_BOT_TOKEN_FILE": str(token_file)}
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "feeds: []\n"), env=env)
    assert str(info.value) == (
        f"SLACK_BOT_TOKEN_FILE: {token_file} is not UTF-8 text; it should hold the secret alone"
    )


def test_a_data_dir_that_is_a_file_is_a_located_error(tmp_path: Path) -> None:
    # Opening the database ended in FileExistsError (or NotADirectoryError below a file).
    (tmp_path / "afile").write_text("")
    path = write(tmp_path, "feeds: []\nsettings:\n  data_dir: afile\n")
    assert error_of(path) == (
        f"{path}:3: settings.data_dir: 'afile' is a file; name a directory"
        " (it is created when missing)"
    )
    env = {"SKYWATCH_DATA_DIR": str(tmp_path / "afile" / "db")}
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "feeds: []\n"), env=env)
    assert str(info.value) == (
        f"SKYWATCH_DATA_DIR: '{tmp_path}/afile/db' is under {tmp_path}/afile, a file;"
        " name a directory (it is created when missing)"
    )
    with_url = {**env, "DATABASE_URL": "postgresql+psycopg://db.example/skywatch"}
    path = write(tmp_path, "settings:\n  data_dir: afile\n")
    assert load_config(path, env=with_url).settings.data_dir == Path("afile")  # not used


def test_sqlite_lives_in_the_data_dir_next_to_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "settings:\n  data_dir: state\n"), env={})
    assert config.database_url == f"sqlite:///{tmp_path / 'state' / 'skywatch.db'}"


# -- serving chat ---------------------------------------------------------------------------


def test_chat_settings_have_defaults_and_can_be_set(tmp_path: Path) -> None:
    default = load_config(write(tmp_path, "feeds: []\n"), env={}).settings
    assert (default.slack_host, default.slack_port) == ("0.0.0.0", 3000)
    assert (default.telegram_webhook_host, default.telegram_webhook_port) == ("0.0.0.0", 8443)
    assert default.chat_commands is True
    text = (
        "settings:\n  slack_host: 127.0.0.1\n  slack_port: 8080\n"
        "  telegram_webhook_host: '::1'\n  telegram_webhook_port: 9000\n"
        "  chat_commands: false\n"
    )
    settings = load_config(write(tmp_path, text), env={}).settings
    assert (settings.slack_host, settings.slack_port) == ("127.0.0.1", 8080)
    assert (settings.telegram_webhook_host, settings.telegram_webhook_port) == ("::1", 9000)
    assert settings.chat_commands is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("settings:\n  slack_port: 70000\n", ":2: settings.slack_port: input should be less"),
        ("settings:\n  slack_port: http\n", ":2: settings.slack_port: input should be a valid"),
        (
            "settings:\n  data_dir: x\n  telegram_webhook_port: 0\n",
            ":3: settings.telegram_webhook_port: input should be greater than or equal to 1",
        ),
        ("settings:\n  chat_commands: maybe\n", ":2: settings.chat_commands: input should be"),
        ("settings:\n  slack_listen: 1\n", ":2: settings.slack_listen: is not a known setting"),
    ],
)
def test_chat_setting_errors_are_located(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(write(tmp_path, text))
    assert expected in message, message


def test_webhook_env_is_read(tmp_path: Path) -> None:
    env = {
        "TELEGRAM_WEBHOOK_URL": "https://bot.example:8443/tg/hook",
        "TELEGRAM_WEBHOOK_SECRET": "s3cret_-X",
        "SLACK_APP_TOKEN": "xapp-1",
        "SLACK_SIGNING_SECRET": "abc",
    }
    config = load_config(write(tmp_path, "feeds: []\n"), env=env)
    assert config.secrets.telegram_webhook_url == "https://bot.example:8443/tg/hook"
    shown = config.masked()["environment"]
    assert shown["telegram_webhook_secret"] == shown["slack_app_token"] == "***"
    assert "s3cret" not in repr(config.masked())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TELEGRAM_WEBHOOK_URL": "http://bot.example/tg", "TELEGRAM_WEBHOOK_SECRET": "s"},
            "TELEGRAM_WEBHOOK_URL: 'http://bot.example/tg' is not an https URL",
        ),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://bot.example:3000/tg", "TELEGRAM_WEBHOOK_SECRET": "s"},
            "TELEGRAM_WEBHOOK_URL: Telegram posts only to ports 443, 80, 88, 8443",
        ),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://bot.example/tg"},
            "TELEGRAM_WEBHOOK_SECRET: is required with TELEGRAM_WEBHOOK_URL",
        ),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://bot.example/tg", "TELEGRAM_WEBHOOK_SECRET": "a b"},
            "TELEGRAM_WEBHOOK_SECRET: use 1-256 letters, digits, _ or -",
        ),
    ],
)
def test_webhook_env_errors_say_what_to_fix(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "feeds: []\n"), env=env)
    assert str(info.value) == expected or str(info.value).startswith(expected), str(info.value)
    assert "a b" not in str(info.value)  # a secret is never echoed
