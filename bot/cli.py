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
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot import __version__
from bot.config import DEFAULT_CONFIG, Config, load_config
from bot.errors import BotError, ConfigError
from bot.logs import setup_logging
from bot.match.backtest import backtest_command

# Markup off: feed titles, URLs and errors are printed as written (with markup, a title
# holding "[/b]" stopped `feeds list` and "[bold]" restyled it); styles come from Text.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)


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
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_CONFIG,
    envvar="SKYWATCH_CONFIG",
    show_default=True,
    show_envvar=True,
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
        ("feeds", poll.feeds),
        ("fetched", poll.fetched),
        ("not modified", poll.not_modified),
        ("new items", poll.new_items),
        ("matched", poll.matched),
        ("alerts queued", poll.queued),
        ("alerts sent", sent.sent),
        ("errors", poll.errors),
        ("time", f"{poll.seconds:.1f} s"),
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


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """A duration option's value, or a usage error saying what to write (exit 2)."""
    from bot.config import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


@cli.command()
@click.option(
    "--grace",
    default="10m",
    show_default=True,
    callback=_duration,
    help="How late a feed may be.",
)
@pass_state
def health(state: State, grace: timedelta) -> None:
    """Exit 0 while the database answers and no feed is overdue by more than GRACE."""
    from datetime import UTC, datetime

    from bot.config import format_duration
    from bot.store import feeds as feed_store
    from bot.store.db import Database

    database = Database(state.config.database_url)
    with database.read() as session:
        late = feed_store.most_overdue(session, datetime.now(UTC))
    if late is not None and late > grace:
        err.print(
            f"unhealthy: a feed is {format_duration(late)} overdue; is the scheduler running?"
        )
        sys.exit(1)
    out.print("healthy")


def _safe_url(url: str) -> str:
    from bot.logs import redact

    return redact(url)


# -- feeds ------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.pass_context
def feeds(ctx: click.Context) -> None:
    """List and manage the feeds (list, add, remove, import, export)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(feeds_list)


def _database(state: State) -> Any:
    from bot.store.db import Database

    database = Database(state.config.database_url)
    database.upgrade()
    return database


@feeds.command("list")
@pass_state
def feeds_list(state: State) -> None:
    """Feed health as a table: status, last success, errors, items."""
    from bot.store import feeds as feed_store

    with _database(state).read() as session:
        rows = feed_store.feed_health(session)
    out.print(feed_table(rows))


def feed_table(rows: list[Any]) -> Table:
    table = Table(title=_count(len(rows), "feed"))
    for column in (
        "id",
        "feed",
        "status",
        "last success",
        "errors",
        "items",
        "items/day",
        "last error",
    ):
        table.add_column(column, overflow="fold")
    for f in rows:
        status = Text(f.status, style=_STATUS_STYLES.get(f.status, ""))
        table.add_row(
            str(f.id),
            # the URL too: two feeds may share a name, and `feeds remove` takes either
            Text.assemble(f.name, "\n", (f.url, "dim")) if f.name else f.url,
            status,
            f.last_success_at.strftime("%Y-%m-%d %H:%M") if f.last_success_at else "never",
            str(f.consecutive_errors) if f.consecutive_errors else "",
            str(f.item_count),
            f"{f.items_per_day:.1f}" if f.items_per_day is not None else "",
            (f.last_error or "")[:80],
        )
    return table


_STATUS_STYLES = {"active": "green", "failing": "yellow"}


@feeds.command("add")
@click.argument("url")
@click.option("--name", help="A display name (default: the feed's title).")
@pass_state
def feeds_add(state: State, url: str, name: str | None) -> None:
    """Add a feed by its URL, or a site's URL (its feed is discovered)."""
    from bot.feeds.fetch import Fetcher
    from bot.feeds.guard import check_url
    from bot.feeds.probe import probe_feed
    from bot.store import feeds as feed_store
    from bot.update import utcnow

    check_url(url, state.config.settings.allow_private_hosts)

    async def probe() -> Any:
        async with Fetcher.from_settings(state.config.settings) as fetcher:
            return await probe_feed(fetcher, url)

    found = asyncio.run(probe())
    with _database(state).write() as session:
        feed_store.add_feed(session, found.url, utcnow(), name=name or found.title, origin="cli")
    out.print(f"added {name or found.title} ({found.url}): {len(found.parsed.items)} items now")


@feeds.command("remove")
@click.argument("url_or_id")
@pass_state
def feeds_remove(state: State, url_or_id: str) -> None:
    """Stop polling a feed (by URL or id); its items stay searchable."""
    from bot.store import feeds as feed_store

    with _database(state).write() as session:
        feed = feed_store.remove_feed(session, url_or_id)
        url, listed = feed.url, feed.origin == "config"
    out.print(f"removed {url}")
    if listed:
        err.print(
            "feeds.yaml lists it, but it stays removed, also after a restart;"
            " `skywatch feeds add URL` brings it back",
        )


