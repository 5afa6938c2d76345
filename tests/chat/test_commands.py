"""The command core on a real database (SQLite and PostgreSQL), every command and its bad input."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.chat.commands import COMMANDS, Commands, FeedAddResult, split_args
from bot.chat.replies import Reply, Table
from bot.config import FeedSpec
from bot.errors import StoreError
from bot.store import feeds as feed_store
from bot.store import items as item_store
from bot.store import outbox
from bot.store.db import Database
from bot.store.schema import Channel, Feed, Subscription
from bot.types import Hit, Item, Match
from tests.chat.conftest import NOW, TOPICS, clock, make_ctx
from tests.chat.sites import FEED_TITLE, SiteServer


def store_item(
    db: Database,
    title: str,
    *,
    hours_ago: float = 1,
    lang: str = "en",
    matches: tuple[Match, ...] = (),
    feed: str = "Wire",
) -> int:
    with db.write() as session:
        url = f"https://{feed.lower()}.example/rss"
        feed_id = session.scalar(select(Feed.id).where(Feed.url == url))
        if feed_id is None:
            feed_id = feed_store.add_feed(session, url, NOW, name=feed).id
        n = session.scalar(select(func.count()).select_from(Feed)) or 0
        item = Item(
            key=f"{title}-{n}",
            title=title,
            link=f"https://{feed.lower()}.example/{n}",
            summary="",
            published_at=NOW - timedelta(hours=hours_ago),
            content_hash=title,
            lang=lang,
        )
        item_id = item_store.insert_item(session, feed_id, item, now=NOW, alerted=False)
        assert item_id is not None
        item_store.insert_matches(session, item_id, list(matches), now=NOW)
        return item_id


async def run(commands: Commands, text: str, **ctx: object) -> Reply:
    return await commands.handle(make_ctx(**ctx), text)  # type: ignore[arg-type]


# -- help and bad input -------------------------------------------------------------------


async def test_help_lists_every_command_on_one_line_each(commands: Commands) -> None:
    reply = await run(commands, "help")
    lines = reply.plain().splitlines()
    assert len(lines) == len(COMMANDS)
    for line, command in zip(lines, COMMANDS.values(), strict=True):
        assert line.startswith("/skywatch " + command.usage)


@pytest.mark.parametrize("text", ["", "   ", "HELP"])
async def test_empty_or_help_gives_help(commands: Commands, text: str) -> None:
    reply = await run(commands, text)
    assert reply.kind == "ok" and "/skywatch search QUERY" in reply.plain()


@pytest.mark.parametrize("text", ["frobnicate", "<!channel>", "searchx Patriot"])
async def test_unknown_command_gives_help(commands: Commands, text: str) -> None:
    reply = await run(commands, text)
    assert reply.kind == "usage"
    assert "search QUERY" in reply.plain()


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("search", "/skywatch search QUERY"),
        ("search topic:air-defense", "/skywatch search QUERY"),
        ("search x lang:german!", "lang:de"),
        ("search x since:yesterday", "since:yesterday is neither"),
        ("search x topic:nope", "nope is not a topic"),
        ("follow", "/skywatch follow TOPIC"),
        ("follow a b", "/skywatch follow TOPIC"),
        ("follow nope", "nope is not a topic. Topics: air-defense, energy."),
        ("unfollow", "/skywatch unfollow TOPIC"),
        ("why", "/skywatch why ITEM"),
        ("why abc", "/skywatch why ITEM"),
        ("mute", "/skywatch mute DURATION|off"),
        ("mute forever", "forever is not a duration"),
        ("mute 31d", "At most 30d"),
        ("mute 99999999d", "At most 30d"),
        ("mute -5m", "-5m is negative"),
        ("search x since:99999999d", "since:99999999d: '99999999d' is longer than 10 years"),
        ("search x since:-2d", "since:-2d: '-2d' is negative"),
        ("quiet 25:00-07:00", "is not a time range"),
        ("quiet", "/skywatch quiet HH:MM-HH:MM|off"),
        ("feeds explode", "Usage: /skywatch feeds add URL\nUsage: /skywatch feeds remove URL|ID"),
    ],
)
async def test_wrong_arguments_give_the_usage_line(
    commands: Commands, text: str, usage: str
) -> None:
    reply = await run(commands, text)
    assert reply.kind == "usage", reply.plain()
    assert usage in reply.plain()


async def test_unclosed_quotes_and_smart_quotes_are_tolerated(
    database: Database, commands: Commands
) -> None:
    store_item(database, "Patriot air defense")
    for text in ['search "air defense', "search “air defense”"]:
        reply = await run(commands, text)
        assert "Patriot air defense" in reply.plain()


async def test_an_unexpected_error_is_logged_not_shown(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(url: str) -> FeedAddResult:
        raise RuntimeError("secret internals")

    commands = Commands(db=database, topics=TOPICS, add_feed=broken, clock=clock)
    with caplog.at_level(logging.ERROR, logger="bot.chat.commands"):
        reply = await run(commands, "feeds add https://example.com/", admin=True)
    assert reply.plain() == "Something went wrong; the error was logged."
    assert "secret internals" not in reply.plain()
    assert "RuntimeError: secret internals" in caplog.text  # with the traceback


async def test_a_bot_error_becomes_its_message(database: Database) -> None:
    async def refused(url: str) -> FeedAddResult:
        raise StoreError("the database is read-only")

    commands = Commands(db=database, topics=TOPICS, add_feed=refused, clock=clock)
    reply = await run(commands, "feeds add https://example.com/", admin=True)
    assert (reply.kind, reply.plain()) == ("error", "the database is read-only")


# -- search -------------------------------------------------------------------------------


async def test_search_finds_items_in_every_language(database: Database, commands: Commands) -> None:
    store_item(database, "米軍、パトリオットを配備", lang="ja", hours_ago=1)
    store_item(database, "Системы ППО отразили атаку", lang="ru", hours_ago=2)
    store_item(database, "Die Flugabwehr wird verstärkt", lang="de", hours_ago=3)
    for query, title in [
        ("パトリオット", "米軍、パトリオット"),
        ("ППО", "Системы ППО"),
        ("Flugabwehr", "Die Flugabwehr"),
    ]:
        reply = await run(commands, f"search {query}")
        assert title in reply.plain()
        assert len([s for line in reply.body for s in line if getattr(s, "link", None)]) == 1


async def test_search_shows_title_outlet_time_link_and_id_newest_first(
    database: Database, commands: Commands
) -> None:
    old = store_item(database, "Patriot old", hours_ago=5, feed="Wire")
    new = store_item(database, "Patriot new", hours_ago=1, feed="Daily")
    reply = await run(commands, "search patriot")
    text = reply.plain()
    assert text.index("Patriot new") < text.index("Patriot old")
    assert f"Daily · 2026-11-27 11:00 UTC · en · #{new}" in text
    assert f"Wire · 2026-11-27 07:00 UTC · en · #{old}" in text
    links = [s.link for line in reply.body if not isinstance(line, Table) for s in line if s.link]
    assert links == ["https://daily.example/2", "https://wire.example/1"]


async def test_search_filters(database: Database, commands: Commands) -> None:
    store_item(
        database, "Patriot in Poland", lang="en", hours_ago=1, matches=(Match("air-defense", 2.0),)
    )
    store_item(database, "Patriot-Raketen", lang="de", hours_ago=30)
    assert "Patriot in Poland" not in (await run(commands, "search patriot lang:de")).plain()
    assert "Patriot-Raketen" in (await run(commands, "search patriot lang:de")).plain()
    topic = (await run(commands, "search patriot topic:air-defense")).plain()
    assert "Patriot in Poland" in topic and "Raketen" not in topic
    recent = (await run(commands, "search patriot since:1d")).plain()
    assert "Patriot in Poland" in recent and "Raketen" not in recent
    dated = (await run(commands, "search patriot since:2026-11-26")).plain()
    assert "Raketen" in dated  # published 2026-11-26 06:00


async def test_search_without_results_says_so(commands: Commands) -> None:
    reply = await run(commands, "search xyzzy")
    assert reply.plain() == "No stored item matches xyzzy."


# -- topics, follow, unfollow -------------------------------------------------------------


def follows(db: Database, channel: str) -> set[str]:
    with db.read() as session:
        return set(
            session.scalars(select(Subscription.topic).where(Subscription.channel_id == channel))
        )


async def test_follow_creates_the_channel_and_unfollow_removes(
    database: Database, commands: Commands
) -> None:
    reply = await run(commands, "follow air-defense", channel="slack:CNEW")
    assert reply.plain() == "This channel follows: air-defense." and not reply.ephemeral
    with database.read() as session:
        row = session.get(Channel, "slack:CNEW")
        assert row is not None and (row.platform, row.workspace, row.mode) == (
            "slack",
            "T1",
            "instant",
        )
    assert (await run(commands, "follow air-defense", channel="slack:CNEW")).plain() == (
        "This channel already follows air-defense."
    )
    await run(commands, "follow energy", channel="slack:CNEW")
    assert follows(database, "slack:CNEW") == {"air-defense", "energy"}
    reply = await run(commands, "unfollow energy", channel="slack:CNEW")
    assert reply.plain() == "This channel follows: air-defense."
    assert (await run(commands, "unfollow energy", channel="slack:CNEW")).plain() == (
        "This channel does not follow energy."
    )


async def test_follow_star_and_narrowing(database: Database, commands: Commands) -> None:
    await run(commands, "follow *", channel="telegram:-100")
    assert follows(database, "telegram:-100") == {"*"}
    topics = (await run(commands, "topics", channel="telegram:-100")).plain()
    assert "follows every topic" in topics
    assert "✓ air-defense — Air defense systems" in topics and "✓ energy" in topics
    reply = await run(commands, "follow energy", channel="telegram:-100")
    assert "now only energy" in reply.plain()
    assert follows(database, "telegram:-100") == {"energy"}
    await run(commands, "follow all", channel="telegram:-100")
    await run(commands, "unfollow energy", channel="telegram:-100")
    assert follows(database, "telegram:-100") == {"air-defense"}
    await run(commands, "unfollow *", channel="telegram:-100")
    assert follows(database, "telegram:-100") == set()
    assert "follows no topic" in (await run(commands, "topics", channel="telegram:-100")).plain()


async def test_a_channel_of_another_workspace_is_refused(
    database: Database, commands: Commands
) -> None:
    await run(commands, "follow energy", channel="slack:CSHARED", workspace="T1")
    reply = await run(commands, "unfollow energy", channel="slack:CSHARED", workspace="T2")
    assert reply.plain() == "this channel belongs to another workspace"
    assert follows(database, "slack:CSHARED") == {"energy"}


async def test_configured_channels_hear_an_edit_of_the_file_wins(database: Database) -> None:
    commands = Commands(
        db=database,
        topics=TOPICS,
        add_feed=_no_fetch,
        clock=clock,
        configured_channels=frozenset({"slack:CCONF"}),
    )
    reply = await run(commands, "follow energy", channel="slack:CCONF")
    assert "stays until its follows there are edited" in reply.plain()


async def _no_fetch(url: str) -> FeedAddResult:
    raise AssertionError("nothing may be fetched")


# -- why ----------------------------------------------------------------------------------


async def test_why_explains_the_match(database: Database, commands: Commands) -> None:
    match = Match(
        "air-defense",
        2.5,
        hits=(Hit("system", "Patriot", "title", 0, 7),),
        snippet="Patriot batteries arrive",
    )
    item_id = store_item(database, "Patriot batteries arrive", matches=(match,))
    text = (await run(commands, f"why #{item_id}")).plain()
    assert "air-defense score 2.5" in text
    assert "system: Patriot in the title" in text
    assert "“Patriot batteries arrive”" in text
    plain = store_item(database, "Unmatched item")
    assert "matched no topic" in (await run(commands, f"why {plain}")).plain()
    assert (await run(commands, "why 99999")).plain() == "There is no item #99999."
    huge = "9999999999999999999999"  # beyond SQLite's integer: it overflowed
    assert (await run(commands, f"why #{huge}")).plain() == f"There is no item #{huge}."


# -- feeds --------------------------------------------------------------------------------


async def test_feeds_is_a_health_table(database: Database, commands: Commands) -> None:
    assert "No feeds yet" in (await run(commands, "feeds")).plain()
    store_item(database, "One", feed="Wire")
    with database.write() as session:
        feed = feed_store.add_feed(session, "https://broken.example/rss", NOW, name="Broken")
        feed_store.record_error(
            session,
            feed.id,
            now=NOW,
            error="HTTP 500",
            next_check_at=NOW,
            permanent=False,
            report_after=3,
        )
    reply = await run(commands, "feeds")
    (table,) = [part for part in reply.body if isinstance(part, Table)]
    assert table.header == ("id", "feed", "status", "items", "last ok", "errors")
    assert [row[1:4] for row in table.rows] == [("Wire", "active", "1"), ("Broken", "failing", "0")]
    assert table.rows[1][5] == "1"


async def test_feeds_add_needs_an_admin_and_fetches_nothing_otherwise(
    database: Database, commands: Commands, site: SiteServer
) -> None:
    ctx = make_ctx(admin=False)
    reply = await commands.handle(ctx, f"feeds add {site.url('/site')}")
    assert reply.kind == "refused" and "Only workspace or chat admins" in reply.plain()
    assert ctx.admin_checks == ["U1"]  # type: ignore[attr-defined]
    assert sum(site.hits.values()) == 0
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Feed)) == 0
    assert (await run(commands, "feeds remove 1")).kind == "refused"


async def test_feeds_add_resolves_a_site_to_its_feed(
    database: Database, commands: Commands, site: SiteServer
) -> None:
    reply = await run(commands, f"feeds add {site.url('/site')}", admin=True)
    assert reply.plain().startswith(f"Added {FEED_TITLE} (3 items), #")
    assert site.url("/feed.xml") in reply.plain() and not reply.ephemeral
    with database.read() as session:
        feed = session.scalar(select(Feed))
        assert feed is not None
        assert (feed.url, feed.name, feed.origin, feed.status) == (
            site.url("/feed.xml"),
            FEED_TITLE,
            "chat",
            "active",
        )
    again = await run(commands, f"feeds add {site.url('/feed.xml')}", admin=True)
    assert again.kind == "error" and "already followed" in again.plain()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "/etc/passwd",
        "ftp://localhost/feed",
        "gopher://localhost/",
        "data:text/xml,<rss/>",
        "javascript:alert(1)",
        "http://user:pass@localhost/feed.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/feed",
        "http://[::1]/feed",
    ],
)
async def test_feeds_add_refuses_unsafe_urls(
    database: Database, commands: Commands, site: SiteServer, url: str
) -> None:
    reply = await run(commands, f"feeds add {url}", admin=True)
    assert reply.kind == "refused", reply.plain()
    assert reply.plain().startswith("Refused: ") and "refused:" not in reply.plain()
    assert sum(site.hits.values()) == 0
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Feed)) == 0


async def test_feeds_add_refuses_this_machine_by_address(
    commands: Commands, site: SiteServer
) -> None:
    reply = await run(commands, f"feeds add {site.url('/feed.xml', host='127.0.0.1')}", admin=True)
    assert reply.kind == "refused"
    assert site.hits["/feed.xml"] == 0  # the listener saw nothing


async def test_feeds_add_reports_unreachable_and_non_feeds(
    commands: Commands, site: SiteServer
) -> None:
    unreachable = await run(commands, "feeds add http://localhost:9/feed", admin=True)
    assert unreachable.kind == "error" and unreachable.plain().startswith("Could not fetch it: ")
    plain = await run(commands, f"feeds add {site.url('/plain')}", admin=True)
    assert plain.kind == "error" and "links to no feed" in plain.plain()


async def test_feeds_remove(database: Database, commands: Commands) -> None:
    store_item(database, "One", feed="Wire")
    reply = await run(commands, "feeds remove https://wire.example/rss", admin=True)
    assert reply.plain() == "Stopped polling Wire; its items stay searchable."
    missing = await run(commands, "feeds remove 4242", admin=True)
    assert missing.kind == "error" and "no followed feed 4242" in missing.plain()
    huge = await run(commands, "feeds remove 9999999999999999999999", admin=True)
    assert huge.kind == "error", huge.plain()
    assert "no followed feed 9999999999999999999999" in huge.plain()
    assert (await run(commands, "feeds remove", admin=True)).kind == "usage"


async def test_feeds_remove_of_a_configured_feed_says_it_stays_off(
    database: Database, commands: Commands
) -> None:
    with database.write() as session:
        feed_store.sync_feeds(session, [FeedSpec(url="https://desk.example/rss", name="Desk")], NOW)
    reply = await run(commands, "feeds remove https://desk.example/rss", admin=True)
    assert reply.plain() == (
        "Stopped polling Desk; its items stay searchable."
        " It stays off after a restart, though the configuration lists it."
    )


# -- digest, mute, quiet, status ------------------------------------------------------------


async def test_digest_without_a_builder_says_so(commands: Commands) -> None:
    assert (await run(commands, "digest")).plain() == "Digests are not configured on this bot."


async def test_digest_runs_the_builder_for_this_channel(database: Database) -> None:
    asked: list[str] = []

    async def digest_now(channel: str) -> Reply:
        asked.append(channel)
        return Reply.text("Digest of today")

    commands = Commands(
        db=database, topics=TOPICS, add_feed=_no_fetch, digest_now=digest_now, clock=clock
    )
    reply = await run(commands, "digest", channel="telegram:-5/7")
    assert (reply.plain(), asked) == ("Digest of today", ["telegram:-5/7"])


def channel_row(db: Database, channel: str) -> Channel:
    with db.read() as session:
        row = session.get(Channel, channel)
        assert row is not None
        return row


async def test_mute_and_unmute(database: Database, commands: Commands) -> None:
    reply = await run(commands, "mute 2h", channel="slack:CM")
    assert reply.plain().startswith("Muted for 2h, until 2026-11-27 14:00 UTC.")
    assert channel_row(database, "slack:CM").muted_until == NOW + timedelta(hours=2)
    await run(commands, "mute off", channel="slack:CM")
    assert channel_row(database, "slack:CM").muted_until is None


async def test_quiet_hours(database: Database, commands: Commands) -> None:
    reply = await run(commands, "quiet 8:00-9:30", channel="slack:CQ")
    assert reply.plain().startswith("Quiet hours 08:00-09:30 (UTC)")
    assert channel_row(database, "slack:CQ").quiet == "08:00-09:30"
    await run(commands, "quiet off", channel="slack:CQ")
    assert channel_row(database, "slack:CQ").quiet is None
    empty = await run(commands, "quiet 0:00-00:00", channel="slack:CQ")
    assert empty.kind == "usage" and "starts and ends at the same time" in empty.plain()
    assert channel_row(database, "slack:CQ").quiet is None


async def test_mute_and_quiet_replies_say_what_happens_to_held_alerts(
    commands: Commands,
) -> None:
    """The replies follow `settings.quiet_policy`, as the sender does."""
    assert "go out when it ends" in (await run(commands, "mute 1h", channel="slack:CH")).plain()
    assert "go out now" in (await run(commands, "mute off", channel="slack:CH")).plain()
    commands.quiet_policy = "digest"
    for text in ("mute 1h", "mute off", "quiet 22:00-07:00"):
        reply = (await run(commands, text, channel="slack:CH")).plain()
        assert "held alerts go into the next digest" in reply, (text, reply)


async def test_status(database: Database, commands: Commands) -> None:
    store_item(database, "One", feed="Wire")
    with database.write() as session:
        wire = session.scalar(select(Feed).where(Feed.name == "Wire"))
        assert wire is not None
        feed_store.record_success(
            session, wire.id, now=NOW - timedelta(minutes=5), next_check_at=NOW
        )
        bad = feed_store.add_feed(session, "https://bad.example/rss", NOW, name="Bad")
        feed_store.record_error(
            session,
            bad.id,
            now=NOW,
            error="HTTP 503 <b>x</b>",
            next_check_at=NOW,
            permanent=False,
            report_after=3,
        )
        session.add(Channel(id="slack:CS", platform="slack", quiet="22:00-07:00"))
        session.flush()
        outbox.enqueue(
            session,
            channel_id="slack:CS",
            kind="report",
            dedup_key="r1",
            payload={"text": "x"},
            now=NOW,
        )
    text = (await run(commands, "status", channel="slack:CS")).plain()
    assert "Last successful poll: 5m ago" in text
    assert "Feeds: 2 polled, 1 failing" in text
    assert "Queue: 1 deliveries waiting, 0 given up" in text
    assert "This channel: follows no topic; quiet 22:00-07:00 (UTC)" in text
    assert "Bad" in text and "HTTP 503 <b>x</b>" in text
    fresh = (await run(commands, "status", channel="slack:CNEVER")).plain()
    assert "not set up yet" in fresh


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('search "air defense" lang:de', ["search", "air defense", "lang:de"]),
        ('search "unclosed phrase', ["search", "unclosed phrase"]),
        ("search l'armée з'їзд Biden's", ["search", "l'armée", "з'їзд", "Biden's"]),
        ("search «Протиповітряна оборона»", ["search", "Протиповітряна оборона"]),
        ("search a\\b #c", ["search", "a\\b", "#c"]),
    ],
)
def test_split_args(text: str, words: list[str]) -> None:
    assert split_args(text) == words
