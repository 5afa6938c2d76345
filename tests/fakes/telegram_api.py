"""A fake Telegram Bot API: sendMessage, getMe, getUpdates, getChatMember,
setWebhook and deleteWebhook, enough for the real `telegram.Bot` pointed at
`fake.url` (`Bot(token, base_url=fake.url)`).

Faults for `.inject(method, fault, times=1, **options)`, answered as the real
API does (`{"ok": false, "error_code", "description", "parameters"}`):

* `retry_after`: 429 with `parameters.retry_after` (option retry_after, default 3);
* `parse_entities`: 400 "Bad Request: can't parse entities: …";
* `kicked`: 403 "Forbidden: bot was kicked from the group chat";
* `chat_not_found`: 400 "Bad Request: chat not found";
* `migrate`: 400 with `parameters.migrate_to_chat_id` (option migrate_to);
* `server_error`: 500;
* `slow`, `hang`, `reset`, `reset_after_accept`, `bad_answer`: see
  tests/fakes/_server.py.

Chats listed in `.migrated` ({old id: new id}) always answer with the migration error.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.fakes._server import FakeServer, Fault, json_field, serve_main

_ERRORS: dict[str, tuple[int, str]] = {
    "parse_entities": (
        400,
        'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 3',
    ),
    "kicked": (403, "Forbidden: bot was kicked from the group chat"),
    "chat_not_found": (400, "Bad Request: chat not found"),
    "server_error": (500, "Internal Server Error"),
}


class FakeTelegramAPI(FakeServer):
    """Records accepted messages as dicts: chat_id, text, parse_mode, message_thread_id, …"""

    send_method = "sendMessage"
    channel_param = "chat_id"

    def __init__(self, *, log_path: str | Path | None = None, token: str | None = None) -> None:
        super().__init__(log_path=log_path)
        self._message_id = 100
        #: old chat id → new chat id, for groups that became supergroups
        self.migrated: dict[str, int] = {}
        #: getChatMember answers by (chat_id, user_id); default: a plain member
        self.members: dict[tuple[str, str], str] = {}
        #: updates served by getUpdates
        self.updates: list[dict[str, Any]] = []
        self.webhook: str | None = None
        #: when set, other tokens get 401 Unauthorized
        self.token = token
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)

    @property
    def url(self) -> str:
        """The base URL for telegram.Bot (the token is appended to it)."""
        return f"{self.base}/bot"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        return await self.dispatch(request, method, method)

    def refuse(self, request: web.Request) -> web.StreamResponse | None:
        if self.token is not None and request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        return None

    def unknown_method(self, method: str) -> web.StreamResponse:
        return _error(404, "Not Found: method not found")

    def platform_fault(self, fault: Fault) -> web.StreamResponse:
        if fault.kind == "retry_after":
            seconds = int(fault.options.get("retry_after", 3))
            return _error(
                429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
            )
        if fault.kind == "migrate":
            return _migrated(int(fault.options.get("migrate_to", -1001234567890)))
        status, description = _ERRORS[fault.kind]
        return _error(status, description)

    def new_message(self, params: dict[str, Any]) -> dict[str, Any]:
        self._message_id += 1
        return {
            "message_id": self._message_id,
            "chat_id": params.get("chat_id"),
            "text": params.get("text"),
            "parse_mode": params.get("parse_mode"),
            "message_thread_id": params.get("message_thread_id"),
            "reply_parameters": json_field(params.get("reply_parameters")),
            "link_preview_options": json_field(params.get("link_preview_options")),
        }

    async def api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = str(params.get("chat_id", ""))
        if chat_id in self.migrated:
            return _migrated(self.migrated[chat_id])
        if not params.get("text"):
            return _error(400, "Bad Request: message text is empty")
        message = self.new_message(params)
        self.accept(message)
        chat = int(chat_id) if chat_id.lstrip("-").isdigit() else -1000000000001
        return _ok(
            {
                "message_id": message["message_id"],
                "date": int(time.time()),
                "chat": {"id": chat, "type": "supergroup", "title": "fake"},
                "text": message["text"],
            }
        )

    async def api_getMe(self, params: dict[str, Any]) -> web.Response:
        return _ok(
            {
                "id": 777,
                "is_bot": True,
                "first_name": "Skywatch",
                "username": "skywatch_bot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        return _ok([u for u in self.updates if u["update_id"] >= offset])

    async def api_getChatMember(self, params: dict[str, Any]) -> web.Response:
        user_id = str(params.get("user_id"))
        status = self.members.get((str(params.get("chat_id")), user_id), "member")
        user = {"id": int(user_id), "is_bot": False, "first_name": "User"}
        return _ok({"status": status, "user": user})

    async def api_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = params.get("url")
        return _ok(True)

    async def api_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = None
        return _ok(True)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _migrated(new_id: int) -> web.Response:
    return _error(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_id},
    )


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegramAPI]:
    """A running fake Telegram Bot API on 127.0.0.1."""
    async with FakeTelegramAPI() as server:
        yield server


if __name__ == "__main__":
    serve_main(FakeTelegramAPI, "A fake Telegram Bot API for end-to-end tests.")