@feeds.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_state
def feeds_import(state: State, opml_file: Path) -> None:
    """Add every feed of an OPML file (feeds already followed are skipped).

    Each URL is checked as `feeds add` checks it: one the bot would refuse to fetch
    (another scheme, this machine, a private network not allowed in the settings)
    is not imported, and said so.
    """
    from rich.progress import track

    from bot.errors import FetchError, StoreError
    from bot.feeds.guard import check_url
    from bot.feeds.opml import read_opml
    from bot.store import feeds as feed_store
    from bot.update import utcnow

    outlines = read_opml(opml_file.read_bytes())
    database = _database(state)
    allowed = state.config.settings.allow_private_hosts
    added, skipped, refused = 0, 0, []
    for outline in track(outlines, description="importing", console=err, transient=True):
        try:
            check_url(outline.url, allowed)
            with database.write() as session:
                feed_store.add_feed(
                    session, outline.url, utcnow(), name=outline.title, origin="opml"
                )
            added += 1
        except StoreError:
            skipped += 1
        except FetchError as e:
            refused.append(f"{outline.url}: {e}")
    out.print(f"imported {_count(added, 'feed')} from {opml_file} ({skipped} already followed)")
    for line in refused:
        err.print(f"not imported {line}")


def _count(n: int, noun: str) -> str:
    """ "1 feed", "2 feeds"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@feeds.command("export")
@pass_state
def feeds_export(state: State) -> None:
    """Print the followed feeds as OPML (save with `> feeds.opml`)."""
    from bot.feeds.opml import OutlineFeed, write_opml
    from bot.store import feeds as feed_store

    with _database(state).read() as session:
        rows = [f for f in feed_store.feed_health(session) if f.status in feed_store.POLLED]
    sys.stdout.buffer.write(write_opml(OutlineFeed(f.url, f.name) for f in rows))


@cli.command()
@click.argument("source")
@pass_state
def parse(state: State, source: str) -> None:
    """Print a feed's parsed, normalized items as JSON lines (SOURCE: a file or a URL)."""
    from datetime import UTC, datetime

    from bot.feeds.fetch import Fetcher
    from bot.feeds.parse import parse_feed
    from bot.feeds.prepare import normalized

    if source.lower().startswith(("http://", "https://")) or "://" in source:

        async def fetch() -> Any:
            async with Fetcher.from_settings(state.config.settings) as fetcher:
                return await fetcher.fetch_url(source)

        fetched = asyncio.run(fetch())
        body, headers, base = fetched.body, fetched.headers, fetched.url
    else:
        try:
            body, headers, base = Path(source).read_bytes(), {}, None
        except OSError as e:
            raise click.ClickException(f"cannot read {source}: {e.strerror}") from None
    parsed = parse_feed(body, headers, base)
    now = datetime.now(UTC)
    for item in normalized(parsed, base or "", now, None):
        print_json_lines(
            [
                {
                    "title": item.title,
                    "link": item.link,
                    "id": item.key,
                    "published": item.published_at.isoformat(),
                    "summary": item.summary,
                }
            ]
        )
    if parsed.problem:
        err.print(f"note: the feed is broken and was recovered: {parsed.problem}")


# -- matching -----------------------------------------------------------------------------


