"""`digest` from chat: the channel's stories since its last digest, built by the digest module."""

from __future__ import annotations

from bot.chat.commands import Commands
from bot.chat.digest_now import make_digest_now
from bot.store.db import Database
from bot.store.schema import Channel, Digest, Subscription
from bot.types import Match
from tests.chat.conftest import TOPICS, clock, make_ctx
from tests.chat.test_commands import store_item


async def _never(url: str) -> object:
    raise AssertionError("nothing may be fetched")


def digest_commands(db: Database) -> Commands:
    return Commands(
        db=db,
        topics=TOPICS,
        add_feed=_never,  # type: ignore[arg-type]
        digest_now=make_digest_now(db, clock),
        clock=clock,
    )


async def test_digest_lists_this_channels_stories_and_records_nothing(database: Database) -> None:
    store_item(database, "Patriot <!channel> arrives", matches=(Match("air-defense", 2.0),))
    store_item(database, "Gas prices fall", matches=(Match("energy", 1.0),))
    with database.write() as session:
        session.add(Channel(id="slack:CD", platform="slack"))
        session.flush()
        session.add(Subscription(channel_id="slack:CD", topic="air-defense"))
    commands = digest_commands(database)
    reply = await commands.handle(make_ctx("slack:CD"), "digest")
    text = reply.plain()
    assert "1 story" in text and "air-defense" in text
    assert "• Patriot <!channel> arrives — Wire" in text and "Gas prices" not in text
    assert any(s.link == "https://wire.example/1" for part in reply.body for s in part)
    with database.read() as session:
        assert session.query(Digest).count() == 0
        channel = session.get(Channel, "slack:CD")
        assert channel is not None and channel.last_digest_at is None
    assert (await commands.handle(make_ctx("slack:CD"), "digest")).plain() == text


async def test_a_channel_following_nothing_gets_an_empty_digest(database: Database) -> None:
    store_item(database, "Patriot arrives", matches=(Match("air-defense", 2.0),))
    reply = await digest_commands(database).handle(make_ctx("slack:CNONE"), "digest")
    assert reply.plain() == "Nothing for this channel's topics since its last digest."
