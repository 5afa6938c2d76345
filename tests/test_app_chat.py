"""Chat commands in `skywatch run`: which platforms start for which environment, and that
they start, answer, fail alone and stop with the app (real servers on loopback)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlencode

import aiohttp
import pytest
from aiohttp import web

from bot.app import App
from bot.chat.commands import CommandContext, Commands
from bot.chat.serve import ChatPlan, chat_plan, describe_failure, start_chat
from bot.config import Config, load_config
from bot.store import outbox
from bot.store import subscriptions as subs
from tests.chat.fake_bot_api import TOKEN, FakeBotAPI, message_id, update
from tests.fakes.slack_api import FakeSlackAPI

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TOKEN = "xoxb-test-token"
TOPICS_YAML = """topics:
  air-defense:
    description: Air defense systems
    concepts:
      system: [Patriot, ППО, パトリオット]
    any: [system]
  energy:
    description: Energy prices
    concepts:
      gas: [gas]
    any: [gas]
"""


def write_config(
    directory: Path, settings: Mapping[str, object] = (), feeds: str = "[]", channels: str = "[]"
) -> Path:
    """A feeds.yaml with two topics, the given settings, feeds and channels (none: the console)."""
    lines = ["settings:", "  data_dir: state"]
    lines += [f"  {key}: {value}" for key, value in dict(settings).items()]
    lines += [f"feeds: {feeds}", f"channels: {channels}"]
    path = directory / "feeds.yaml"
    path.write_text("\n".join(lines) + f"\n{TOPICS_YAML}", encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign(body: str, timestamp: int, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slash_body(text: str) -> str:
    return urlencode(
        {
            "team_id": "T0FAKE",
            "channel_id": "C1",
            "user_id": "U1",
            "command": "/skywatch",
            "text": text,
            "response_url": "http://127.0.0.1:9/respond",
            "trigger_id": "1.2.3",
        }
    )


async def slack_command(port: int, text: str) -> tuple[int, dict[str, Any]]:
    """A signed `/skywatch <text>` as Slack sends it; the status and the JSON acknowledgement."""
    body, now = slash_body(text), int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(now),
        "X-Slack-Signature": sign(body, now),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers=headers
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


def ack_text(ack: dict[str, Any]) -> str:
    return "\n".join([ack.get("text") or ""] + [b["text"]["text"] for b in ack.get("blocks", [])])


# -- which platforms start ---------------------------------------------------------------

#: env, settings, the plan, and what is logged about it ("info: …" or "warning: …")
PLANS: dict[str, tuple[dict[str, str], dict[str, object], ChatPlan, str | None]] = {
    "nothing": ({}, {}, ChatPlan(), None),
    "slack-http": (
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"},
        {},
        ChatPlan(slack="http"),
        None,
    ),
    "slack-socket-mode-wins-over-http": (
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1"},
        {},
        ChatPlan(slack="socket"),
        None,
    ),
    "slack-socket-mode-alone": (
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"},
        {},
        ChatPlan(slack="socket"),
        None,
    ),
    "slack-bot-token-alone-only-notifies": (
        {"SLACK_BOT_TOKEN": "xoxb-1"},
        {},
        ChatPlan(),
        "info: set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode)",
    ),
    "slack-signing-secret-without-bot-token": (
        {"SLACK_SIGNING_SECRET": "s"},
        {},
        ChatPlan(),
        "warning: SLACK_SIGNING_SECRET set without SLACK_BOT_TOKEN",
    ),
    "telegram-polling": ({"TELEGRAM_BOT_TOKEN": "1:x"}, {}, ChatPlan(telegram="polling"), None),
    "telegram-webhook": (
        {
            "TELEGRAM_BOT_TOKEN": "1:x",
            "TELEGRAM_WEBHOOK_URL": "https://bot.example/tg",
            "TELEGRAM_WEBHOOK_SECRET": "s3cret",
        },
        {},
        ChatPlan(telegram="webhook"),
        None,
    ),
    "telegram-webhook-without-token": (
        {"TELEGRAM_WEBHOOK_URL": "https://bot.example/tg", "TELEGRAM_WEBHOOK_SECRET": "s3cret"},
        {},
        ChatPlan(),
        "warning: TELEGRAM_WEBHOOK_URL set without TELEGRAM_BOT_TOKEN",
    ),
    "both": (
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "TELEGRAM_BOT_TOKEN": "1:x"},
        {},
        ChatPlan(slack="http", telegram="polling"),
        None,
    ),
    "chat-commands-off": (
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "TELEGRAM_BOT_TOKEN": "1:x"},
        {"chat_commands": "false"},
        ChatPlan(),
        "info: settings.chat_commands is false",
    ),
}


@pytest.mark.parametrize(("env", "settings", "expected", "note"), PLANS.values(), ids=PLANS.keys())
def test_chat_plan_for_each_environment(
    tmp_path: Path,
    env: dict[str, str],
    settings: dict[str, object],
    expected: ChatPlan,
    note: str | None,
) -> None:
    config = load_config(write_config(tmp_path, settings), env=env)
    plan = chat_plan(config.settings, config.secrets)
    assert (plan.slack, plan.telegram) == (expected.slack, expected.telegram)
    logged = [f"info: {n}" for n in plan.notes] + [f"warning: {p}" for p in plan.problems]
    if note is None:
        assert logged == []
    else:
        assert len(logged) == 1 and logged[0].startswith(note.split(": ", 1)[0]), logged
        assert note.split(": ", 1)[1] in logged[0], logged


def test_failure_messages_never_show_a_secret(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), env={"TELEGRAM_BOT_TOKEN": "123:SECRETVALUE"})
    error = RuntimeError("the token 123:SECRETVALUE was rejected")
    assert describe_failure(error, config.secrets) == "RuntimeError: the token *** was rejected"


# -- starting the platforms --------------------------------------------------------------


@pytest.fixture
async def telegram_fake() -> AsyncIterator[FakeBotAPI]:
    fake = FakeBotAPI(max_wait=0.3)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def slack_fake() -> AsyncIterator[FakeSlackAPI]:
    fake = FakeSlackAPI()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def chat_env(
    slack: FakeSlackAPI | None = None, telegram: FakeBotAPI | None = None, **extra: str
) -> dict[str, str]:
    env = dict(extra)
    if slack is not None:
        env |= {
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SKYWATCH_SLACK_API_URL": slack.url,
        }
    if telegram is not None:
        env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "SKYWATCH_TELEGRAM_API_URL": telegram.url}
    return env


def commands_for(config: Config) -> Commands:
    async def never(url: str) -> Any:
        raise AssertionError("nothing may be fetched")

    from bot.store.db import Database

    db = Database(config.database_url)
    db.upgrade()
    return Commands(db=db, topics=config.file.topics, add_feed=never)


async def start(config: Config, stack: AsyncExitStack) -> list[str]:
    commands = commands_for(config)
    stack.callback(commands.db.dispose)
    return await start_chat(stack, chat_plan(config.settings, config.secrets), commands, config)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_port_in_use_turns_slack_off_and_telegram_still_starts(
    tmp_path: Path,
    slack_fake: FakeSlackAPI,
    telegram_fake: FakeBotAPI,
    busy_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(
        write_config(tmp_path, {"slack_host": "127.0.0.1", "slack_port": busy_port}),
        env=chat_env(slack_fake, telegram_fake),
    )
    async with AsyncExitStack() as stack:
        started = await start(config, stack)
        assert started == ["telegram by long polling"]
        sent = update("/help")
        await telegram_fake.deliver(sent)
        (reply,) = await telegram_fake.wait_messages(1)
        assert reply["reply_parameters"]["message_id"] == message_id(sent)
    (line,) = errors(caplog)
    assert line.startswith("slack commands are off: cannot listen")
    assert "address already in use" in line
    assert not [r for r in caplog.records if r.exc_info]  # one line, no traceback


async def test_a_refused_telegram_token_turns_telegram_off_with_one_clear_line(
    tmp_path: Path, telegram_fake: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "999:refused-token-value"
    env = {"TELEGRAM_BOT_TOKEN": bad, "SKYWATCH_TELEGRAM_API_URL": telegram_fake.url}
    config = load_config(write_config(tmp_path), env=env)
    async with AsyncExitStack() as stack:
        assert await start(config, stack) == []
    assert errors(caplog) == ["telegram commands are off: Telegram refused TELEGRAM_BOT_TOKEN"]
    assert bad not in caplog.text
    assert not any(method == "getUpdates" for method, _ in telegram_fake.calls)


async def test_socket_mode_refused_by_slack_turns_slack_off(
    tmp_path: Path, slack_fake: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    env = chat_env(slack_fake, SLACK_APP_TOKEN="xapp-1-A1-test")
    config = load_config(write_config(tmp_path), env=env)
    async with AsyncExitStack() as stack:
        assert await start(config, stack) == []
    assert errors(caplog) == ["slack commands are off: Slack refused the request: unknown_method"]
    assert [m for m, _ in slack_fake.calls] == ["apps.connections.open"]


async def test_slack_http_answers_a_signed_command_until_the_stack_closes(
    tmp_path: Path, slack_fake: FakeSlackAPI
) -> None:
    port = free_port()
    config = load_config(
        write_config(tmp_path, {"slack_host": "127.0.0.1", "slack_port": port}),
        env=chat_env(slack_fake),
    )
    async with AsyncExitStack() as stack:
        assert await start(config, stack) == [f"slack over HTTP on 127.0.0.1:{port}/slack/events"]
        status, ack = await slack_command(port, "topics")
        assert status == 200
        assert "air-defense" in ack_text(ack) and "energy" in ack_text(ack)
    with pytest.raises(aiohttp.ClientConnectionError):
        await slack_command(port, "help")


# -- the app ------------------------------------------------------------------------------


async def wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_run_forever_serves_both_platforms_and_stops_them(
    tmp_path: Path, slack_fake: FakeSlackAPI, telegram_fake: FakeBotAPI
) -> None:
    port = free_port()
    config = load_config(
        write_config(tmp_path, {"slack_host": "127.0.0.1", "slack_port": port}),
        env=chat_env(slack_fake, telegram_fake),
    )
    async with App(config, console=io.StringIO()) as app:
        task = asyncio.create_task(app.run_forever())
        await wait_for(lambda: listening(port) and telegram_fake.polling > 0)
        status, ack = await slack_command(port, "help")
        assert status == 200 and "/skywatch search QUERY" in ack_text(ack)
        sent = update("/topics")
        await telegram_fake.deliver(sent)
        (reply,) = await telegram_fake.wait_messages(1)
        assert "air-defense" in reply["text"]
        app.stop()
        await asyncio.wait_for(task, 10)
        assert not listening(port)
        await telegram_fake.idle()
        polls = telegram_fake.polling + len(telegram_fake.offsets)
        await asyncio.sleep(0.5)
        assert telegram_fake.polling + len(telegram_fake.offsets) == polls  # polling stopped


async def test_run_once_serves_no_chat(
    tmp_path: Path, slack_fake: FakeSlackAPI, telegram_fake: FakeBotAPI
) -> None:
    port = free_port()
    config = load_config(
        write_config(tmp_path, {"slack_host": "127.0.0.1", "slack_port": port}),
        env=chat_env(slack_fake, telegram_fake),
    )
    async with App(config, console=io.StringIO()) as app:
        await app.run_once()
        assert not listening(port)
    assert telegram_fake.calls == [] and slack_fake.calls == []


FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Loopback Desk</title><link>http://localhost/</link>
<item><title>Patriot batteries arrive in Rzeszów</title><link>http://localhost/1</link>
<guid>1</guid><pubDate>{date}</pubDate></item>
</channel></rss>"""


