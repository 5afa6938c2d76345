"""A fake Telegram Bot API for inbound tests: the real PTB Application long-polls it.

Built on the shared `tests.fakes.telegram_api.FakeTelegramAPI` (getMe,
sendMessage recording, getChatMember per user via `.members`, setWebhook,
deleteWebhook), with `getUpdates` made a real long poll over a queue:

* `deliver(update)` queues an update; getUpdates returns every queued update
  at or above its `offset`, and drops those below it (confirmed), as Telegram
  does; delivering an update again is how tests play Telegram resending it
  (a restart before the offset was confirmed);
* getUpdates waits up to its `timeout` (capped at `max_wait`) for an update,
  like the real one, so polling does not spin.

`update(...)` builds the JSON of a message update carrying a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any

from aiohttp import web

from tests.fakes.telegram_api import FakeTelegramAPI, _ok

TOKEN = "123456:TEST-token-for-the-fake-bot-api-000"
GROUP = -1001234567890
_ids = itertools.count(1000)
_ADMIN_RIGHTS = (
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
)
_RESTRICTED_RIGHTS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)


class FakeBotAPI(FakeTelegramAPI):
    def __init__(self, *, max_wait: float = 0.5) -> None:
        super().__init__(token=TOKEN)
        self.max_wait = max_wait
        self.queue: list[dict[str, Any]] = []
        #: the offset of every getUpdates call, and the update ids each answer carried
        self.offsets: list[int] = []
        self.served: list[list[int]] = []
        self.polling = 0
        #: the command menu set with setMyCommands
        self.menu: list[dict[str, str]] = []
        self._changed = asyncio.Condition()

    async def deliver(self, *updates: dict[str, Any]) -> None:
        async with self._changed:
            self.queue.extend(updates)
            self._changed.notify_all()

    async def api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        self.offsets.append(offset)
        wait = min(float(params.get("timeout") or 0), self.max_wait)
        self.polling += 1
        try:
            async with self._changed:
                # As Telegram: an offset confirms every update below it, for good.
                self.queue = [u for u in self.queue if u["update_id"] >= offset]
                if not self.queue:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._changed.wait_for(lambda: bool(self.queue)), wait
                        )
                # Answered, not consumed: a poll whose client went away takes nothing.
                batch = [u for u in self.queue if u["update_id"] >= offset]
                self._changed.notify_all()
        finally:
            self.polling -= 1
        self.served.append([u["update_id"] for u in batch])
        return _ok(batch)

    async def idle(self, timeout: float = 5) -> None:
        """Wait until no getUpdates call is in flight (a stopped client's poll has ended)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.polling == 0), timeout)

    async def api_getChatMember(self, params: dict[str, Any]) -> web.Response:
        """A ChatMember with every field its status requires (PTB checks them)."""
        user_id = int(params.get("user_id") or 0)
        status = self.members.get((str(params.get("chat_id")), str(user_id)), "member")
        member: dict[str, Any] = {
            "status": status,
            "user": {"id": user_id, "is_bot": False, "first_name": "User"},
        }
        if status == "creator":
            member["is_anonymous"] = False
        if status == "administrator":
            member.update(dict.fromkeys(_ADMIN_RIGHTS, True), can_be_edited=False)
        if status == "restricted":
            member.update(dict.fromkeys(_RESTRICTED_RIGHTS, False), is_member=True, until_date=0)
        if status == "kicked":
            member["until_date"] = 0
        return _ok(member)

    async def api_setMyCommands(self, params: dict[str, Any]) -> web.Response:
        self.menu = (
            json.loads(params["commands"])
            if isinstance(params["commands"], str)
            else (params["commands"])
        )
        return _ok(True)

    async def api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        response = await super().api_sendMessage(params)
        async with self._changed:
            self._changed.notify_all()
        return response

    async def wait_messages(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The first `count` messages sent, waiting for them."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.messages) >= count), timeout
            )
        return self.messages[:count]

    def replies_to(self, message_id: int) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if (m.get("reply_parameters") or {}).get("message_id") == message_id
        ]


def update(
    text: str,
    *,
    chat_id: int = GROUP,
    chat_type: str = "supergroup",
    user_id: int | None = 42,
    thread: int | None = None,
    sender_chat: int | None = None,
    update_id: int | None = None,
    edited: bool = False,
) -> dict[str, Any]:
    """A message update as Telegram sends it, with the leading command marked as one."""
    message_id = next(_ids)
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {
            "id": chat_id,
            "type": chat_type,
            "title": "Newsroom",
            "is_forum": thread is not None,
        },
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if user_id is not None:
        message["from"] = {"id": user_id, "is_bot": user_id == 1087968824, "first_name": "Ann"}
    if sender_chat is not None:
        message["sender_chat"] = {"id": sender_chat, "type": "supergroup", "title": "Newsroom"}
    if thread is not None:
        message["message_thread_id"] = thread
        message["is_topic_message"] = True
    if edited:
        message["edit_date"] = int(time.time())
    key = "edited_message" if edited else "message"
    return {"update_id": update_id if update_id is not None else message_id, key: message}


def message_id(update: dict[str, Any]) -> int:
    return int((update.get("message") or update["edited_message"])["message_id"])
