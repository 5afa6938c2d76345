"""`skywatch run` serving chat, as a user runs it: a real process, Slack over HTTP on a
loopback port, Telegram by long polling against the fake Bot API, then SIGTERM.

A signed `/skywatch topics` posted to the process is answered in Slack's
acknowledgement; a `/help` update queued on the fake Bot API is answered with
a sendMessage replying to it. SIGTERM stops both and the process exits 0.
The fake platform servers run in this test process, on a loop of their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.chat.fake_bot_api import TOKEN, FakeBotAPI, message_id, update
from tests.fakes.slack_api import FakeSlackAPI
from tests.real_process import read_until, start_run
from tests.test_app_chat import SECRET, SLACK_TOKEN, free_port, sign, slash_body, write_config

T = TypeVar("T")


class Fakes:
    """The fake Slack Web API and Telegram Bot API, served from a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> Fakes:
        self.thread.start()

        async def start() -> tuple[FakeSlackAPI, FakeBotAPI]:
            slack, telegram = FakeSlackAPI(), FakeBotAPI(max_wait=0.5)
            await slack.start()
            await telegram.start()
            return slack, telegram

        self.slack, self.telegram = self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.slack.close())
        self.run(self.telegram.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with Fakes() as started:
        yield started


def post_slash_command(port: int, text: str) -> tuple[int, dict[str, Any]]:
    body, now = slash_body(text), int(time.time())
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/slack/events",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": sign(body, now),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_run_answers_slack_and_telegram_commands_and_stops_on_sigterm(
    tmp_path: Path, fakes: Fakes
) -> None:
    port = free_port()
    config = write_config(tmp_path, {"slack_host": "127.0.0.1", "slack_port": port})
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TELEGRAM_", "SKYWATCH_", "DATABASE_URL"))
    }
    env |= {
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SKYWATCH_SLACK_API_URL": fakes.slack.url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "SKYWATCH_TELEGRAM_API_URL": fakes.telegram.url,
    }
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = start_run(config, tmp_path, env, stdout, stderr)
        try:
            read_until(err, "chat commands: slack over HTTP", proc, timeout=20)
            read_until(err, "chat commands: telegram by long polling", proc, timeout=10)

            status, ack = post_slash_command(port, "topics")
            assert status == 200
            answer = "\n".join(b["text"]["text"] for b in ack.get("blocks", []))
            assert "air-defense" in answer and "energy" in answer, ack

            sent = update("/help")
            fakes.run(fakes.telegram.deliver(sent))
            (reply,) = fakes.run(fakes.telegram.wait_messages(1))
            assert reply["reply_parameters"]["message_id"] == message_id(sent)
            assert "/search QUERY" in reply["text"]

            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    logs = err.read_text()
    assert code == 0, logs
    assert "Traceback" not in logs and " ERROR " not in logs, logs
    assert "will be unused" not in logs  # bolt's notice on the token it reads from the env
    assert "stopping" in logs
    fakes.run(fakes.telegram.idle())  # the process's last long poll has ended
    assert SLACK_TOKEN not in logs and TOKEN not in logs
