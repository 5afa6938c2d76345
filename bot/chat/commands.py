"""The command core: one implementation of every chat command, for Slack and Telegram.

    reply = await commands.handle(ctx, "search Patriot lang:de")

The platform adapters (bot/chat/slack.py, bot/chat/telegram.py) only turn a
slash command or a Telegram message into a `CommandContext` plus text, and a
`Reply` into the platform's markup. Everything a command does is scoped to
the channel it was typed in (`ctx.channel_id`).

`handle` never raises: a `BotError` becomes a reply with its message (those
messages are written for users), anything else "Something went wrong", with
the traceback logged. Admin checks run only for admin commands, and before
any work (nothing is fetched or stored for a refused `feeds add`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.chat import views
from bot.chat.replies import Line, Reply, Span, line, usage_reply
from bot.config import DurationRangeError, format_duration, parse_duration
from bot.errors import BlockedAddressError, BotError, FetchError, ParseError
from bot.match.spec import TopicSpec
from bot.store import feeds as feed_store
from bot.store import items as item_store
from bot.store import outbox
from bot.store import search as search_store
from bot.store import subscriptions as subs
from bot.store.channels import ALL_TOPICS
from bot.store.db import Database

log = logging.getLogger(__name__)

#: longest mute; a forgotten `mute 1y` would silence a channel for good
MAX_MUTE = timedelta(days=30)
SEARCH_LIMIT = 10
_QUIET = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$")
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})?$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILTERS = ("topic", "since", "lang")


@dataclass
class CommandContext:
    """Who typed a command, and where."""

    platform: str
    #: `slack:<channel>` or `telegram:<chat>[/<thread>]`; every effect is scoped to it
    channel_id: str
    user_id: str
    #: Slack team id; None on Telegram (a chat is its own scope)
    workspace: str | None
    #: asked only by admin commands (a Slack users.info or Telegram getChatMember call)
    is_admin: Callable[[], Awaitable[bool]]
    #: how commands are typed on this platform, for help and usage lines
    prefix: str = "/skywatch "


@dataclass(frozen=True, slots=True)
class FeedAddResult:
    """A feed added by `feeds add`."""

    feed_id: int
    url: str
    title: str
    item_count: int


@dataclass(frozen=True, slots=True)
class _Command:
    usage: str
    help: str
    admin: bool = False


#: name -> usage and one line of help; `help` lists them in this order
COMMANDS: dict[str, _Command] = {
    "help": _Command("help", "these commands"),
    "search": _Command(
        "search QUERY [topic:T] [since:2d] [lang:de]", "the newest stored items matching QUERY"
    ),
    "topics": _Command("topics", "every topic, and which this channel follows"),
    "follow": _Command("follow TOPIC", "alert this channel about TOPIC (* for every topic)"),
    "unfollow": _Command("unfollow TOPIC", "stop alerting this channel about TOPIC"),
    "why": _Command("why ITEM", "why an item matched: terms, fields, score"),
    "feeds": _Command("feeds", "feed health"),
    "feeds add": _Command("feeds add URL", "follow a feed, or a site's feed (admins)", admin=True),
    "feeds remove": _Command("feeds remove URL|ID", "stop polling a feed (admins)", admin=True),
    "digest": _Command("digest", "this channel's digest, now"),
    "mute": _Command("mute DURATION|off", "hold this channel's alerts, e.g. mute 2h"),
    "quiet": _Command("quiet HH:MM-HH:MM|off", "daily quiet hours for this channel"),
    "status": _Command("status", "last poll, queue, failing feeds, this channel"),
}


class UsageError(BotError):
    """Wrong arguments; the reply is the command's usage line."""

    def __init__(self, command: str, problem: str = "") -> None:
        super().__init__(problem or f"wrong arguments for {command}")
        self.command = command
        self.problem = problem


def utcnow() -> datetime:
    return datetime.now(UTC)


def split_args(text: str) -> list[str]:
    """Words; `"two words"` is one. Tolerant: smart quotes work, an unclosed quote closes
    at the end, and apostrophes are letters (l'armée, з'їзд, Biden's), not quotes."""
    text = text.translate({0x201C: '"', 0x201D: '"', 0x201E: '"', 0xAB: '"', 0xBB: '"'})
    for attempt in (text, text + '"'):
        lexer = shlex.shlex(attempt, posix=True)
        lexer.whitespace_split, lexer.quotes, lexer.escape, lexer.commenters = True, '"', "", ""
        try:
            return list(lexer)
        except ValueError:
            continue
    return text.split()


