"""Serving chat commands in `skywatch run`: which platforms start, and starting them safely.

    plan = chat_plan(config.settings, config.secrets)          # pure: modes, and why not
    await start_chat(stack, plan, commands, config)           # each one's stop goes on `stack`

Slack needs SLACK_BOT_TOKEN and either SLACK_APP_TOKEN (Socket Mode: an
outbound WebSocket, no public URL) or SLACK_SIGNING_SECRET (HTTP on
settings.slack_host:slack_port, path /slack/events). Socket Mode wins when
both are set. Telegram needs TELEGRAM_BOT_TOKEN: a webhook when
TELEGRAM_WEBHOOK_URL is set (served on settings.telegram_webhook_host:port at
the URL's path), long polling otherwise.

A platform that fails to start (a refused token, a port in use, no network)
logs one error and stays off; polling and alerts go on. Its libraries are
imported only when it starts, so a bot without chat loads neither.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from bot.chat.commands import Commands
from bot.config import Config, Secrets, Settings

log = logging.getLogger(__name__)

#: how long one platform may take to start before it is given up (it never delays polling)
START_TIMEOUT_S = 30.0

SlackMode = Literal["off", "http", "socket"]
TelegramMode = Literal["off", "polling", "webhook"]


@dataclass(frozen=True, slots=True)
class ChatPlan:
    """Which chat front-ends to start, and why one with some settings stays off."""

    slack: SlackMode = "off"
    telegram: TelegramMode = "off"
    #: for the log (info): a deliberate choice, e.g. a Slack bot token for alerts only
    notes: tuple[str, ...] = ()
    #: for the log (warning): settings that look like a mistake, e.g. a secret without a token
    problems: tuple[str, ...] = ()


def chat_plan(settings: Settings, secrets: Secrets) -> ChatPlan:
    """Decide from the settings and the environment alone (nothing is contacted)."""
    slack, slack_note, slack_problem = _slack_mode(secrets)
    telegram, telegram_problem = _telegram_mode(secrets)
    problems = tuple(p for p in (slack_problem, telegram_problem) if p)
    if not settings.chat_commands:
        wanted = slack != "off" or telegram != "off"
        note = "settings.chat_commands is false: no chat commands"
        return ChatPlan(notes=(note,) if wanted else (), problems=problems)
    notes = (slack_note,) if slack_note else ()
    return ChatPlan(slack=slack, telegram=telegram, notes=notes, problems=problems)


def _slack_mode(secrets: Secrets) -> tuple[SlackMode, str | None, str | None]:
    """The mode, a note, a problem."""
    inbound = [
        name
        for name, value in (
            ("SLACK_APP_TOKEN", secrets.slack_app_token),
            ("SLACK_SIGNING_SECRET", secrets.slack_signing_secret),
        )
        if value is not None
    ]
    if secrets.slack_bot_token is None:
        if inbound:
            problem = f"{' and '.join(inbound)} set without SLACK_BOT_TOKEN: no Slack commands"
            return "off", None, problem
        return "off", None, None
    if secrets.slack_app_token is not None:
        return "socket", None, None
    if secrets.slack_signing_secret is not None:
        return "http", None, None
    note = "no Slack commands: set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode)"
    return "off", note, None


def _telegram_mode(secrets: Secrets) -> tuple[TelegramMode, str | None]:
    """The mode, a problem."""
    if secrets.telegram_bot_token is None:
        if secrets.telegram_webhook_url is not None:
            return (
                "off",
                "TELEGRAM_WEBHOOK_URL set without TELEGRAM_BOT_TOKEN: no Telegram commands",
            )
        return "off", None
    return ("webhook" if secrets.telegram_webhook_url else "polling"), None


async def start_chat(
    stack: AsyncExitStack, plan: ChatPlan, commands: Commands, config: Config
) -> list[str]:
    """Start what `plan` says; the started ones, as log phrases. Never raises."""
    for note in plan.notes:
        log.info("%s", note)
    for problem in plan.problems:
        log.warning("%s", problem)
    starts: list[tuple[str, Callable[[], Awaitable[str]]]] = []
    if plan.slack != "off":
        starts.append(("slack", lambda: _start_slack(stack, plan.slack, commands, config)))
    if plan.telegram != "off":
        starts.append(("telegram", lambda: _start_telegram(stack, plan.telegram, commands, config)))
    started = []
    for platform, start in starts:
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                started.append(await start())
        except Exception as e:  # one platform failing must not stop the bot
            log.error("%s commands are off: %s", platform, describe_failure(e, config.secrets))
    for phrase in started:
        log.info("chat commands: %s", phrase)
    return started


class _TokenFromEnvNotice(logging.Filter):
    """Drop bolt's "`token` will be unused" warning: bolt reads SLACK_BOT_TOKEN from the
    environment by itself, though build_slack_app hands it a client with that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