@pytest.fixture
async def feed_url() -> AsyncIterator[str]:
    """A loopback feed with one fresh item that matches `air-defense`."""

    async def feed(request: web.Request) -> web.Response:
        body = FEED.format(date=formatdate(usegmt=True))
        return web.Response(text=body, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/rss", feed)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://localhost:{runner.addresses[0][1]}/rss"
    finally:
        await runner.cleanup()


async def test_a_failed_chat_start_leaves_polling_and_alerts_running(
    tmp_path: Path,
    slack_fake: FakeSlackAPI,
    busy_port: int,
    feed_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = {
        "slack_host": "127.0.0.1",
        "slack_port": busy_port,
        "allow_private_hosts": "[localhost]",
        "send_interval": "1s",
    }
    feeds = f"[{{url: '{feed_url}', name: Loopback Desk}}]"
    config = load_config(write_config(tmp_path, settings, feeds), env=chat_env(slack_fake))
    console = io.StringIO()
    async with App(config, console=console) as app:
        task = asyncio.create_task(app.run_forever())
        await wait_for(lambda: "Patriot batteries arrive" in console.getvalue())
        assert not task.done()
        app.stop()
        await asyncio.wait_for(task, 10)
    (line,) = errors(caplog)
    assert line.startswith("slack commands are off: cannot listen")


async def test_a_stop_during_a_slow_chat_start_is_not_held_up(
    tmp_path: Path, telegram_fake: FakeBotAPI
) -> None:
    telegram_fake.inject("getMe", "hang")  # Telegram never answers
    config = load_config(write_config(tmp_path), env=chat_env(telegram=telegram_fake))
    async with App(config, console=io.StringIO()) as app:
        task = asyncio.create_task(app.run_forever())
        await wait_for(lambda: any(m == "getMe" for m, _ in telegram_fake.calls))
        app.stop()
        await asyncio.wait_for(task, 2)  # PTB itself would wait 5 s for getMe


async def test_telegram_webhook_is_set_and_served_at_the_public_urls_path(
    tmp_path: Path, telegram_fake: FakeBotAPI
) -> None:
    port = free_port()
    env = chat_env(
        telegram=telegram_fake,
        TELEGRAM_WEBHOOK_URL="https://bot.example/tg/hook",
        TELEGRAM_WEBHOOK_SECRET="s3cret-token",
    )
    settings = {"telegram_webhook_host": "127.0.0.1", "telegram_webhook_port": port}
    config = load_config(write_config(tmp_path, settings), env=env)
    sent = update("/help")
    async with AsyncExitStack() as stack:
        assert await start(config, stack) == [f"telegram webhook on 127.0.0.1:{port}/tg/hook"]
        (params,) = [p for m, p in telegram_fake.calls if m == "setWebhook"]
        assert params["url"] == "https://bot.example/tg/hook"
        assert params["secret_token"] == "s3cret-token"
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=sent) as refused:
                assert refused.status == 403  # no secret: dropped
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            async with http.post(url, json=sent, headers=headers) as accepted:
                assert accepted.status == 200
        (reply,) = await telegram_fake.wait_messages(1)
        assert reply["reply_parameters"]["message_id"] == message_id(sent)
    assert not listening(port)
    assert not any(m == "getUpdates" for m, _ in telegram_fake.calls)


class SocketModeSlack(FakeSlackAPI):
    """The fake Web API plus Slack's Socket Mode: apps.connections.open hands out a
    WebSocket on this server, where `command()` sends an envelope and waits for its ack."""

    def __init__(self) -> None:
        super().__init__()
        self.app.router.add_get("/socket", self._socket)
        self.connected = asyncio.Event()
        self._socket_ws: web.WebSocketResponse | None = None
        self._acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def api_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1})
        self._socket_ws = ws
        self.connected.set()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await self._acks.put(json.loads(message.data))
        return ws

    async def command(self, text: str) -> dict[str, Any]:
        assert self._socket_ws is not None
        payload = dict(pair.split("=", 1) for pair in slash_body(text).split("&"))
        payload = {k: unquote_plus(v) for k, v in payload.items()}
        await self._socket_ws.send_json(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": payload,
            }
        )
        return await asyncio.wait_for(self._acks.get(), 10)


