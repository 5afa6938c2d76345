"""Slack: the `/skywatch <sub-command>` slash command, over HTTP or Socket Mode.

    app = build_slack_app(commands, signing_secret=..., token=..., base_url=None)
    runner = await start_slack_http(app, signing_secret=..., host="0.0.0.0", port=3000)
    # or, with SLACK_APP_TOKEN:  handler = await start_slack_socket_mode(app, app_token)

Slack waits 3 seconds for the acknowledgement of a slash command
(https://api.slack.com/interactivity/slash-commands#responding_basic_receipt).
The handler starts the command, gives it `ack_budget_s` (default 2 s): a fast
answer goes out *as* the acknowledgement; a slow one (`feeds add` fetching a
site) is acknowledged with "Working on it…" and answered through
`response_url` (bolt's `respond()`) when done.

HTTP requests are verified before bolt sees them, on the raw body bytes
(HMAC-SHA256 "v0", constant-time compare, timestamps within 5 minutes):
anything else gets 401 and is dropped without logging its body, which holds
the `response_url`, a credential (RELIABILITY D2, D6, D7). Bolt's own check
stays on behind ours. Socket Mode needs no signature (the socket is
authenticated by the app token); it cannot be exercised offline, so tests
cover the HTTP mode.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Collection
from functools import partial
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.admins import slack_is_admin
from bot.chat.commands import CommandContext, Commands
from bot.chat.replies import to_slack

log = logging.getLogger(__name__)

COMMAND = "/skywatch"
EVENTS_PATH = "/slack/events"
#: of Slack's 3 s: what a command may take to be answered in the acknowledgement itself
ACK_BUDGET_S = 2.0
#: Slack's own request bodies are small; anything bigger is not from Slack
MAX_BODY = 64 * 1024

# Slack sends "<https://x.example|x.example>", "<@U123|ann>", "<#C1|general>", "<!here>"
# for what users typed; the command core wants the plain text back.
_SLACK_TOKEN = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def build_slack_app(
    commands: Commands,
    *,
    signing_secret: str,
    token: str,
    base_url: str | None = None,
    admin_users: Collection[str] = (),
    ack_budget_s: float = ACK_BUDGET_S,
) -> AsyncApp:
    """A bolt AsyncApp answering `/skywatch`; `base_url` points the Web API client elsewhere."""
    client = AsyncWebClient(token=token, base_url=base_url) if base_url else AsyncWebClient(token)
    # bolt logs under "slack_bolt.*", which bot/logs.py keeps at WARNING
    app = AsyncApp(client=client, signing_secret=signing_secret, name="skywatch")
    admins = tuple(admin_users)

    # bolt injects listener arguments by name, so the listener names only bolt's.
    @app.command(COMMAND)
    async def on_skywatch(
        ack: Any, command: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        """`/skywatch <sub-command>`."""
        await skywatch(
            ack,
            command,
            respond,
            client,
            commands=commands,
            admin_users=admins,
            budget=ack_budget_s,
        )

    return app


async def skywatch(
    ack: Any,
    command: dict[str, Any],
    respond: Any,
    client: AsyncWebClient,
    *,
    commands: Commands,
    admin_users: tuple[str, ...],
    budget: float,
) -> None:
    """Run a `/skywatch` sub-command: acknowledge first, answer slow work via response_url."""
    team_id = command.get("team_id")
    ctx = CommandContext(
        platform="slack",
        channel_id=f"slack:{command.get('channel_id', '')}",
        user_id=str(command.get("user_id", "")),
        workspace=team_id,
        is_admin=partial(
            slack_is_admin,
            client,
            user_id=str(command.get("user_id", "")),
            team_id=team_id,
            admin_users=admin_users,
        ),
        prefix=COMMAND + " ",
    )
    work = asyncio.create_task(commands.handle(ctx, slack_text(str(command.get("text") or ""))))
    # A budget of 0 always answers through response_url (how tests reach that path).
    done = (await asyncio.wait({work}, timeout=budget))[0] if budget > 0 else set()
    if done:
        first, *rest = to_slack(work.result())
        await ack(**first)
    else:
        await ack(text="Working on it…", response_type="ephemeral")
        rest = to_slack(await work)
    await _respond_all(respond, rest)


async def _respond_all(respond: Any, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        try:
            await respond(**message)
        except Exception as e:  # the answer is lost, but never the error's cause
            log.warning("response_url post failed: %s", type(e).__name__)
            return


def slack_text(text: str) -> str:
    """What the user typed: Slack's `<…>` tokens and &amp;-escapes undone."""

    def plain(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("http://", "https://", "mailto:")):
            return target
        return label or target.lstrip("@#!")

    return html.unescape(_SLACK_TOKEN.sub(plain, text))


# -- serving ----------------------------------------------------------------------------


def slack_web_app(
    app: AsyncApp, *, signing_secret: str, path: str = EVENTS_PATH
) -> web.Application:
    """An aiohttp application serving `app` at `path`, verifying signatures first."""
    verifier = SignatureVerifier(signing_secret)

    async def events(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not _signed(verifier, body, request.headers):
            log.warning("slack request refused: bad or stale signature")
            return web.json_response({"error": "invalid request"}, status=401)
        bolt_request = AsyncBoltRequest(
            body=body.decode("utf-8"),
            query=request.query_string,
            headers=dict(request.headers),  # type: ignore[arg-type]
        )
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    web_app = web.Application(client_max_size=MAX_BODY)
    web_app.router.add_post(path, events)
    return web_app


def _signed(verifier: SignatureVerifier, body: bytes, headers: Any) -> bool:
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return verifier.is_valid(body, timestamp, signature)


async def start_slack_http(
    app: AsyncApp,
    *,
    signing_secret: str,
    host: str = "0.0.0.0",
    port: int = 3000,
    path: str = EVENTS_PATH,
) -> web.AppRunner:
    """Serve slash commands on host:port inside the running loop; `await runner.cleanup()` stops."""
    runner = web.AppRunner(
        slack_web_app(app, signing_secret=signing_secret, path=path), access_log=None
    )
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def socket_mode_handler(app: AsyncApp, app_token: str) -> Any:
    """The Socket Mode handler for `app` (not connected yet)."""
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    return AsyncSocketModeHandler(app, app_token)


async def start_slack_socket_mode(app: AsyncApp, app_token: str) -> Any:
    """Connect over Socket Mode (no public URL needed); `await handler.close_async()` stops.

    Not exercised by the tests: Socket Mode needs Slack's servers (apps.connections.open
    hands out a WebSocket URL), so only the handler's construction is checked offline.
    """
    handler = socket_mode_handler(app, app_token)
    await handler.connect_async()
    return handler