async def _start_slack(
    stack: AsyncExitStack, mode: SlackMode, commands: Commands, config: Config
) -> str:
    from bot.chat.slack import build_slack_app, socket_mode_handler, start_slack_http

    secrets, settings = config.secrets, config.settings
    assert secrets.slack_bot_token is not None
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, _TokenFromEnvNotice) for f in bolt_log.filters):
        bolt_log.addFilter(_TokenFromEnvNotice())
    signing_secret = _value(secrets.slack_signing_secret)
    app = build_slack_app(
        commands,
        signing_secret=signing_secret,
        token=secrets.slack_bot_token.get_secret_value(),
        base_url=secrets.slack_api_url,
        admin_users=secrets.admin_users,
    )
    if mode == "socket":
        app_token = _value(secrets.slack_app_token)
        # The Socket Mode client retries a refused app token forever, a traceback each
        # time: ask once first, so a bad token is one clear error.
        await app.client.apps_connections_open(app_token=app_token)
        handler = socket_mode_handler(app, app_token)
        try:
            await handler.connect_async()
        except BaseException:
            await handler.close_async()
            raise
        stack.push_async_callback(handler.close_async)
        return "slack over Socket Mode"
    runner = await start_slack_http(
        app, signing_secret=signing_secret, host=settings.slack_host, port=settings.slack_port
    )
    stack.push_async_callback(runner.cleanup)
    return f"slack over HTTP on {settings.slack_host}:{settings.slack_port}/slack/events"


async def _start_telegram(
    stack: AsyncExitStack, mode: TelegramMode, commands: Commands, config: Config
) -> str:
    from bot.chat.telegram import Webhook, build_telegram_app, serve_telegram

    secrets, settings = config.secrets, config.settings
    assert secrets.telegram_bot_token is not None
    application = build_telegram_app(
        commands,
        token=secrets.telegram_bot_token.get_secret_value(),
        base_url=secrets.telegram_api_url,
        admin_users=secrets.admin_users,
        clock=commands.clock,
    )
    webhook = None
    if mode == "webhook":
        url = secrets.telegram_webhook_url or ""
        webhook = Webhook(
            url=url,
            secret=_value(secrets.telegram_webhook_secret),
            host=settings.telegram_webhook_host,
            port=settings.telegram_webhook_port,
            # the server answers at the public URL's path: a proxy passes it through as is
            path=urlsplit(url).path or "/",
        )
    await stack.enter_async_context(serve_telegram(application, webhook=webhook))
    if webhook is None:
        return "telegram by long polling"
    return f"telegram webhook on {webhook.host}:{webhook.port}{webhook.path}"


def _value(secret: Any) -> str:
    return secret.get_secret_value() if secret is not None else ""


def describe_failure(error: BaseException, secrets: Secrets) -> str:
    """One plain sentence for a start failure, with every secret masked out."""
    text = _known_failure(error)
    if text is None:
        detail = str(error).strip()
        text = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    for _, value in secrets:
        if hasattr(value, "get_secret_value") and (plain := value.get_secret_value()):
            text = text.replace(plain, "***")
    return text


def _known_failure(error: BaseException) -> str | None:
    if isinstance(error, TimeoutError):
        return f"it did not start within {START_TIMEOUT_S:.0f} s"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot listen: {error.strerror}"
    module = type(error).__module__
    if module.startswith("telegram") and type(error).__name__ == "InvalidToken":
        return "Telegram refused TELEGRAM_BOT_TOKEN"
    if module.startswith("slack_sdk") and hasattr(error, "response"):
        code = getattr(error.response, "get", lambda _k: None)("error")
        return f"Slack refused the request: {code}" if code else None
    return None