@cli.command()
@click.option(
    "--explain", is_flag=True, help="Add `why`: the terms, fields and score of each match."
)
@click.argument("input_file", metavar="[INPUT]", required=False, type=click.File("rb"))
@pass_state
def match(state: State, explain: bool, input_file: Any) -> None:
    """Add `topics` to JSON lines ({"title", "summary", "lang", "id"}) from INPUT or stdin.

    A line that is not UTF-8 or holds a lone surrogate (e.g. "\\ud800") gets an error
    object naming it, {"line": N, "error": "line N: ..."}, and the others go on.
    """
    import io

    from bot.match.jsonl import match_stream
    from bot.match.topics import TopicMatcher

    matcher = TopicMatcher.compile(state.config.file.topics)
    binary = input_file or click.get_binary_stream("stdin")
    # surrogateescape: an undecodable byte becomes a lone surrogate in that line only
    text = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape")
    lines = _NumberedLines(text)
    for doc in match_stream(matcher, lines, explain=explain):
        # match_stream reads lazily: the document it yields is for the line read last
        doc = _checked_output(doc, lines.number, lines.bad_byte)
        sys.stdout.buffer.write(doc.encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


class _NumberedLines:
    """The lines of a text stream, remembering the number of the last one read and its
    first undecodable byte (a lone surrogate left by errors="surrogateescape")."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.number = 0
        self.bad_byte: tuple[int, int] | None = None

    def __iter__(self) -> Any:
        for line in self._stream:
            self.number += 1
            self.bad_byte = _first_surrogate(line)
            yield line


def _first_surrogate(text: str) -> tuple[int, int] | None:
    """(column, code point) of the first lone surrogate in `text`, or None."""
    found = _SURROGATE.search(text)
    return (found.start() + 1, ord(found.group())) if found else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _checked_output(doc: str, number: int, bad_byte: tuple[int, int] | None) -> str:
    """`doc`, or an error object for line `number` when its input or output is not text."""
    if bad_byte is not None:
        column, code = bad_byte
        problem = f"not UTF-8 text (byte 0x{code - 0xDC00:02x} at column {column})"
    elif (surrogate := _first_surrogate(doc)) is not None:
        problem = f"holds a lone surrogate \\u{surrogate[1]:04x}, which is not text; remove it"
    else:
        return doc
    return json.dumps({"line": number, "error": f"line {number}: {problem}"})


@cli.command("eval")
@click.argument("labelled_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_state
def evaluate_topics(state: State, labelled_file: Path) -> None:
    """Precision, recall and F1 of the topics on a labelled JSON-lines file."""
    from bot.match.evaluate import evaluate, load_labelled, render_report
    from bot.match.topics import TopicMatcher

    matcher = TopicMatcher.compile(state.config.file.topics)
    out.print(render_report(evaluate(matcher, load_labelled(labelled_file))))


# -- digest -----------------------------------------------------------------------------


@cli.command()
@click.option(
    "--channel",
    "channel_id",
    default="console",
    show_default=True,
    help="The channel, e.g. slack:C0123ABCD.",
)
@click.option("--dry-run", is_flag=True, help="Print the digest here; send and record nothing.")
@click.option(
    "--since",
    default=None,
    callback=_duration,
    help="Cover this much time, e.g. 2d (default: since the last digest).",
)
@pass_state
def digest(state: State, channel_id: str, dry_run: bool, since: timedelta | None) -> None:
    """Build a channel's digest now: preview it (--dry-run) or send it."""
    from datetime import UTC, datetime

    from sqlalchemy import select, update

    from bot.notify.digest import FIRST_DIGEST_SPAN, build_digest, digest_preview_rows
    from bot.store import outbox
    from bot.store.schema import Channel, OutboxRow

    now = datetime.now(UTC)
    database = _database(state)
    with database.read() as session:
        channel = session.get(Channel, channel_id)
        if channel is None:
            configured = [c.id for c in state.config.channels()]
            if channel_id in configured:
                raise click.ClickException(
                    f"{channel_id} is configured but not stored yet: `skywatch run` (or"
                    " `skywatch run --once`) stores the channels when it starts"
                )
            raise click.ClickException(
                f"no channel {channel_id} (configured: {', '.join(configured) or 'none'})"
            )
        start = (
            now - since
            if since is not None
            else (channel.last_digest_at or now - FIRST_DIGEST_SPAN)
        )
        payload = build_digest(session, channel_id, since=start, until=now)
    if dry_run:
        table = Table(title=payload["title"])
        for column in ("topic", "sources", "story", "outlets"):
            table.add_column(column, overflow="fold")
        for row in digest_preview_rows(payload):
            table.add_row(*row)
        out.print(table)
        return
    if not payload["sections"]:
        out.print("nothing to send: no stories in that period")
        return
    with database.write() as session:
        waiting = _waiting_manual_digest(session, channel_id)
        key = waiting or _manual_digest_prefix(channel_id) + now.isoformat()
        if waiting is not None:  # asked for again: due now, whatever its backoff said
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.dedup_key == key, OutboxRow.status == "pending")
                .values(due_at=now)
            )
        else:
            outbox.enqueue(
                session,
                channel_id=channel_id,
                kind="digest",
                dedup_key=key,
                payload=payload,
                now=now,
            )
    if waiting is not None:  # one that could not go out before: not a second copy
        err.print(f"a digest for {channel_id} is still waiting to be sent; sending that one")
    asyncio.run(_send_now(state.config))
    with database.read() as session:
        row = session.scalar(select(OutboxRow).where(OutboxRow.dedup_key == key))
        status, error = (row.status, row.last_error) if row is not None else ("gone", None)
    if status == "sent":
        out.print(f"sent the digest to {channel_id}")
        return
    reason = f": {error}" if error else ""
    raise click.ClickException(
        f"the digest for {channel_id} is not sent yet ({status}{reason}); it stays queued and"
        " goes out at the next send (`skywatch run`)"
    )


#: outbox statuses of a message that has not gone out but still may
_WAITING = ("pending", "sending", "held")


