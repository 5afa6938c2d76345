"""Telegram: chat commands through python-telegram-bot, by long polling or a webhook.

    application = build_telegram_app(commands, token=..., base_url=None)
    async with serve_telegram(application):                       # long polling
        ...
    async with serve_telegram(application, webhook=Webhook(url, secret, host, port)):
        ...

Commands: `/skywatch <sub-command>` as in Slack, and each sub-command as its
own command, which is how Telegram users expect bots to work and what the
command menu shows: `/search QUERY`, `/follow TOPIC`, `/feeds add URL`, …
`/start` and `/help` show the help. In a private chat an unknown command gets
the help; in groups other bots' commands are left alone.

Scope: a command acts on `telegram:<chat id>`, or `telegram:<chat id>/<thread>`
inside a forum topic. Messages from Telegram's service account (777000) are
ignored, edited messages too (an edit must not run a command twice).

Each update is handled once, also across restarts and webhook retries
(RELIABILITY B10): before any handler runs, the update id is *claimed* in the
`chat_updates` table (INSERT … ON CONFLICT DO NOTHING); an update already
claimed is dropped. The claim commits before the command runs, in its own
transaction, so delivery is at-most-once: a crash between the claim and the
reply loses that one command (the user types it again), where claiming after
the effect would repeat it (a second `feeds add`, a second digest). The
command core owns its transactions, which is why the claim cannot share one.

Webhook mode serves its own aiohttp endpoint instead of PTB's: the
`X-Telegram-Bot-Api-Secret-Token` header is compared with `hmac.compare_digest`
(PTB compares with `!=`), and a request without it or with a wrong one gets
403 and is dropped (D3). A secret is required: without it anyone could post a
forged update, e.g. one claiming to come from an anonymous admin.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy import delete
from telegram import BotCommand, LinkPreviewOptions, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.chat.admins import TELEGRAM_SERVICE_ID, telegram_is_admin
from bot.chat.commands import COMMANDS, CommandContext, Commands, utcnow
from bot.chat.replies import to_telegram
from bot.errors import ConfigError
from bot.notify.telegram import bot_base_url
from bot.store.db import Database, insert_ignoring_conflicts
from bot.store.schema import ChatUpdate

log = logging.getLogger(__name__)

PLATFORM = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Telegram keeps unconfirmed updates for 24 hours; older claims can go
KEEP_CLAIMS = timedelta(days=7)
#: sub-commands that are also Telegram commands of their own
SUB_COMMANDS = tuple(sorted({name.split()[0] for name in COMMANDS} - {"help"}))
#: only new messages: an edited "/feeds add" must not run again
_NEW_MESSAGES = filters.UpdateType.MESSAGE


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where Telegram posts updates, and the secret it must send along."""

    url: str
    secret: str
    host: str = "0.0.0.0"
    port: int = 8443
    path: str = WEBHOOK_PATH


def build_telegram_app(
    commands: Commands,
    *,
    token: str,
    base_url: str | None = None,
    admin_users: Collection[str] = (),
    clock: Callable[[], datetime] = utcnow,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """A PTB Application with every command registered; not started."""
    base = bot_base_url(base_url)
    application = (
        Application.builder()
        .token(token)
        .base_url(base)
        .base_file_url(base.removesuffix("/bot") + "/file/bot")
        .concurrent_updates(8)  # a slow `feeds add` must not hold up other chats
        .build()
    )
    application.bot_data.update(commands=commands, admin_users=tuple(admin_users), clock=clock)
    application.add_handler(TypeHandler(Update, claim_update), group=-1)
    application.add_handler(CommandHandler(["start", "help"], on_help, filters=_NEW_MESSAGES))
    application.add_handler(CommandHandler("skywatch", on_skywatch, filters=_NEW_MESSAGES))
    application.add_handler(CommandHandler(SUB_COMMANDS, on_sub_command, filters=_NEW_MESSAGES))
    application.add_handler(
        MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE & _NEW_MESSAGES, on_help)
    )
    return application


# -- handlers ---------------------------------------------------------------------------


async def claim_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let each command through once; drop repeats and the service account's posts."""
    message = update.message  # edits and other updates reach no handler: nothing to claim
    if message is None or not (message.text or "").startswith("/"):
        return
    if message.from_user is not None and message.from_user.id == TELEGRAM_SERVICE_ID:
        raise ApplicationHandlerStop
    commands: Commands = context.bot_data["commands"]
    clock: Callable[[], datetime] = context.bot_data["clock"]
    if not await asyncio.to_thread(claim, commands.db, update.update_id, clock()):
        log.info("telegram update %s already handled; dropped", update.update_id)
        raise ApplicationHandlerStop


def claim(db: Database, update_id: int, now: datetime) -> bool:
    """Record `update_id` as handled; False when it already was."""
    with db.write() as session:
        row = {"platform": PLATFORM, "update_id": str(update_id), "handled_at": now}
        return insert_ignoring_conflicts(session, ChatUpdate.__table__, row) is not None


