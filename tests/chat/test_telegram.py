"""Telegram: real updates through the fake Bot API (long polling) and to the webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.chat.commands import Commands
from bot.chat.feed_add import make_add_feed
from bot.chat.telegram import (
    SECRET_HEADER,
    Webhook,
    build_telegram_app,
    claim,
    prune_claims,
    serve_telegram,
)
from bot.errors import ConfigError
from bot.feeds.fetch import Fetcher
from bot.store.db import Database
from bot.store.schema import ChatUpdate, Feed, Subscription
from tests.chat.conftest import NOW, TOPICS, clock
from tests.chat.fake_bot_api import GROUP, TOKEN, FakeBotAPI, message_id, update
from tests.chat.sites import SiteServer
from tests.chat.test_commands import store_item

ANONYMOUS = 1087968824
SECRET = "webhook-secret-0123456789"


class Telegram:
    """A running Application on the fake Bot API; `ask` delivers an update and waits."""

    def __init__(self, fake: FakeBotAPI, runner: Any) -> None:
        self.fake = fake
        self.runner = runner

    async def ask(self, text: str, **kwargs: Any) -> str:
        sent = update(text, **kwargs)
        await self.fake.deliver(sent)
        return await self.answer(sent)

    async def answer(self, sent: dict[str, Any], timeout: float = 10) -> str:
        target = message_id(sent)
        for _ in range(int(timeout / 0.02)):
            if replies := self.fake.replies_to(target):
                assert all(r["parse_mode"] == "HTML" for r in replies)
                return "\n".join(str(r["text"]) for r in replies)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no reply to {sent}")

    async def replies(self, sent: dict[str, Any], wait: float = 0.6) -> int:
        """How many messages answered `sent`, after waiting `wait` seconds for stragglers."""
        await asyncio.sleep(wait)
        return len(self.fake.replies_to(message_id(sent)))

    @property
    def webhook_url(self) -> str:
        port = self.runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/telegram/webhook"


Start = Callable[..., Awaitable[Telegram]]


@pytest.fixture
async def tg_db(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database(sqlite_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def start(tg_db: Database, fake: FakeBotAPI) -> AsyncIterator[Start]:
    """Start an Application (polling, or `webhook=True`); `stop()` ends the last one."""
    stacks: list[AsyncExitStack] = []

    async def run(webhook: bool = False, admin_users: tuple[str, ...] = ("4242",)) -> Telegram:
        stack = AsyncExitStack()
        stacks.append(stack)
        fetcher = await stack.enter_async_context(
            Fetcher(timeout_s=10, allow_private_hosts=("localhost",))
        )
        commands = Commands(
            db=tg_db, topics=TOPICS, add_feed=make_add_feed(tg_db, fetcher, clock), clock=clock
        )
        application = build_telegram_app(
            commands, token=TOKEN, base_url=fake.url, admin_users=admin_users, clock=clock
        )
        hook = Webhook(url="https://bot.example/hook", secret=SECRET, host="127.0.0.1", port=0)
        runner = await stack.enter_async_context(
            serve_telegram(application, webhook=hook if webhook else None, poll_timeout_s=1)
        )
        return Telegram(fake, runner)

    run.stop = lambda: stacks.pop().aclose()  # type: ignore[attr-defined]
    yield run
    while stacks:
        await stacks.pop().aclose()


def count(db: Database, model: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# -- every command, by long polling --------------------------------------------------------


async def test_every_command_by_polling(start: Start, tg_db: Database) -> None:
    telegram = await start()
    item = store_item(tg_db, "Patriot <b>batteries</b> & <!channel>", lang="en")
    cases = [
        ("/start", "<code>/search QUERY [topic:T] [since:2d] [lang:de]</code>"),
        ("/help", "<code>/follow TOPIC</code> — alert this channel about TOPIC"),
        ("/skywatch", "<code>/status</code>"),
        ("/search patriot", "Patriot &lt;b&gt;batteries&lt;/b&gt; &amp; &lt;!channel&gt;"),
        ("/search@skywatch_bot patriot", "The 1 newest item matching <b>patriot</b>"),
        ("/skywatch search patriot lang:en", "Patriot &lt;b&gt;"),
        ("/search", "What should I search for?"),
        ("/topics", "<code>air-defense</code> — Air defense systems"),
        ("/follow air-defense", "This channel follows: air-defense."),
        ("/unfollow air-defense", "This channel follows no topic."),
        (f"/why {item}", "It matched no topic"),
        ("/feeds", "<pre>id"),
        ("/digest", "Digests are not configured"),
        ("/mute 1h", "Muted for 1h"),
        ("/quiet 22:00-07:00", "Quiet hours 22:00-07:00"),
        ("/status", "Queue: 0 deliveries waiting"),
        ("/skywatch explode", "Unknown command <code>explode</code>"),
        ("/follow", "Usage: <code>/follow TOPIC</code>"),
        ("/mute soon", "soon is not a duration"),
        ("/feeds remove 1", "Only workspace or chat admins may use feeds remove."),
    ]
    for text, expected in cases:
        answer = await telegram.ask(text)
        assert expected in answer, (text, answer)
    assert "The 1 newest" in await telegram.ask("/search patriot")


async def test_the_command_menu_lists_every_sub_command(start: Start) -> None:
    telegram = await start()
    names = [c["command"] for c in telegram.fake.menu]
    assert names == [
        "help",
        "digest",
        "feeds",
        "follow",
        "mute",
        "quiet",
        "search",
        "status",
        "topics",
        "unfollow",
        "why",
    ]
    feeds = next(c["description"] for c in telegram.fake.menu if c["command"] == "feeds")
    assert feeds.startswith("feeds | feeds add URL | feeds remove URL|ID: feed health")


async def test_hostile_input_is_escaped(start: Start) -> None:
    telegram = await start()
    answer = await telegram.ask("/search <b>x</b> <a href='tg://x'>y</a> @channel")
    assert answer == (
        "No stored item matches &lt;b&gt;x&lt;/b&gt; &lt;a href=&#x27;tg://x&#x27;&gt;y&lt;/a&gt; "
        "@channel."
    )


async def test_forum_topics_are_channels_of_their_own(start: Start, tg_db: Database) -> None:
    telegram = await start()
    sent = update("/follow energy", thread=7)
    await telegram.fake.deliver(sent)
    assert "follows: energy" in await telegram.answer(sent)
    (reply,) = telegram.fake.replies_to(message_id(sent))
    assert str(reply["message_thread_id"]) == "7"
    with tg_db.read() as session:
        rows = session.execute(select(Subscription.channel_id, Subscription.topic)).all()
    assert [tuple(r) for r in rows] == [(f"telegram:{GROUP}/7", "energy")]


async def test_service_posts_edits_and_other_bots_commands_are_ignored(start: Start) -> None:
    telegram = await start()
    ignored = [
        update("/status", user_id=777000),
        update("/status", edited=True),
        update("/frobnicate"),  # a group: maybe another bot's command
    ]
    await telegram.fake.deliver(*ignored)
    assert "Queue:" in await telegram.ask("/status")  # handled after the ignored ones
    for sent in ignored:
        assert await telegram.replies(sent, wait=0.05) == 0


async def test_unknown_commands_in_a_private_chat_get_help(start: Start) -> None:
    telegram = await start()
    answer = await telegram.ask("/frobnicate", chat_id=42, chat_type="private")
    assert "<code>/search QUERY" in answer


# -- each update once --------------------------------------------------------------------------


async def test_an_update_delivered_twice_is_handled_once_also_after_a_restart(
    start: Start, tg_db: Database, site: SiteServer
) -> None:
    telegram = await start()
    first = update(f"/feeds add {site.url('/site')}", user_id=4242)  # allow-listed
    await telegram.fake.deliver(first, first)
    assert "Added" in await telegram.answer(first)
    assert await telegram.replies(first) == 1
    assert (count(tg_db, Feed), site.hits["/site"]) == (1, 1)

    await start.stop()  # type: ignore[attr-defined]
    await telegram.fake.idle()
    telegram = await start()  # a new Application on the same database
    later = update("/status")
    await telegram.fake.deliver(first, later)
    assert "Queue:" in await telegram.answer(later)
    assert [first["update_id"], later["update_id"]] in telegram.fake.served  # it was resent
    assert await telegram.replies(first, wait=0.1) == 1
    assert site.hits["/site"] == 1
    assert count(tg_db, ChatUpdate) == 2


# -- webhook -------------------------------------------------------------------------------------


async def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        return r.status


async def test_webhook_takes_updates_with_the_secret_only(start: Start) -> None:
    telegram = await start(webhook=True)
    (call,) = [p for m, p in telegram.fake.calls if m == "setWebhook"]
    assert (call["url"], call["secret_token"]) == ("https://bot.example/hook", SECRET)

    good = update("/topics")
    assert await post(telegram.webhook_url, good, {SECRET_HEADER: SECRET}) == 200
    assert "air-defense" in await telegram.answer(good)

    for headers in (
        {},
        {SECRET_HEADER: "wrong"},
        {SECRET_HEADER: SECRET[:-1]},
        {SECRET_HEADER: SECRET + "x"},
    ):
        refused = update("/topics")
        assert await post(telegram.webhook_url, refused, headers) == 403
        assert await telegram.replies(refused, wait=0.05) == 0
    assert await post(telegram.webhook_url, {"not": "an update"}, {SECRET_HEADER: SECRET}) == 400


async def test_a_webhook_retry_is_handled_once(start: Start) -> None:
    telegram = await start(webhook=True)
    sent = update("/mute 2h")
    for _ in range(3):
        assert await post(telegram.webhook_url, sent, {SECRET_HEADER: SECRET}) == 200
    assert "Muted for 2h" in await telegram.answer(sent)
    assert await telegram.replies(sent) == 1


async def test_a_webhook_needs_a_secret(start: Start, tg_db: Database) -> None:
    commands = Commands(db=tg_db, topics=TOPICS, add_feed=_never, clock=clock)
    application = build_telegram_app(commands, token=TOKEN, base_url="http://127.0.0.1:9/bot")
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        async with serve_telegram(application, webhook=Webhook(url="https://x/", secret="")):
            pass


async def _never(url: str) -> Any:
    raise AssertionError("nothing may be fetched")


# -- admins ----------------------------------------------------------------------------------


async def test_a_member_may_not_add_feeds(start: Start, tg_db: Database, site: SiteServer) -> None:
    telegram = await start()
    answer = await telegram.ask(f"/feeds add {site.url('/site')}", user_id=42)
    assert answer == "Only workspace or chat admins may use feeds add."
    assert (count(tg_db, Feed), sum(site.hits.values())) == (0, 0)
    asked = [p for m, p in telegram.fake.calls if m == "getChatMember"]
    assert [(p["chat_id"], p["user_id"]) for p in asked] == [(str(GROUP), "42")]


@pytest.mark.parametrize("status", ["creator", "administrator"])
async def test_chat_creators_and_administrators_may_add_feeds(
    start: Start, tg_db: Database, site: SiteServer, status: str
) -> None:
    telegram = await start()
    telegram.fake.members[(str(GROUP), "42")] = status
    answer = await telegram.ask(f"/feeds add {site.url('/site')}", user_id=42)
    assert answer.startswith(f'Added <b><a href="{site.url("/feed.xml")}">Loopback &lt;!channel')
    assert count(tg_db, Feed) == 1


async def test_an_anonymous_admin_may_add_feeds(
    start: Start, tg_db: Database, site: SiteServer
) -> None:
    telegram = await start()
    answer = await telegram.ask(
        f"/feeds add {site.url('/site')}", user_id=ANONYMOUS, sender_chat=GROUP
    )
    assert answer.startswith("Added")
    assert not [m for m, _ in telegram.fake.calls if m == "getChatMember"]
    assert count(tg_db, Feed) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"user_id": ANONYMOUS, "sender_chat": -100999},  # posting as another chat
        {"user_id": ANONYMOUS},  # no sender chat at all
        {"user_id": 42, "chat_id": 42, "chat_type": "private"},  # owning a private chat
    ],
    ids=["anonymous-other-chat", "anonymous-no-sender", "private-chat"],
)
async def test_no_admin_by_disguise(
    start: Start, tg_db: Database, site: SiteServer, kwargs: dict[str, Any]
) -> None:
    telegram = await start()
    answer = await telegram.ask(f"/feeds add {site.url('/site')}", **kwargs)
    assert answer.startswith("Only workspace or chat admins")
    assert (count(tg_db, Feed), sum(site.hits.values())) == (0, 0)


async def test_unsafe_feed_urls_are_refused(start: Start, tg_db: Database) -> None:
    telegram = await start()
    answer = await telegram.ask("/feeds add file:///etc/passwd", user_id=4242)
    assert answer.startswith("Refused: ")
    assert count(tg_db, Feed) == 0


def test_old_claims_are_pruned(tg_db: Database) -> None:
    assert claim(tg_db, 1, NOW - timedelta(days=8)) and claim(tg_db, 2, NOW)
    assert not claim(tg_db, 2, NOW)
    assert prune_claims(tg_db, NOW) == 1
    assert claim(tg_db, 1, NOW) and not claim(tg_db, 2, NOW)


async def test_only_commands_are_claimed(start: Start, tg_db: Database) -> None:
    telegram = await start()
    chatter = update("just talking, no command")
    await telegram.fake.deliver(chatter)
    assert "Queue:" in await telegram.ask("/status")
    assert await telegram.replies(chatter, wait=0.05) == 0
    assert count(tg_db, ChatUpdate) == 1
