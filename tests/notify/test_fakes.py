"""The fake chat servers as standalone processes, as the end-to-end crash test will run them."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot

from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.real_process import spawn_fake


@pytest.fixture
def run_fake(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[str]] = []

    def start(module: str) -> tuple[str, Path]:
        log = tmp_path / f"{module}.json"
        proc, url = spawn_fake(module, log)
        procs.append(proc)
        return url, log

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


async def test_standalone_slack_logs_messages_and_takes_faults(run_fake: object) -> None:
    url, log = run_fake("slack_api")  # type: ignore[operator]
    assert url.endswith("/api/")
    client = AsyncWebClient(token="xoxb-e2e", base_url=url, retry_handlers=[])
    await client.chat_postMessage(channel="C9", text="hello &amp; bye")
    assert [m["text"] for m in json.loads(log.read_text())] == ["hello &amp; bye"]
    base = url.removesuffix("/api/")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/_fake/inject", json={"method": "chat.postMessage", "fault": "is_archived"}
        ) as response:
            assert response.status == 200
        with pytest.raises(SlackApiError, match="is_archived"):
            await client.chat_postMessage(channel="C9", text="refused")
        async with http.get(f"{base}/_fake/messages") as response:
            assert [m["channel"] for m in await response.json()] == ["C9"]


async def test_standalone_telegram_logs_messages(run_fake: object) -> None:
    url, log = run_fake("telegram_api")  # type: ignore[operator]
    assert url.endswith("/bot")
    async with Bot("42:e2e-token", base_url=url) as bot:
        sent = await bot.send_message(chat_id=-100, text="<b>hi</b>", parse_mode="HTML")
    [logged] = json.loads(log.read_text())
    assert (logged["chat_id"], logged["text"], logged["message_id"]) == (
        "-100",
        "<b>hi</b>",
        sent.message_id,
    )


@pytest.mark.parametrize("after_accept", [True, False], ids=["after accept", "before accept"])
async def test_slow_fault_answers_late_and_records_when_asked(
    slack_api: FakeSlackAPI, after_accept: bool
) -> None:
    slack_api.inject("chat.postMessage", "slow", seconds=0.5, after_accept=after_accept)
    client = AsyncWebClient(token="xoxb-e2e", base_url=slack_api.url, retry_handlers=[])
    post = asyncio.create_task(client.chat_postMessage(channel="C9", text="late"))
    while not slack_api.calls:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert not post.done()  # still waiting for the answer
    assert len(slack_api.messages) == (1 if after_accept else 0)
    response = await post
    assert response["ts"] == slack_api.messages[0]["ts"]
    assert len(slack_api.messages) == 1


async def test_faults_are_injected_and_cleared_over_http(
    telegram_api: FakeTelegramAPI,
) -> None:
    async with aiohttp.ClientSession() as http:
        inject = {"method": "sendMessage", "fault": "slow", "seconds": 0.3, "times": 5}
        async with http.post(f"{telegram_api.base}/_fake/inject", json=inject) as response:
            assert response.status == 200
        async with Bot("42:e2e-token", base_url=telegram_api.url) as bot:
            await bot.send_message(chat_id=-100, text="one")
            async with http.post(f"{telegram_api.base}/_fake/clear") as response:
                assert response.status == 200
            assert telegram_api.next_fault("sendMessage", -100) is None
            await bot.send_message(chat_id=-100, text="two")
    assert [m["text"] for m in telegram_api.messages] == ["one", "two"]
