"""Slack: real signed slash commands to the running HTTP app; answers at a fake response_url.

The bolt app talks to the shared fake Slack Web API (auth.test, users.info) and
`respond()` posts to a route on the same fake, so everything stays on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.chat.commands import Commands
from bot.chat.feed_add import make_add_feed
from bot.chat.slack import build_slack_app, slack_text, socket_mode_handler, start_slack_http
from bot.feeds.fetch import Fetcher
from bot.store.db import Database
from bot.store.schema import Channel, Feed, Subscription
from tests.chat.conftest import TOPICS, clock
from tests.chat.sites import SiteServer
from tests.chat.test_commands import store_item
from tests.fakes.slack_api import FakeSlackAPI

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0FAKE"  # the fake's workspace


class SlackFake(FakeSlackAPI):
    """The shared fake Web API plus `/respond/<n>`, standing in for response_url."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self.app.router.add_post("/respond/{n}", self._respond)

    async def _respond(self, request: web.Request) -> web.Response:
        async with self._arrived:
            self.responses.append({"n": request.match_info["n"], **await request.json()})
            self._arrived.notify_all()
        return web.Response(text="ok")

    async def wait_responses(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.responses) >= count), timeout
            )
        return self.responses


def sign(body: str, timestamp: int, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slash(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    team: str = TEAM,
    n: int = 0,
    response_base: str = "",
) -> str:
    return urlencode(
        {
            "token": "deprecated",
            "team_id": team,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "newsroom",
            "user_id": user,
            "user_name": "ann",
            "command": "/skywatch",
            "text": text,
            "response_url": f"{response_base}/respond/{n}",
            "trigger_id": "1.2.3",
            "api_app_id": "A1",
        }
    )


class Slack:
    """The running app on loopback, and a client that sends what Slack would."""

    def __init__(self, url: str, fake: SlackFake, http: aiohttp.ClientSession) -> None:
        self.url, self.fake, self.http = url, fake, http
        self.sent = 0

    def body(self, text: str, **kwargs: Any) -> str:
        self.sent += 1
        return slash(text, n=self.sent, response_base=self.fake.base, **kwargs)

    async def post(self, body: str, headers: dict[str, str]) -> tuple[int, str]:
        async with self.http.post(
            self.url,
            data=body.encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                **headers,
            },
        ) as response:
            return response.status, await response.text()

    async def command(self, text: str, **kwargs: Any) -> tuple[int, str]:
        body = self.body(text, **kwargs)
        now = int(time.time())
        return await self.post(
            body, {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": sign(body, now)}
        )

    async def ask(self, text: str, **kwargs: Any) -> str:
        """Run a command; the mrkdwn of the answer that arrived at the response_url."""
        status, ack = await self.command(text, **kwargs)
        assert status == 200, ack
        responses = await self.fake.wait_responses(self.sent)
        answer = [r for r in responses if r["n"] == str(self.sent)]
        return "\n".join(b["text"]["text"] for r in answer for b in r.get("blocks", []))


SlackFactory = Callable[..., Awaitable[Slack]]


@pytest.fixture
async def slack_db(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database(sqlite_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
async def make_slack(slack_db: Database) -> AsyncIterator[SlackFactory]:
    """Start the Slack HTTP app (answers through response_url unless `ack_budget_s` is set)."""
    stack: list[Any] = []

    async def make(
        ack_budget_s: float = 0, admin_users: tuple[str, ...] = ("UALLOW",), digest: bool = False
    ) -> Slack:
        fake = SlackFake()
        await fake.start()
        stack.append(fake.close)
        fetcher = await Fetcher(timeout_s=10, allow_private_hosts=("localhost",)).__aenter__()
        stack.append(lambda: fetcher.__aexit__(None, None, None))
        commands = Commands(
            db=slack_db,
            topics=TOPICS,
            add_feed=make_add_feed(slack_db, fetcher, clock),
            clock=clock,
        )
        app = build_slack_app(
            commands,
            signing_secret=SECRET,
            token="xoxb-test-token",
            base_url=fake.url,
            admin_users=admin_users,
            ack_budget_s=ack_budget_s,
        )
        runner = await start_slack_http(app, signing_secret=SECRET, host="127.0.0.1", port=0)
        stack.append(runner.cleanup)
        http = aiohttp.ClientSession()
        stack.append(http.close)
        port = runner.addresses[0][1]
        return Slack(f"http://127.0.0.1:{port}/slack/events", fake, http)

    yield make
    for close in reversed(stack):
        await close()


def count(db: Database, model: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# -- signatures ---------------------------------------------------------------------------


async def test_a_valid_request_is_answered_through_the_response_url(
    make_slack: SlackFactory,
) -> None:
    slack = await make_slack()
    status, ack = await slack.command("help")
    assert status == 200 and "Working on it" in ack
    (response,) = await slack.fake.wait_responses(1)
    assert response["response_type"] == "ephemeral"
    text = response["blocks"][0]["text"]["text"]
    assert "`/skywatch search QUERY [topic:T] [since:2d] [lang:de]`" in text


def tamper(body: str) -> str:
    i = body.index("text=") + len("text=")
    return body[:i] + ("X" if body[i] != "X" else "Y") + body[i + 1 :]


@pytest.mark.parametrize(
    "case",
    [
        "stale",
        "future",
        "tampered",
        "no-signature",
        "no-timestamp",
        "wrong-secret",
        "bad-timestamp",
        "garbage-signature",
    ],
)
async def test_unsigned_stale_or_tampered_requests_get_401(
    make_slack: SlackFactory, slack_db: Database, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    slack = await make_slack()
    body = slack.body("follow energy")
    now = int(time.time())
    ts = {"stale": now - 301, "future": now + 301}.get(case, now)
    headers = {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(body, ts, "other" if case == "wrong-secret" else SECRET),
    }
    if case == "tampered":
        body = tamper(body)
    if case == "no-signature":
        del headers["X-Slack-Signature"]
    if case == "no-timestamp":
        del headers["X-Slack-Request-Timestamp"]
    if case == "bad-timestamp":
        headers["X-Slack-Request-Timestamp"] = "12e3"
    if case == "garbage-signature":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    with caplog.at_level(logging.DEBUG):
        status, _ = await slack.post(body, headers)
    assert status == 401
    await asyncio.sleep(0.1)
    assert slack.fake.responses == [] and count(slack_db, Channel) == 0
    assert slack.fake.base + "/respond/" not in caplog.text  # the body is never logged


async def test_replays_within_five_minutes_are_harmless(
    make_slack: SlackFactory, slack_db: Database
) -> None:
    """A signed request may be replayed (RELIABILITY D2): commands are idempotent."""
    slack = await make_slack()
    body = slack.body("follow energy")
    ts = int(time.time()) - 200
    headers = {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sign(body, ts)}
    assert (await slack.post(body, headers))[0] == 200
    assert (await slack.post(body, headers))[0] == 200
    await slack.fake.wait_responses(2)
    with slack_db.read() as session:
        topics = list(session.scalars(select(Subscription.topic)))
    assert topics == ["energy"]


# -- acknowledgement ------------------------------------------------------------------------


async def test_a_fast_answer_is_the_acknowledgement_itself(make_slack: SlackFactory) -> None:
    slack = await make_slack(ack_budget_s=2)
    status, ack = await slack.command("topics")
    assert status == 200 and "air-defense" in ack and "Working" not in ack
    await asyncio.sleep(0.2)
    assert slack.fake.responses == []


async def test_slow_work_is_acknowledged_within_3_seconds_then_answered(
    make_slack: SlackFactory, site: SiteServer
) -> None:
    slack = await make_slack(ack_budget_s=2)  # the default; /slow takes 3.5 s
    started = time.monotonic()
    status, ack = await slack.command(f"feeds add {site.url('/slow')}", user="UALLOW")
    assert time.monotonic() - started < 3
    assert status == 200 and "Working on it" in ack
    (response,) = await slack.fake.wait_responses(1)
    assert "Added" in response["blocks"][0]["text"]["text"]
    assert response["response_type"] == "in_channel"


# -- every command --------------------------------------------------------------------------


async def test_every_command_through_slack(make_slack: SlackFactory, slack_db: Database) -> None:
    slack = await make_slack()
    item = store_item(slack_db, "Patriot <!channel> batteries & more", lang="en")
    cases = [
        ("search patriot", "&lt;!channel&gt; batteries &amp; more"),
        ("search xyzzy", "No stored item matches xyzzy."),
        ("topics", "`air-defense` — Air defense systems"),
        ("follow air-defense", "This channel follows: air-defense."),
        ("unfollow air-defense", "This channel follows no topic."),
        (f"why {item}", "It matched no topic"),
        ("feeds", "```id"),
        ("digest", "Digests are not configured"),
        ("mute 1h", "Muted for 1h"),
        ("quiet 22:00-07:00", "Quiet hours 22:00-07:00"),
        ("status", "Queue: 0 deliveries waiting"),
        ("explode", "Unknown command `explode`"),
        ("follow", "Usage: `/skywatch follow TOPIC`"),
        ("mute soon", "soon is not a duration"),
        ("feeds remove 1", "Only workspace or chat admins may use feeds remove."),
    ]
    for text, expected in cases:
        answer = await slack.ask(text)
        assert expected in answer, (text, answer)
    with slack_db.read() as session:
        row = session.get(Channel, "slack:C1")
        assert row is not None and (row.workspace, row.quiet) == (TEAM, "22:00-07:00")


async def test_hostile_input_is_escaped_in_replies(make_slack: SlackFactory) -> None:
    slack = await make_slack()
    # What Slack sends for: search <script> @channel <@U1> & more
    answer = await slack.ask(
        "search &lt;script&gt; <!channel> <@U1|ann> &amp; <https://x.example/|x>"
    )
    assert answer.startswith(
        "No stored item matches &lt;script&gt; channel ann &amp; https://x.example/"
    )
    assert "<" not in answer.replace("<https", "")


def test_slack_text_undoes_slack_formatting() -> None:
    assert slack_text("&lt;b&gt; &amp; <https://a.example/x?a=1&amp;b=2|a.example>") == (
        "<b> & https://a.example/x?a=1&b=2"
    )
    assert slack_text("<@U1> <#C1|news> <!here>") == "U1 news here"


# -- admins ---------------------------------------------------------------------------------


async def test_feeds_add_by_a_member_is_refused_and_nothing_is_stored(
    make_slack: SlackFactory, slack_db: Database, site: SiteServer
) -> None:
    slack = await make_slack()
    answer = await slack.ask(f"feeds add {site.url('/site')}", user="UMEMBER")
    assert answer == "Only workspace or chat admins may use feeds add."
    assert count(slack_db, Feed) == 0 and sum(site.hits.values()) == 0
    assert [p["user"] for m, p in slack.fake.calls if m == "users.info"] == ["UMEMBER"]


@pytest.mark.parametrize(
    ("user", "info"),
    [("UADMIN", {"is_admin": True}), ("UOWNER", {"is_owner": True}), ("UALLOW", {})],
)
async def test_admins_owners_and_allow_listed_users_may_add_feeds(
    make_slack: SlackFactory,
    slack_db: Database,
    site: SiteServer,
    user: str,
    info: dict[str, Any],
) -> None:
    slack = await make_slack()
    slack.fake.users[user] = info
    answer = await slack.ask(f"feeds add {site.url('/site')}", user=user)
    assert answer.startswith(f"Added *<{site.url('/feed.xml')}|Loopback &lt;!channel&gt; News")
    assert "(3 items)" in answer
    assert count(slack_db, Feed) == 1


async def test_an_admin_of_another_workspace_is_not_ours(
    make_slack: SlackFactory, slack_db: Database, site: SiteServer
) -> None:
    slack = await make_slack()
    slack.fake.users["UFOREIGN"] = {"is_admin": True, "team_id": "TOTHER"}
    answer = await slack.ask(f"feeds add {site.url('/site')}", user="UFOREIGN")
    assert answer.startswith("Only workspace or chat admins")
    assert count(slack_db, Feed) == 0


async def test_an_unsafe_feed_url_is_refused_clearly(
    make_slack: SlackFactory, slack_db: Database, site: SiteServer
) -> None:
    slack = await make_slack()
    answer = await slack.ask(f"feeds add {site.url('/feed.xml', host='127.0.0.1')}", user="UALLOW")
    assert answer.startswith("Refused: ")
    assert site.hits["/feed.xml"] == 0 and count(slack_db, Feed) == 0


async def test_socket_mode_handler_serves_the_same_app(slack_db: Database) -> None:
    """Socket Mode itself needs Slack's servers; offline, check the handler is wired."""
    commands = Commands(db=slack_db, topics=TOPICS, add_feed=_never, clock=clock)
    app = build_slack_app(commands, signing_secret=SECRET, token="xoxb-test-token")
    handler = socket_mode_handler(app, "xapp-1-A1-test")
    try:
        assert handler.app is app
        assert handler.client.app_token == "xapp-1-A1-test"
    finally:
        await handler.client.close()


async def _never(url: str) -> Any:
    raise AssertionError("nothing may be fetched")