def _manual_digest_prefix(channel_id: str) -> str:
    """How the dedup keys of `skywatch digest`'s digests for a channel start."""
    return f"digest:{channel_id}:manual:"


def _waiting_manual_digest(session: Any, channel_id: str) -> str | None:
    """The dedup key of a `skywatch digest` still waiting for this channel, if any."""
    from sqlalchemy import select

    from bot.store.schema import OutboxRow

    key: str | None = session.scalar(
        select(OutboxRow.dedup_key)
        .where(
            OutboxRow.channel_id == channel_id,
            OutboxRow.kind == "digest",
            OutboxRow.dedup_key.startswith(_manual_digest_prefix(channel_id)),
            OutboxRow.status.in_(_WAITING),
        )
        .limit(1)
    )
    return key


async def _send_now(config: Config) -> None:
    from bot.app import App

    async with App(config) as app:
        await app.send()


# -- channels -----------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.pass_context
def channel(ctx: click.Context) -> None:
    """List the channels alerts go to, and resume a paused one (list, resume)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(channel_list)


@channel.command("list")
@pass_state
def channel_list(state: State) -> None:
    """Channels as a table: platform, mode, topics followed, why paused, messages waiting."""
    with _database(state).read() as session:
        rows = _channel_rows(session)
    if not rows:
        out.print("no channels yet: `skywatch run` stores the configured ones when it starts")
        return
    table = Table(title=f"{len(rows)} channels")
    for column in ("id", "platform", "mode", "follows", "paused", "pending"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _channel_rows(session: Any) -> list[tuple[str | Text, ...]]:
    """One row of text per stored channel, in id order."""
    from sqlalchemy import func, select

    from bot.store.channels import ALL_TOPICS
    from bot.store.schema import Channel, OutboxRow, Subscription

    follows: dict[str, list[str]] = {}
    for channel_id, topic in session.execute(
        select(Subscription.channel_id, Subscription.topic).order_by(Subscription.topic)
    ):
        follows.setdefault(channel_id, []).append(topic)
    # Rows not yet sent: pending, or being sent (`sending`) right now.
    pending = dict(
        session.execute(
            select(OutboxRow.channel_id, func.count())
            .where(OutboxRow.status.in_(("pending", "sending")))
            .group_by(OutboxRow.channel_id)
        ).all()
    )
    rows: list[tuple[str | Text, ...]] = []
    for c in session.scalars(select(Channel).order_by(Channel.id)):
        topics = follows.get(c.id, [])
        paused: str | Text = ""
        if c.paused_reason is not None:
            since = f" (since {c.paused_at:%Y-%m-%d %H:%M} UTC)" if c.paused_at else ""
            paused = Text.assemble((c.paused_reason, "red"), since)
        rows.append(
            (
                c.id,
                c.platform,
                c.mode + (", admin" if c.is_admin else ""),
                "all topics" if ALL_TOPICS in topics else ", ".join(topics) or "none",
                paused,
                str(pending.get(c.id, 0)),
            )
        )
    return rows


@channel.command("resume")
@click.argument("channel_id")
@pass_state
def channel_resume(state: State, channel_id: str) -> None:
    """Deliver to a paused channel again; its kept messages go out at the next send."""
    from bot.store import channels as channel_store
    from bot.store.schema import Channel
    from bot.update import utcnow

    with _database(state).write() as session:
        row = session.get(Channel, channel_id)
        if row is None:
            from sqlalchemy import select

            known = ", ".join(session.scalars(select(Channel.id).order_by(Channel.id))) or "none"
            raise click.ClickException(f"no channel {channel_id!r} (known: {known})")
        if not channel_store.resume_channel(session, channel_id, utcnow()):
            out.print(f"{channel_id} is not paused; nothing to do")
            return
        waiting = _channel_pending(session, channel_id)
    out.print(
        f"resumed {channel_id}: {waiting} kept message(s) go out at the next send "
        "(within seconds while `skywatch run` is running)",
    )


def _channel_pending(session: Any, channel_id: str) -> int:
    from sqlalchemy import func, select

    from bot.store.schema import OutboxRow

    return int(
        session.scalar(
            select(func.count()).where(
                OutboxRow.channel_id == channel_id, OutboxRow.status == "pending"
            )
        )
    )


cli.add_command(backtest_command)


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
        err.print(str(e), highlight=False)
        sys.exit(2)
    except BotError as e:
        err.print(f"error: {e}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:
        if os.environ.get("SKYWATCH_DEBUG"):
            raise
        err.print(
            f"unexpected error: {type(e).__name__}: {e}\n"
            "This is a bug in Skywatch; run again with SKYWATCH_DEBUG=1 for details.",
            highlight=False,
        )
        sys.exit(1)


def print_json_lines(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
