"""The Telegram notifier: sendMessage through python-telegram-bot's `Bot`.

Messages are HTML rendered by bot.notify.render, with link previews off (A6),
into forum topics (`telegram:<chat>/<topic>`) and as replies for story threads.
If Telegram still rejects our HTML ("can't parse entities"), the same message
is resent once as plain text (A9).

PTB's own rate limiter is not used (its retries default to 0, T5): pacing is
ours (bot.notify.pacing) and retries go through the outbox. Errors are mapped
at this boundary:

    RetryAfter                             DeliveryError(retry_after=…)
    ChatMigrated                           DeliveryError(migrate_to=new chat id)
    Forbidden, chat/topic not found, …     DeliveryError(permanent=True)
    other BadRequest                       RejectedMessage
    TimedOut, connection cut               UncertainDelivery
    HTTP 2xx that is not the Bot API's     UncertainDelivery
    5xx, other errors                      DeliveryError

An answer that is not the Bot API's JSON (a gateway's HTML page, an empty or
cut body) is transient whatever its status: only Telegram's own answers pause
a channel or refuse a message. PTB would log such a body with a full
traceback, and fail on a 2xx one outside its error types; `_Request` turns
both into a plain TelegramError.

httpx logs every request URL at INFO, and Bot API URLs contain the token
(RELIABILITY D6), so its logger is capped at WARNING here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import warnings
from typing import Any

from telegram import Bot, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.errors import DeliveryError
from bot.notify.base import Address, OutgoingMessage, Receipt, RejectedMessage, UncertainDelivery
from bot.notify.pacing import Pacer
from bot.notify.render import render_telegram, telegram_plain

logging.getLogger("httpx").setLevel(logging.WARNING)
log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"

#: BadRequest descriptions that mean the chat (not the message) is unusable
_PERMANENT_BAD_REQUESTS = (
    "chat not found", "thread not found", "topic_closed", "topic closed", "topic_deleted",
    "not enough rights", "have no rights", "need administrator rights", "chat_write_forbidden",
    "group chat was deactivated", "bot is not a member", "chat_restricted",
)  # fmt: skip


class _EntitiesRejected(Exception):
    """Telegram could not parse our HTML; resend as plain text."""


class _UnreadableAnswer(TelegramError):
    """The answer was not the Bot API's JSON: a gateway's page, an empty or cut body."""


class _Request(HTTPXRequest):
    """HTTPXRequest that reports an answer that is not the Bot API's as _UnreadableAnswer.

    PTB's parser logs such a body with a full traceback, and a 2xx one that is
    not `{"result": …}` fails in PTB with KeyError or TypeError instead.
    """

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if 200 <= code <= 299 and "result" not in _json_object(payload):
            raise _UnreadableAnswer(f"HTTP {code} with no Bot API result")
        return code, payload

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        if data := _json_object(payload):
            return data
        raise _UnreadableAnswer("not the Bot API's JSON")


def _json_object(payload: bytes) -> dict[str, Any]:
    """The payload's JSON object; {} for anything else."""
    try:
        data = json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class TelegramNotifier:
    """Sends outbox deliveries to Telegram chats (`telegram:-100…[/topic]`, `telegram:@name`)."""

    platform = "telegram"

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        bot: Bot | None = None,
        pacer: Pacer | None = None,
        timeout: float = 30.0,
    ) -> None:
        request = _Request(
            connection_pool_size=8,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )
        # One request object for both of PTB's slots: we never long-poll here, and
        # `aclose` can then close it without initialize(), which would call getMe.
        self._request = request
        self.bot = bot or Bot(
            token, base_url=bot_base_url(base_url), request=request, get_updates_request=request
        )
        self.pacer = pacer or Pacer.telegram()

    async def send(self, message: OutgoingMessage) -> Receipt:
        """Send the delivery (a long digest as several messages); the first message's id."""
        parts = render_telegram(message.kind, message.payload, message.timezone)
        first: str | None = None
        for i, text in enumerate(parts):
            reply_to = message.thread_of if i == 0 else None
            message_id = await self._send_part(message.address, text, reply_to)
            first = first or message_id
        assert first is not None
        return Receipt(message_id=first, parts=len(parts))

    async def _send_part(self, address: Address, text: str, reply_to: str | None) -> str:
        await self.pacer.wait(address.chat)
        try:
            return await self._call(address, text, ParseMode.HTML, reply_to)
        except _EntitiesRejected as e:
            log.warning(
                "Telegram rejected our HTML; resending as plain text", extra={"error": str(e)}
            )
        await self.pacer.wait(address.chat)
        try:
            return await self._call(address, telegram_plain(text), None, reply_to)
        except _EntitiesRejected as e:  # no parse mode, so this cannot recur; be safe anyway
            raise RejectedMessage(f"Telegram refused the message: {e}") from e

    async def _call(
        self, address: Address, text: str, parse_mode: str | None, reply_to: str | None
    ) -> str:
        reply = (
            ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)
            if reply_to and reply_to.isdigit()
            else None
        )
        try:
            sent = await self.bot.send_message(
                chat_id=_chat_id(address.chat),
                text=text,
                parse_mode=parse_mode,
                message_thread_id=address.topic,
                reply_parameters=reply,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except TelegramError as e:
            raise telegram_error(e) from e
        message_id = getattr(sent, "message_id", None)  # a result that is not a Message
        if message_id is None:
            raise UncertainDelivery("Telegram accepted the message but sent no message id")
        return str(message_id)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._request.shutdown()
        await self.bot.shutdown()


def telegram_error(e: TelegramError) -> Exception:
    """Map a python-telegram-bot error to the DeliveryError the sender understands."""
    if isinstance(e, _UnreadableAnswer):  # a 2xx: the message may have been sent
        return UncertainDelivery(f"Telegram answered {e.message}")
    if isinstance(e.__cause__, _UnreadableAnswer):
        # An error status with someone else's body (PTB chains the parse failure):
        # not Telegram's verdict on the chat or the message, so retry later.
        status = e.message.split(". Parsing the server response", 1)[0]
        return DeliveryError(f"Telegram unavailable: {status}")
    if isinstance(e, RetryAfter):
        return DeliveryError(f"Telegram flood control: {e}", retry_after=_retry_seconds(e))
    if isinstance(e, ChatMigrated):
        return DeliveryError(f"chat migrated to {e.new_chat_id}", migrate_to=str(e.new_chat_id))
    if isinstance(e, Forbidden | InvalidToken):
        return DeliveryError(f"Telegram: {e.message}", permanent=True)
    if isinstance(e, BadRequest):
        text = e.message.lower()
        if "parse entities" in text:
            return _EntitiesRejected(e.message)
        if any(marker in text for marker in _PERMANENT_BAD_REQUESTS):
            return DeliveryError(f"Telegram: {e.message}", permanent=True)
        return RejectedMessage(f"Telegram refused the message: {e.message}")
    if isinstance(e, TimedOut):
        return UncertainDelivery("Telegram did not answer in time")
    if isinstance(e, NetworkError):
        # PTB names transport failures "httpx.<Error>: …"; anything else is an HTTP
        # error reply (5xx), and a refused connection never reached Telegram.
        if e.message.startswith("httpx.") and "ConnectError" not in e.message:
            return UncertainDelivery(f"connection to Telegram failed: {e.message}")
        return DeliveryError(f"Telegram unavailable: {e.message}")
    return DeliveryError(f"Telegram error: {e.message}")


def _retry_seconds(e: RetryAfter) -> float:
    # PTB 22 returns int or timedelta depending on PTB_TIMEDELTA and warns about the int.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = e.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _chat_id(chat: str) -> int | str:
    return int(chat) if chat.lstrip("-").isdigit() else chat


def bot_base_url(base_url: str | None) -> str:
    """PTB appends the token to the base URL: make sure it ends in `/bot`."""
    if not base_url:
        return DEFAULT_BASE_URL
    url = base_url.rstrip("/")
    return url if url.endswith("/bot") or "{token}" in url else url + "/bot"
