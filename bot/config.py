"""Configuration: feeds.yaml (feeds, topics, channels, schedules) plus secrets from the environment.

Everything is validated once, at start-up, into one typed `Config`. A mistake in
feeds.yaml raises `ConfigError` whose message names the file, the line, the
field and what is wrong, e.g.

    feeds.yaml:14: feeds[3].interval: '5 minutes' is not a duration; write 5m

Secrets never live in feeds.yaml: they come from environment variables (or a
file named by `<NAME>_FILE`, for Docker secrets) and are masked when printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError
from bot.match.spec import TopicSpec

DEFAULT_CONFIG = Path("feeds.yaml")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class DurationRangeError(ValueError):
    """A well-written duration that is negative or longer than `MAX_DURATION`."""

    def __init__(self, message: str, *, too_long: bool) -> None:
        super().__init__(message)
        self.too_long = too_long


#: the longest duration accepted: anything longer is a typo, and adding it to a date
#: could leave datetime's range (OverflowError), e.g. when scheduling the next poll
MAX_DURATION = timedelta(days=3650)


def parse_duration(value: object) -> timedelta:
    """Read `90s`, `5m`, `1h30m`, `2d` (or a number of seconds) as a timedelta.

    Refuses negative durations and any above `MAX_DURATION` with a ValueError saying
    what to write instead.
    """
    if isinstance(value, timedelta):
        return _bounded(value.total_seconds(), value)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write 5m")
    if isinstance(value, int | float):
        return _bounded(value, value)
    text = str(value).strip().lower().replace(" ", "")
    if text.startswith("-") and _DURATION_PART.sub("", text[1:]) == "" and text[1:]:
        raise DurationRangeError(
            f"{str(value)!r} is negative; a duration is 0 or more, e.g. 5m", too_long=False
        )
    if text and _DURATION_PART.sub("", text) == "":
        total = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
        return _bounded(total, value)
    raise ValueError(f"{str(value)!r} is not a duration; write 5m, 2h or 1d")


def _bounded(seconds: float, shown: object) -> timedelta:
    """`seconds` as a timedelta, or a ValueError when negative, not finite or over the bound."""
    text = str(shown)
    if isinstance(shown, timedelta):
        text = format_duration(shown) if seconds >= 0 else f"{seconds:g}s"
    if seconds != seconds:  # NaN
        raise ValueError(f"{text!r} is not a duration; write 5m, 2h or 1d")
    if seconds < 0:
        raise DurationRangeError(
            f"{text!r} is negative; a duration is 0 or more, e.g. 5m", too_long=False
        )
    if seconds > MAX_DURATION.total_seconds():
        raise DurationRangeError(
            f"{text!r} is longer than 10 years (3650d); write at most 3650d", too_long=True
        )
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The inverse of `parse_duration`, for display: 5400 s -> '1h30m'."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _minutes(hhmm: str) -> int:
    """Minutes past midnight of a checked HH:MM (so 7:00 and 07:00 are the same time)."""
    hours, minutes = hhmm.strip().split(":")
    return int(hours) * 60 + int(minutes)


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time of day; write HH:MM, e.g. 08:00")
    return value


def check_http_url(value: str) -> str:
    lowered = value.strip().lower()
    if not lowered.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL; only http:// and https:// feeds work")
    return value.strip()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSpec(_Strict):
    """One feed to poll."""

    url: str
    name: str | None = None
    #: ISO 639-1 language of the feed, a hint for matching and search
    lang: str | None = None
    #: overrides settings.poll_interval for this feed
    interval: Duration | None = None

    _url = field_validator("url")(check_http_url)


class ChannelSpec(_Strict):
    """A place alerts go: `console`, `slack:<channel id>` or `telegram:<chat id>[/<topic id>]`."""

    id: str
    #: topic names this channel follows; empty follows every topic
    follows: list[str] = Field(default_factory=list)
    #: `instant` alerts plus a daily digest, or `digest` only
    mode: Literal["instant", "digest"] = "instant"
    timezone: str = "UTC"
    #: local time of the daily digest
    digest_at: str = "08:00"
    #: local quiet hours `HH:MM-HH:MM`; alerts are held, never lost
    quiet: str | None = None
    #: this channel also receives operational reports (failing feeds, paused channels)
    admin: bool = False

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if value == "console" or re.fullmatch(r"slack:[A-Z0-9]+", value):
            return value
        if re.fullmatch(r"telegram:-?\d+(/\d+)?", value) or re.fullmatch(
            r"telegram:@\w{5,}", value
        ):
            return value
        raise ValueError(
            f"{value!r} is not a channel; write console, slack:C0123ABCD or telegram:-1001234567890"
        )

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone; write e.g. Europe/Kyiv or UTC"
            ) from None
        return value

    _digest_at = field_validator("digest_at")(_check_hhmm)

    @field_validator("digest_at", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        # YAML reads an unquoted 12:30 as a number in base 60 (750); 08:00 stays text
        if isinstance(value, int) and not isinstance(value, bool):
            hours, minutes = divmod(value, 60)
            raise ValueError(
                f'write the time in quotes, e.g. "{hours:02d}:{minutes:02d}"; unquoted,'
                f" YAML reads it as the number {value}"
            )
        return value

    @field_validator("quiet")
    @classmethod
    def _check_quiet(cls, value: str | None) -> str | None:
        if value is None:
            return None
        start, sep, end = value.partition("-")
        if not sep:
            raise ValueError(f"{value!r} is not a time range; write HH:MM-HH:MM, e.g. 22:00-07:00")
        _check_hhmm(start.strip())
        _check_hhmm(end.strip())
        if _minutes(start) == _minutes(end):
            raise ValueError(f"{value!r} starts and ends at the same time; write e.g. 22:00-07:00")
        return f"{start.strip()}-{end.strip()}"

    @property
    def platform(self) -> Literal["console", "slack", "telegram"]:
        return "console" if self.id == "console" else self.id.split(":", 1)[0]  # type: ignore[return-value]


class Settings(_Strict):
    """Global knobs; every one has a sensible default."""

    #: where the SQLite database lives (ignored when DATABASE_URL is set)
    data_dir: Path = Path("data")
    poll_interval: Duration = timedelta(minutes=15)
    min_interval: Duration = timedelta(minutes=2)
    max_interval: Duration = timedelta(hours=6)
    #: only items newer than this alert; older ones are stored and searchable
    backlog_age: Duration = timedelta(hours=24)
    fetch_timeout: Duration = timedelta(seconds=20)
    #: cap on the decompressed body of one feed, in bytes
    max_feed_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    concurrency: int = Field(default=50, gt=0)
    per_host_concurrency: int = Field(default=4, gt=0)
    #: consecutive errors after which a feed is reported to the admin channel
    report_after_errors: int = Field(default=3, gt=0)
    #: hosts that may resolve to private addresses (intranet feeds, tests)
    allow_private_hosts: list[str] = Field(default_factory=list)
    #: how often the outbox sender looks for due deliveries
    send_interval: Duration = timedelta(seconds=5)
    #: how long a message being sent may stay unconfirmed before it is sent again (the
    #: process died mid-send); must exceed the longest pacing wait plus a send timeout
    send_lease: Duration = timedelta(minutes=2)
    #: at most one threaded follow-up per story and channel this often; the outlets
    #: that report the story meanwhile are listed together in it
    followup_interval: Duration = timedelta(minutes=15)
    #: alerts held by quiet hours or a mute: `release` them when the window ends,
    #: or fold them into the channel's next `digest`
    quiet_policy: Literal["release", "digest"] = "release"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: serve chat commands in `skywatch run` where tokens allow; false: alerts only
    chat_commands: bool = True
    #: where Slack slash commands arrive over HTTP (SLACK_SIGNING_SECRET set, no SLACK_APP_TOKEN)
    slack_host: str = "0.0.0.0"
    slack_port: int = Field(default=3000, ge=1, le=65535)
    #: where Telegram's webhook posts arrive (TELEGRAM_WEBHOOK_URL set), e.g. behind a TLS proxy
    telegram_webhook_host: str = "0.0.0.0"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)

    @model_validator(mode="after")
    def _check_bounds(self) -> Settings:
        if self.min_interval > self.max_interval:
            raise ValueError("min_interval is longer than max_interval")
        return self


class FileConfig(_Strict):
    """The contents of feeds.yaml."""

    settings: Settings = Field(default_factory=Settings)
    feeds: list[FeedSpec] = Field(default_factory=list)
    topics: dict[str, TopicSpec] = Field(default_factory=dict)
    channels: list[ChannelSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> FileConfig:
        for i, channel in enumerate(self.channels):
            for topic in channel.follows:
                if topic not in self.topics:
                    known = ", ".join(sorted(self.topics)) or "none defined"
                    raise _LocatedError(
                        ("channels", i, "follows"),
                        f"{topic!r} is not a topic (known: {known})",
                    )
        seen: set[str] = set()
        for i, feed in enumerate(self.feeds):
            if feed.url in seen:
                raise _LocatedError(("feeds", i, "url"), f"{feed.url} is listed twice")
            seen.add(feed.url)
        return self


class Secrets(BaseModel):
    """Tokens and URLs from the environment; masked whenever shown."""

    model_config = ConfigDict(frozen=True)

    database_url: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_url: str | None = None
    slack_api_url: str | None = None
    telegram_api_url: str | None = None
    #: user ids allowed to administer, on top of workspace/chat admins
    admin_users: tuple[str, ...] = ()
    #: SKYWATCH_DATA_DIR overrides settings.data_dir (the Docker image points it at /data)
    data_dir: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Secrets:
        def get(name: str) -> str | None:
            if value := env.get(name):
                return value
            if path := env.get(f"{name}_FILE"):
                try:
                    return Path(path).read_text(encoding="utf-8").strip() or None
                except OSError as e:
                    raise ConfigError(f"{name}_FILE: cannot read {path}: {e.strerror}") from None
                except UnicodeDecodeError:
                    raise ConfigError(
                        f"{name}_FILE: {path} is not UTF-8 text; it should hold the secret alone"
                    ) from None
            return None

        admins = get("SKYWATCH_ADMIN_USERS") or ""
        _check_webhook(get("TELEGRAM_WEBHOOK_URL"), get("TELEGRAM_WEBHOOK_SECRET"))
        return cls.model_validate(
            dict(
                database_url=get("DATABASE_URL"),
                slack_bot_token=get("SLACK_BOT_TOKEN"),
                slack_signing_secret=get("SLACK_SIGNING_SECRET"),
                slack_app_token=get("SLACK_APP_TOKEN"),
                telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
                telegram_webhook_secret=get("TELEGRAM_WEBHOOK_SECRET"),
                telegram_webhook_url=get("TELEGRAM_WEBHOOK_URL"),
                slack_api_url=get("SKYWATCH_SLACK_API_URL"),
                telegram_api_url=get("SKYWATCH_TELEGRAM_API_URL"),
                admin_users=tuple(a.strip() for a in admins.split(",") if a.strip()),
                data_dir=get("SKYWATCH_DATA_DIR"),
            )
        )


#: the ports Telegram delivers webhooks to (https://core.telegram.org/bots/api#setwebhook)
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _check_webhook(url: str | None, secret: str | None) -> None:
    """A Telegram webhook needs an https URL on a port Telegram posts to, and a secret token."""
    if url is None:
        return
    parsed = urlsplit(url.strip())
    if parsed.scheme != "https" or not parsed.hostname:
        raise ConfigError(
            f"TELEGRAM_WEBHOOK_URL: {url!r} is not an https URL; Telegram posts to https only"
        )
    try:
        port = parsed.port or 443
    except ValueError:
        port = -1
    if port not in TELEGRAM_WEBHOOK_PORTS:
        ports = ", ".join(map(str, TELEGRAM_WEBHOOK_PORTS))
        raise ConfigError(f"TELEGRAM_WEBHOOK_URL: Telegram posts only to ports {ports}")
    if secret is None:
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET: is required with TELEGRAM_WEBHOOK_URL "
            "(without it anyone could post forged updates)"
        )
    if not _WEBHOOK_SECRET.match(secret):
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET: use 1-256 letters, digits, _ or - (Telegram's rule)"
        )


class Config(BaseModel):
    """Everything the bot needs, built once at start-up."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    file: FileConfig
    secrets: Secrets

    @property
    def settings(self) -> Settings:
        return self.file.settings

    @property
    def data_dir(self) -> Path:
        """Where the SQLite database lives: SKYWATCH_DATA_DIR, else settings.data_dir,
        relative to the configuration file."""
        data_dir = Path(self.secrets.data_dir) if self.secrets.data_dir else self.settings.data_dir
        return data_dir if data_dir.is_absolute() else self.path.parent / data_dir

    @property
    def database_url(self) -> str:
        if self.secrets.database_url is not None:
            return self.secrets.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'skywatch.db'}"

    def channels(self) -> list[ChannelSpec]:
        """The configured channels, or the console alone when none is configured."""
        if self.file.channels:
            return list(self.file.channels)
        return [ChannelSpec(id="console", admin=True)]

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets replaced by '***'."""
        data = self.file.model_dump(mode="json", by_alias=True)
        for key in (
            "poll_interval",
            "min_interval",
            "max_interval",
            "backlog_age",
            "fetch_timeout",
            "send_interval",
            "send_lease",
            "followup_interval",
        ):
            data["settings"][key] = format_duration(getattr(self.settings, key))
        for spec, feed in zip(self.file.feeds, data["feeds"], strict=True):
            if spec.interval is not None:
                feed["interval"] = format_duration(spec.interval)
        data["channels"] = [c.model_dump(mode="json") for c in self.channels()]
        env: dict[str, Any] = {}
        for name, value in self.secrets:
            if isinstance(value, SecretStr):
                env[name] = "***" if value.get_secret_value() else None
            else:
                env[name] = list(value) if isinstance(value, tuple) else value
        env["database"] = _mask_url(self.database_url)
        return {"config_file": str(self.path), **data, "environment": env}


def _mask_url(url: str) -> str:
    """Hide the password in a database URL."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class _LocatedError(ValueError):
    """A cross-field error that knows which field it belongs to."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def load_config(path: Path | str = DEFAULT_CONFIG, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate feeds.yaml and the environment, or raise ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; copy feeds.yaml from the repository") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    data, lines = _load_yaml(path, text)
    try:
        file_config = FileConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(path, e, lines)) from None
    config = Config(
        path=path, file=file_config, secrets=Secrets.from_env(os.environ if env is None else env)
    )
    _check_data_dir(config, lines)
    return config


def _check_data_dir(config: Config, lines: dict[tuple[str | int, ...], int]) -> None:
    """The data directory, when SQLite is used, must be a directory or creatable as one
    (a file there ended in FileExistsError when the database was opened)."""
    if config.secrets.database_url is not None:
        return
    if config.secrets.data_dir:
        where = f"SKYWATCH_DATA_DIR: {config.secrets.data_dir!r}"
    else:
        line = _nearest_line(("settings", "data_dir"), lines)
        where = f"{config.path}:{line}: settings.data_dir: '{config.settings.data_dir}'"
    for place in (config.data_dir, *config.data_dir.parents):
        if place.is_dir():
            return
        if place.exists():
            problem = "is a file" if place == config.data_dir else f"is under {place}, a file"
            raise ConfigError(f"{where} {problem}; name a directory (it is created when missing)")


def _load_yaml(path: Path, text: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse YAML, keeping the line of every key and list entry for error messages.

    Refuses what PyYAML lets through: a key given twice in one mapping (it kept the
    last silently) and an alias inside its own anchor (a loop no setting can hold).
    """
    loader = yaml.SafeLoader(text)
    lines: dict[tuple[str | int, ...], int] = {}
    try:
        node = loader.get_single_node()
        if node is not None:
            _index_lines(node, (), lines, set(), set())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    except _YamlShapeError as e:
        raise ConfigError(f"{path}:{e.line}: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a configuration") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the file must be a mapping with feeds, topics and channels")
    return data, lines