def prune_claims(db: Database, now: datetime) -> int:
    """Forget claims older than `KEEP_CLAIMS` (Telegram never resends those)."""
    with db.write() as session:
        result = session.execute(
            delete(ChatUpdate).where(
                ChatUpdate.platform == PLATFORM, ChatUpdate.handled_at < now - KEEP_CLAIMS
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/start`, `/help`, and unknown commands in private chats."""
    await _run(update, context, "help")


async def on_skywatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/skywatch <sub-command> …`."""
    await _run(update, context, _after_command(update.effective_message))


async def on_sub_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/search …`, `/follow …` and the other sub-commands typed directly."""
    message = update.effective_message
    assert message is not None and message.text is not None
    name = message.text.split(maxsplit=1)[0].lstrip("/").split("@", 1)[0].lower()
    await _run(update, context, f"{name} {_after_command(message)}")


def _after_command(message: Message | None) -> str:
    """The text after `/command` (or `/command@bot`)."""
    if message is None or message.text is None:
        return ""
    parts = message.text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


async def _run(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    message = update.effective_message
    if message is None:
        return
    commands: Commands = context.bot_data["commands"]
    reply = await commands.handle(command_context(message, context), text)
    thread = message.message_thread_id if message.is_topic_message else None
    for html in to_telegram(reply):
        await context.bot.send_message(
            chat_id=message.chat_id,
            text=html,
            parse_mode=ParseMode.HTML,
            message_thread_id=thread,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        )


def command_context(message: Message, context: ContextTypes.DEFAULT_TYPE) -> CommandContext:
    """Who typed `message` and where: the chat, or its forum topic."""
    chat = message.chat
    channel = f"{PLATFORM}:{chat.id}"
    if message.is_topic_message and message.message_thread_id:
        channel += f"/{message.message_thread_id}"
    user = message.from_user
    return CommandContext(
        platform=PLATFORM,
        channel_id=channel,
        user_id=str(user.id) if user else "",
        workspace=None,
        is_admin=partial(
            telegram_is_admin,
            context.bot,
            chat_id=chat.id,
            chat_type=chat.type,
            user_id=user.id if user else None,
            sender_chat_id=message.sender_chat.id if message.sender_chat else None,
            admin_users=context.bot_data["admin_users"],
        ),
        prefix="/",
    )


# -- running ----------------------------------------------------------------------------


@asynccontextmanager
async def serve_telegram(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    webhook: Webhook | None = None,
    poll_timeout_s: float = 10,
) -> AsyncIterator[web.AppRunner | None]:
    """Run the application in the current loop: long polling, or a webhook with a secret."""
    if webhook is not None and not webhook.secret:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET is required for a Telegram webhook")
    commands: Commands = application.bot_data["commands"]
    clock: Callable[[], datetime] = application.bot_data["clock"]
    await asyncio.to_thread(prune_claims, commands.db, clock())
    async with application:
        await application.start()
        await _set_menu(application)
        runner: web.AppRunner | None = None
        try:
            if webhook is None:
                assert application.updater is not None
                await application.updater.start_polling(
                    timeout=timedelta(seconds=poll_timeout_s), allowed_updates=["message"]
                )
            else:
                runner = await _start_webhook(application, webhook)
            yield runner
        finally:
            if runner is not None:
                await runner.cleanup()
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            await application.stop()


def command_menu() -> list[BotCommand]:
    """The commands Telegram shows in its menu: each sub-command with its help line."""
    menu = [BotCommand("help", COMMANDS["help"].help)]
    for name in SUB_COMMANDS:
        usage = [c.usage for key, c in COMMANDS.items() if key.split()[0] == name]
        menu.append(BotCommand(name, f"{' | '.join(usage)}: {COMMANDS[name].help}"[:256]))
    return menu


async def _set_menu(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    try:
        await application.bot.set_my_commands(command_menu())
    except TelegramError as e:  # a missing menu is cosmetic; the commands still work
        log.warning("setMyCommands failed: %s", type(e).__name__)


async def _start_webhook(
    application: Application[Any, Any, Any, Any, Any, Any], webhook: Webhook
) -> web.AppRunner:
    runner = web.AppRunner(webhook_app(application, webhook.secret, webhook.path), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, webhook.host, webhook.port).start()
    await application.bot.set_webhook(
        url=webhook.url, secret_token=webhook.secret, allowed_updates=["message"]
    )
    return runner


def webhook_app(
    application: Application[Any, Any, Any, Any, Any, Any], secret: str, path: str = WEBHOOK_PATH
) -> web.Application:
    """An aiohttp application taking Telegram's webhook posts at `path`."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("telegram webhook refused: missing or wrong secret token")
            return web.Response(status=403)
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400)
        await application.update_queue.put(update)
        return web.Response(status=200)

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post(path, receive)
    return web_app
