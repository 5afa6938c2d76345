"""A fake Slack Web API: chat.postMessage, conversations.history/replies/info,
auth.test and users.info, enough for the real `AsyncWebClient` pointed at
`fake.url` (`AsyncWebClient(token, base_url=fake.url)`).

Faults for `.inject(method, fault, times=1, **options)`:

* `ratelimited`: HTTP 429 with `Retry-After: <retry_after>` (default 3);
* `server_error`: HTTP 500 with an HTML body;
* `slow`, `hang`, `reset`, `reset_after_accept`, `bad_answer`: see
  tests/fakes/_server.py;
* anything else, e.g. `channel_not_found`, `not_in_channel`, `is_archived`,
  `msg_too_long`: HTTP 200 `{"ok": false, "error": <fault>}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.fakes._server import FakeServer, Fault, json_field, serve_main


class FakeSlackAPI(FakeServer):
    """Records accepted messages as dicts: channel, text, blocks, thread_ts, metadata, ts."""

    send_method = "chat.postMessage"
    channel_param = "channel"

    def __init__(self, *, log_path: str | Path | None = None) -> None:
        super().__init__(log_path=log_path)
        self._ts = 1_700_000_000
        #: conversations.info answers; unknown channels are public, unarchived channels
        self.channels: dict[str, dict[str, Any]] = {}
        #: users.info answers
        self.users: dict[str, dict[str, Any]] = {}
        self.team_id = "T0FAKE"
        self.app.router.add_route("*", "/api/{method}", self._handle)

    @property
    def url(self) -> str:
        """The base URL for AsyncWebClient (ends with a slash)."""
        return f"{self.base}/api/"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        return await self.dispatch(request, method, method.replace(".", "_"))

    def refuse(self, request: web.Request) -> web.StreamResponse | None:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return web.json_response({"ok": False, "error": "not_authed"})
        return None

    def unknown_method(self, method: str) -> web.StreamResponse:
        return web.json_response({"ok": False, "error": "unknown_method"})

    def platform_fault(self, fault: Fault) -> web.StreamResponse:
        if fault.kind == "ratelimited":
            retry_after = str(fault.options.get("retry_after", 3))
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": retry_after},
            )
        if fault.kind == "server_error":
            return web.Response(status=500, text="<html>Internal Server Error</html>")
        return web.json_response({"ok": False, "error": fault.kind})

    def new_message(self, params: dict[str, Any]) -> dict[str, Any]:
        self._ts += 1
        return {
            "channel": params.get("channel"),
            "text": params.get("text"),
            "blocks": json_field(params.get("blocks")),
            "thread_ts": params.get("thread_ts"),
            "metadata": json_field(params.get("metadata")),
            "unfurl_links": params.get("unfurl_links"),
            "unfurl_media": params.get("unfurl_media"),
            "ts": f"{self._ts}.000100",
        }

    async def api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        message = self.new_message(params)
        self.accept(message)
        return {
            "ok": True,
            "channel": message["channel"],
            "ts": message["ts"],
            "message": {"type": "message", "text": message["text"], "ts": message["ts"]},
        }

    async def api_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [m for m in self.messages if m["channel"] == params.get("channel")]
        found = [m for m in found if not m["thread_ts"]]
        return {
            "ok": True,
            "messages": [_as_history(m) for m in reversed(found)],
            "has_more": False,
        }

    async def api_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [
            m
            for m in self.messages
            if m["channel"] == params.get("channel")
            and params.get("ts") in (m["thread_ts"], m["ts"])
        ]
        return {"ok": True, "messages": [_as_history(m) for m in found], "has_more": False}

    async def api_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel", "")
        info = {"id": channel, "name": channel.lower(), "is_archived": False, "is_member": True}
        return {"ok": True, "channel": {**info, **self.channels.get(channel, {})}}

    async def api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "skywatch",
            "team_id": self.team_id,
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    async def api_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user", "")
        info = {
            "id": user,
            "name": user.lower(),
            "team_id": self.team_id,
            "is_admin": False,
            "is_owner": False,
            "is_restricted": False,
            "is_bot": False,
        }
        return {"ok": True, "user": {**info, **self.users.get(user, {})}}


def _as_history(message: dict[str, Any]) -> dict[str, Any]:
    out = {"type": "message", "text": message["text"], "ts": message["ts"]}
    if message["thread_ts"]:
        out["thread_ts"] = message["thread_ts"]
    if message["metadata"]:
        out["metadata"] = message["metadata"]
    return out


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackAPI]:
    """A running fake Slack Web API on 127.0.0.1."""
    async with FakeSlackAPI() as server:
        yield server


if __name__ == "__main__":
    serve_main(FakeSlackAPI, "A fake Slack Web API for end-to-end tests.")