class _YamlShapeError(ValueError):
    """Well-formed YAML that is no configuration: a repeated key, an alias loop."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _index_lines(
    node: yaml.Node,
    path: tuple[str | int, ...],
    out: dict[tuple[str | int, ...], int],
    inside: set[int],
    done: set[int],
) -> None:
    """Record the line of `node` and everything under it; `inside` holds the nodes this
    one is within (an alias to one of them is a loop), `done` those already indexed (an
    alias to one is not walked again: aliases of aliases could take exponential time)."""
    out.setdefault(path, node.start_mark.line + 1)
    if id(node) in inside:
        where = _format_loc(path) or "(top level)"
        raise _YamlShapeError(
            _nearest_line(path, out),
            f"{where}: is an alias of an entry that contains it; YAML loops are not allowed",
        )
    if id(node) in done:
        return
    done.add(id(node))
    inside.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            child = (*path, str(key.value))
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and str(key.value) in first:
                raise _YamlShapeError(
                    line,
                    f"{_format_loc(child)} is given twice (first on line {first[key.value]});"
                    " keep one",
                )
            first[str(key.value)] = line
            out[child] = line
            _index_lines(value, child, out, inside, done)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _index_lines(value, (*path, i), out, inside, done)
    inside.discard(id(node))


def _describe(path: Path, error: ValidationError, lines: dict[tuple[str | int, ...], int]) -> str:
    """Turn pydantic's errors into `file:line: field: sentence` lines."""
    messages = []
    for err in error.errors(include_url=False):
        loc: tuple[str | int, ...] = tuple(
            p for p in err["loc"] if not (isinstance(p, str) and "[" in p)
        )
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _LocatedError):
            loc = (*loc, *ctx_error.loc)
        line = _nearest_line(loc, lines)
        field = _format_loc(loc) or "(top level)"
        messages.append(f"{path}:{line}: {field}: {_sentence(err)}")
    return "\n".join(messages)


def _nearest_line(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int:
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _format_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _sentence(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known setting (check the spelling)"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    message = str(err["msg"])
    return message[0].lower() + message[1:] if message else kind
