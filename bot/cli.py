"""The `skywatch` command (also `python -m bot`).

Every command loads and validates the configuration first; a mistake there
exits with code 2 and a `file:line: field: sentence` message. Users never see
a traceback: errors are printed as one clear line (set SKYWATCH_DEBUG=1 to get
the traceback of an unexpected error).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bot import __version__
from bot.config import DEFAULT_CONFIG, Config, load_config
from bot.errors import BotError, ConfigError
from bot.logs import setup_logging

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class State:
    """What the group's options give every command."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c", "--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
    envvar="SKYWATCH_CONFIG", show_default=True, show_envvar=True,
    help="The configuration file (feeds, topics, channels).",
)
@click.version_option(__version__, prog_name="skywatch")
@click.pass_context
def cli(ctx: click.Context, config_path: Path) -> None:
    """Skywatch: multilingual news alerts for teams, in Slack, Telegram or the console."""
    ctx.obj = State(config_path)


# -- run ------------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="Poll every feed once, deliver, print a summary, exit.")
@pass_state
def run(state: State, once: bool) -> None:
    """Run the bot: poll feeds, match topics, deliver alerts (Ctrl-C stops it)."""
    config = state.config
    setup_logging(config.settings.log_level)
    asyncio.run(_run(config, once))


async def _run(config: Config, once: bool) -> None:
    from bot.app import App

    async with App(config) as app:
        if not once:
            await app.run_forever()
            return
        poll, sent = await app.run_once()
    table = Table(title="skywatch run --once", show_header=False)
    for label, value in [
        ("feeds", poll.feeds), ("fetched", poll.fetched), ("not modified", poll.not_modified),
        ("new items", poll.new_items), ("matched", poll.matched), ("alerts queued", poll.queued),
        ("alerts sent", sent.sent), ("errors", poll.errors), ("time", f"{poll.seconds:.1f} s"),
    ]:
        table.add_row(label, str(value))
    out.print(table)


# -- configuration ----------------------------------------------------------------------


@cli.command()
@pass_state
def check(state: State) -> None:
    """Validate the configuration without running anything (exit 2 when it is wrong)."""
    config = state.config
    from bot.match.topics import TopicMatcher

    TopicMatcher.compile(config.file.topics)
    out.print(
        f"{config.path}: OK — {len(config.file.feeds)} feeds, {len(config.file.topics)} topics, "
        f"{len(config.channels())} channels"
    )


@cli.command("config")
@pass_state
def show_config(state: State) -> None:
    """Show the effective configuration, secrets masked."""
    import yaml

    out.print(yaml.safe_dump(state.config.masked(), allow_unicode=True, sort_keys=False), end="")


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@pass_state
def upgrade(state: State) -> None:
    """Upgrade the database schema to the newest version (also done at start-up)."""
    from bot.store.db import Database

    database = Database(state.config.database_url)
    database.upgrade()
    out.print(f"database is up to date ({_safe_url(database.url)})")


@cli.command()
@click.option("--grace", default="10m", show_default=True, help="How late a feed may be.")
@pass_state
def health(state: State, grace: str) -> None:
    """Exit 0 while the database answers and no feed is overdue by more than GRACE."""
    from datetime import UTC, datetime

    from bot.config import format_duration, parse_duration
    from bot.store import feeds as feed_store
    from bot.store.db import Database

    limit = parse_duration(grace)
    database = Database(state.config.database_url)
    with database.read() as session:
        late = feed_store.most_overdue(session, datetime.now(UTC))
    if late is not None and late > limit:
        err.print(f"unhealthy: a feed is {format_duration(late)} overdue; is the scheduler running?")
        sys.exit(1)
    out.print("healthy")


def _safe_url(url: str) -> str:
    from bot.logs import redact

    return redact(url)


# -- entry point --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn expected errors into one clear line and an exit code."""
    try:
        cli.main(args=argv, prog_name="skywatch", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except ConfigError as e:
        err.print(str(e), markup=False, highlight=False)
        sys.exit(2)
    except BotError as e:
        err.print(f"error: {e}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:
        if os.environ.get("SKYWATCH_DEBUG"):
            raise
        err.print(
            f"unexpected error: {type(e).__name__}: {e}\n"
            "This is a bug in Skywatch; run again with SKYWATCH_DEBUG=1 for details.",
            markup=False, highlight=False,
        )
        sys.exit(1)


def print_json_lines(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