async def test_socket_mode_connects_and_answers_over_the_socket(tmp_path: Path) -> None:
    fake = SocketModeSlack()
    await fake.start()
    try:
        env = chat_env(fake, SLACK_APP_TOKEN="xapp-1-A1-test")
        config = load_config(write_config(tmp_path), env=env)
        async with AsyncExitStack() as stack:
            assert await start(config, stack) == ["slack over Socket Mode"]
            await asyncio.wait_for(fake.connected.wait(), 10)
            ack = await fake.command("topics")
            assert ack["envelope_id"] == "env-1"
            assert "air-defense" in ack_text(ack["payload"])
    finally:
        await fake.close()


async def test_a_stop_cuts_a_hanging_delivery_short_without_a_traceback(
    tmp_path: Path, slack_fake: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    slack_fake.inject("chat.postMessage", "hang")
    env = {"SLACK_BOT_TOKEN": SLACK_TOKEN, "SKYWATCH_SLACK_API_URL": slack_fake.url}
    config = load_config(write_config(tmp_path, channels="[{id: 'slack:C1'}]"), env=env)
    async with App(config, console=io.StringIO()) as app:
        app.STOP_GRACE_S = 0.3
        with app.db.write() as session:
            outbox.enqueue(
                session,
                channel_id="slack:C1",
                kind="report",
                dedup_key="r1",
                payload={"text": "feed down"},
                now=app.clock(),
            )
        task = asyncio.create_task(app.run_forever())
        await wait_for(lambda: any(m == "chat.postMessage" for m, _ in slack_fake.calls))
        app.stop()
        await asyncio.wait_for(task, 5)
    assert "job send was cut short by the shutdown" in caplog.text
    assert errors(caplog) == [] and not [r for r in caplog.records if r.exc_info]


async def test_a_chat_follow_survives_restarts_until_the_file_changes_the_channel(
    tmp_path: Path,
) -> None:
    async def member() -> bool:
        return False

    ctx = CommandContext("slack", "slack:C1", "U1", "T1", is_admin=member)

    def follows() -> set[str]:
        with app.db.read() as session:
            return set(subs.followed(session, "slack:C1"))

    channel = "[{id: 'slack:C1', follows: [energy]}]"
    config = load_config(write_config(tmp_path, channels=channel), env={})
    async with App(config, console=io.StringIO()) as app:
        assert app.commands is not None
        reply = await app.commands.handle(ctx, "follow air-defense")
        assert "stays until its follows there are edited" in reply.plain()
    async with App(config, console=io.StringIO()) as app:  # restart
        assert follows() == {"energy", "air-defense"}
    edited = "[{id: 'slack:C1', follows: [air-defense]}]"
    config = load_config(write_config(tmp_path, channels=edited), env={})
    async with App(config, console=io.StringIO()) as app:
        assert follows() == {"air-defense"}