@dataclass
class Commands:
    """Every chat command, built with the services it needs (injected, so tests use real ones)."""

    db: Database
    topics: Mapping[str, TopicSpec]
    add_feed: Callable[[str], Awaitable[FeedAddResult]]
    digest_now: Callable[[str], Awaitable[Reply]] | None = None
    clock: Callable[[], datetime] = utcnow
    #: channels feeds.yaml lists: a chat change lasts until their `follows` there is edited
    configured_channels: frozenset[str] = field(default_factory=frozenset)
    #: `settings.quiet_policy`: what happens to alerts held by a mute or quiet hours
    quiet_policy: Literal["release", "digest"] = "release"

    async def handle(self, ctx: CommandContext, text: str) -> Reply:
        """Run one command; always a reply, never an exception."""
        args = split_args(text)
        name = args[0].lower() if args else "help"
        try:
            return await self._dispatch(ctx, name, args[1:])
        except UsageError as e:
            return self._usage(ctx, e)
        except BotError as e:
            return Reply.text(str(e), kind="error")
        except Exception:
            log.exception(
                "command failed",
                extra={"platform": ctx.platform, "channel": ctx.channel_id, "command": name},
            )
            return Reply.text("Something went wrong; the error was logged.", kind="error")

    async def _dispatch(self, ctx: CommandContext, name: str, args: list[str]) -> Reply:
        if name == "feeds" and args and args[0].lower() in ("add", "remove"):
            name, args = f"feeds {args[0].lower()}", args[1:]
        command = COMMANDS.get(name)
        if command is None:
            return self.help(ctx, unknown=name)
        if command.admin and not await ctx.is_admin():
            log.info(
                "admin command refused",
                extra={"platform": ctx.platform, "user": ctx.user_id, "command": name},
            )
            return Reply.text(f"Only workspace or chat admins may use {name}.", kind="refused")
        handler = getattr(self, "cmd_" + name.replace(" ", "_"))
        reply: Reply = await handler(ctx, args)
        return reply

    def _usage(self, ctx: CommandContext, error: UsageError) -> Reply:
        # `feeds` has sub-commands of its own: show them all.
        names = [n for n in COMMANDS if n == error.command or n.startswith(error.command + " ")]
        usage = usage_reply([ctx.prefix + COMMANDS[n].usage for n in names])
        if error.problem:
            return Reply(((Span(error.problem),), *usage.body), kind="usage")
        return usage

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Database work off the event loop (SQLite and psycopg calls block)."""
        return await asyncio.to_thread(fn, *args)

    # -- help ---------------------------------------------------------------------------

    def help(self, ctx: CommandContext, unknown: str | None = None) -> Reply:
        lines: list[Line] = []
        if unknown is not None:
            lines.append(line("Unknown command ", Span(unknown, code=True), ". Commands:"))
        for command in COMMANDS.values():
            lines.append(line(Span(ctx.prefix + command.usage, code=True), " — " + command.help))
        return Reply(tuple(lines), kind="ok" if unknown is None else "usage")

    async def cmd_help(self, ctx: CommandContext, args: list[str]) -> Reply:
        return self.help(ctx)

    # -- search -------------------------------------------------------------------------

    async def cmd_search(self, ctx: CommandContext, args: list[str]) -> Reply:
        terms, filters = self._search_args(args)
        if not terms:
            raise UsageError("search", "What should I search for?")
        items, zone = await self._run(self._search, ctx.channel_id, terms, filters)
        note = None
        if search_store.only_short_terms(terms) and len(items) < SEARCH_LIMIT:
            note = (
                f"Terms under {search_store.MIN_INDEXED} characters search the newest "
                f"{search_store.SHORT_SCAN_ITEMS:,} items only; add a longer term for all."
            )
        return views.search_reply(items, " ".join(terms), zone, note)

    def _search_args(self, args: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
        terms: list[str] = []
        filters: dict[str, Any] = {}
        for arg in args:
            key, sep, value = arg.partition(":")
            if not sep or key.lower() not in _FILTERS or not value:
                terms.append(arg)
            elif key.lower() == "topic":
                filters["topic"] = self._topic(value, "search")
            elif key.lower() == "since":
                filters["since"] = self._since(value)
            else:
                if not _LANG.match(value):
                    raise UsageError(
                        "search", f"{value} is not a language code; write e.g. lang:de"
                    )
                filters["lang"] = value
        return terms, filters

    def _since(self, value: str) -> datetime:
        if _DATE.match(value):
            try:
                return datetime.fromisoformat(value).replace(tzinfo=UTC)
            except ValueError:
                pass
        try:
            return self.clock() - parse_duration(value)
        except DurationRangeError as e:
            raise UsageError("search", f"since:{value}: {e}") from None
        except ValueError:
            raise UsageError(
                "search", f"since:{value} is neither a duration (2d, 6h) nor a date (2026-11-01)"
            ) from None

    def _search(
        self, channel_id: str, terms: list[str], filters: dict[str, Any]
    ) -> tuple[list[item_store.StoredItem], ZoneInfo]:
        with self.db.read() as session:
            items = search_store.search(session, terms, limit=SEARCH_LIMIT, **filters)
            state = subs.channel_state(session, channel_id)
        return items, ZoneInfo(state.timezone if state else "UTC")

    # -- topics, follow, unfollow -------------------------------------------------------

    async def cmd_topics(self, ctx: CommandContext, args: list[str]) -> Reply:
        follows = await self._run(self._followed, ctx.channel_id)
        return views.topics_reply(self.topics, follows)

    def _followed(self, channel_id: str) -> frozenset[str]:
        with self.db.read() as session:
            return subs.followed(session, channel_id)

    async def cmd_follow(self, ctx: CommandContext, args: list[str]) -> Reply:
        topic = self._one_topic(args, "follow")
        change = await self._run(self._change, ctx, topic, True)
        if not change.changed:
            return Reply.text(f"This channel already follows {topic}.")
        note = ""
        if ALL_TOPICS in change.before and topic != ALL_TOPICS:
            note = f" It followed every topic; now only {topic} (follow * for all again)."
        return self._changed(ctx, views.following(change.after) + note)

    async def cmd_unfollow(self, ctx: CommandContext, args: list[str]) -> Reply:
        topic = self._one_topic(args, "unfollow")
        change = await self._run(self._change, ctx, topic, False)
        if not change.changed:
            return Reply.text(f"This channel does not follow {topic}.")
        return self._changed(ctx, views.following(change.after))

    def _one_topic(self, args: list[str], command: str) -> str:
        if len(args) != 1:
            raise UsageError(command)
        if args[0].lower() in ("*", "all"):
            return ALL_TOPICS
        return self._topic(args[0], command)

    def _topic(self, name: str, command: str) -> str:
        if name in self.topics:
            return name
        known = ", ".join(sorted(self.topics)) or "none configured"
        raise UsageError(command, f"{name} is not a topic. Topics: {known}.")

    def _change(self, ctx: CommandContext, topic: str, follow: bool) -> subs.FollowChange:
        with self.db.write() as session:
            subs.ensure_channel(
                session, ctx.channel_id, platform=ctx.platform, workspace=ctx.workspace
            )
            if follow:
                return subs.follow(session, ctx.channel_id, topic)
            return subs.unfollow(session, ctx.channel_id, topic, self.topics)

    def _changed(self, ctx: CommandContext, text: str) -> Reply:
        lines = [text]
        if ctx.channel_id in self.configured_channels:
            lines.append(
                "feeds.yaml sets this channel's topics too: this change stays until "
                "its follows there are edited."
            )
        return Reply.text(*lines, ephemeral=False)

    # -- why ----------------------------------------------------------------------------

    async def cmd_why(self, ctx: CommandContext, args: list[str]) -> Reply:
        number = args[0].lstrip("#") if len(args) == 1 else ""
        item_id = item_store.row_id(number)
        if item_id is None:
            raise UsageError("why")
        item, explanations = await self._run(self._why, item_id)
        if item is None:
            return Reply.text(f"There is no item #{number}.")
        return views.why_reply(item, explanations)

    def _why(self, item_id: int) -> tuple[item_store.StoredItem | None, list[dict[str, Any]]]:
        with self.db.read() as session:
            return item_store.get_item(session, item_id), item_store.explanations(session, item_id)

    # -- feeds --------------------------------------------------------------------------

    async def cmd_feeds(self, ctx: CommandContext, args: list[str]) -> Reply:
        if args:
            raise UsageError("feeds", f"Unknown feeds command {args[0]}; use add or remove.")
        health = await self._run(self._feed_health)
        return views.feeds_reply(health, self.clock())

    def _feed_health(self) -> list[feed_store.FeedHealth]:
        with self.db.read() as session:
            return feed_store.feed_health(session)

    async def cmd_feeds_add(self, ctx: CommandContext, args: list[str]) -> Reply:
        if len(args) != 1:
            raise UsageError("feeds add")
        try:
            added = await self.add_feed(args[0])
        except BlockedAddressError as e:
            # the guard's messages start "refused: …" already
            return Reply.text(f"Refused: {str(e).removeprefix('refused: ')}", kind="refused")
        except FetchError as e:
            return Reply.text(f"Could not fetch it: {e}", kind="error")
        except ParseError as e:
            return Reply.text(f"Not a feed: {e}", kind="error")
        count = f"{added.item_count} item{'' if added.item_count == 1 else 's'}"
        return Reply(
            (
                line(
                    "Added ",
                    Span(added.title, link=added.url, bold=True),
                    f" ({count}), #{added.feed_id}",
                ),
                line(added.url),
            ),
            ephemeral=False,
        )

    async def cmd_feeds_remove(self, ctx: CommandContext, args: list[str]) -> Reply:
        if len(args) != 1:
            raise UsageError("feeds remove")
        name, listed = await self._run(self._remove_feed, args[0])
        text = f"Stopped polling {name}; its items stay searchable."
        if listed:  # else the next start would seem to have undone it
            text += " It stays off after a restart, though the configuration lists it."
        return Reply.text(text, ephemeral=False)

    def _remove_feed(self, url_or_id: str) -> tuple[str, bool]:
        """The removed feed's name, and whether feeds.yaml lists it."""
        with self.db.write() as session:
            feed = feed_store.remove_feed(session, url_or_id.lstrip("#"))
            return feed.name or feed.title or feed.url, feed.origin == "config"

    # -- digest, mute, quiet ------------------------------------------------------------

    async def cmd_digest(self, ctx: CommandContext, args: list[str]) -> Reply:
        if self.digest_now is None:
            return Reply.text("Digests are not configured on this bot.")
        return await self.digest_now(ctx.channel_id)

    async def cmd_mute(self, ctx: CommandContext, args: list[str]) -> Reply:
        if len(args) != 1:
            raise UsageError("mute")
        if args[0].lower() in ("off", "0", "0s", "no"):
            await self._run(self._settings, ctx, "muted_until", None)
            return Reply.text(
                f"Alerts are on again; {self._held_fate(ended=True)}.", ephemeral=False
            )
        try:
            length = parse_duration(args[0])
        except DurationRangeError as e:
            problem = f"At most {format_duration(MAX_MUTE)}."
            if not e.too_long:
                problem = f"{args[0]} is negative; write e.g. 30m, 2h or 1d."
            raise UsageError("mute", problem) from None
        except ValueError:
            raise UsageError(
                "mute", f"{args[0]} is not a duration; write e.g. 30m, 2h or 1d."
            ) from None
        if length > MAX_MUTE:
            raise UsageError("mute", f"At most {format_duration(MAX_MUTE)}.")
        until = self.clock() + length
        await self._run(self._settings, ctx, "muted_until", until)
        return Reply.text(
            f"Muted for {format_duration(length)}, until {until:%Y-%m-%d %H:%M} UTC. "
            f"Alerts are held, not lost: {self._held_fate()}.",
            ephemeral=False,
        )

    async def cmd_quiet(self, ctx: CommandContext, args: list[str]) -> Reply:
        if len(args) != 1:
            raise UsageError("quiet")
        if args[0].lower() in ("off", "none", "no"):
            await self._run(self._settings, ctx, "quiet", None)
            return Reply.text("No quiet hours any more.", ephemeral=False)
        match = _QUIET.match(args[0].replace(" ", ""))
        if match is None:
            raise UsageError("quiet", f"{args[0]} is not a time range; write e.g. 22:00-07:00.")
        h1, m1, h2, m2 = match.groups()
        if (int(h1), m1) == (int(h2), m2):
            raise UsageError(
                "quiet", f"{args[0]} starts and ends at the same time; write e.g. 22:00-07:00."
            )
        quiet = f"{int(h1):02d}:{m1}-{int(h2):02d}:{m2}"
        zone = await self._run(self._settings, ctx, "quiet", quiet)
        return Reply.text(
            f"Quiet hours {quiet} ({zone}); alerts in between are held, not lost: "
            f"{self._held_fate()}.",
            ephemeral=False,
        )

    def _held_fate(self, *, ended: bool = False) -> str:
        """What happens to held alerts, as the sender will do it (`quiet_policy`)."""
        if self.quiet_policy == "digest":
            return "held alerts go into the next digest"
        return "held alerts go out now" if ended else "held alerts go out when it ends"

    def _settings(self, ctx: CommandContext, name: str, value: Any) -> str:
        """Set one channel setting, creating the channel row if needed; the channel's zone."""
        with self.db.write() as session:
            subs.ensure_channel(
                session, ctx.channel_id, platform=ctx.platform, workspace=ctx.workspace
            )
            if name == "quiet":
                subs.set_quiet(session, ctx.channel_id, value)
            else:
                subs.set_muted_until(session, ctx.channel_id, value)
            state = subs.channel_state(session, ctx.channel_id)
        return state.timezone if state else "UTC"

    # -- status -------------------------------------------------------------------------

    async def cmd_status(self, ctx: CommandContext, args: list[str]) -> Reply:
        health, counts, state = await self._run(self._status, ctx.channel_id)
        return views.status_reply(health, counts, state, self.clock())

    def _status(
        self, channel_id: str
    ) -> tuple[list[feed_store.FeedHealth], dict[str, int], subs.ChannelState | None]:
        with self.db.read() as session:
            return (
                feed_store.feed_health(session),
                outbox.status_counts(session),
                subs.channel_state(session, channel_id),
            )
