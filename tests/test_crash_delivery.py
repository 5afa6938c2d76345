"""`kill -9` during sending loses no alert and doubles at most the documented one.

Real processes on loopback: a feed of ITEMS matching stories, the fake Slack
and Telegram APIs (`python -m tests.fakes.…`), and `skywatch run`. Both fakes
answer every message late, *after* recording it (`slow`, `after_accept`), so
a kill right after a message shows up in a fake's log lands in the narrow
window of bot.notify.sender: the platform has the message, the outbox has no
receipt. The bot is killed three times at different moments (alerts just
queued, a Telegram message in flight, a Slack message in flight), restarted,
and left to drain the outbox. Then:

* Slack: every item exactly once; the retry of an abandoned row looks for its
  delivery id in the channel history first, so the window is closed there;
* Telegram (no such lookup): every item at least once, and at most one
  duplicate per kill, the documented window.

Abandoned rows come back when their lease runs out: 2 minutes by default,
3 seconds here when the build has the `send_lease` setting.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

from bot.config import Settings
from bot.notify.sender import LEASE

from .real_process import serve_feed, spawn_fake, start_run

pytestmark = pytest.mark.slow

SLACK, TELEGRAM = "slack:C0CRASH", "telegram:-1001234"
#: how late the fakes answer each message (the window a kill aims at)
ANSWER_DELAY = 0.6
#: a short lease, when the build lets us set one, so abandoned rows return quickly
TEST_LEASE = timedelta(seconds=3)
HAS_LEASE_SETTING = "send_lease" in Settings.model_fields
#: unrelated stories (similar titles would be grouped into one story, one alert)
HEADLINES = (
    "Zeppelin lands on a glacier near Tromsø after an engine fault",
    "Vintage airship auctioned in Geneva for a record sum",
    "Airship startup raises funds for Arctic cargo flights",
    "Museum in Friedrichshafen reopens its zeppelin hangar to schoolchildren",
    "Storm grounds tourist airships over the Napa vineyards",
    "Navy tests a surveillance airship off the coast of Kerala",
    "Farmers in Saskatchewan report a drifting zeppelin above wheat fields",
    "Hydrogen airship prototype completes its maiden voyage in Lyon",
    "Film crew hires a zeppelin for a wedding scene in Lisbon",
    "Insurance dispute delays an airship festival in Albuquerque",
    "Students build a solar airship for a physics olympiad in Seoul",
    "Retired pilot restores a zeppelin gondola in a barn in Wales",
)
#: 12 items: under Telegram's 20 messages per minute per chat, duplicates included
ITEMS = len(HEADLINES)


def tag(i: int) -> str:
    return f"zq{i:02d}"


def feed_xml() -> bytes:
    date = formatdate(usegmt=True)
    items = "".join(
        f"<item><title>{title} ({tag(i)})</title>"
        f"<link>http://localhost/news/{tag(i)}</link><guid>crash-{i}</guid>"
        f"<pubDate>{date}</pubDate></item>"
        for i, title in enumerate(HEADLINES)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Airship Desk</title><link>http://localhost/</link><description>t</description>"
        f"{items}</channel></rss>"
    ).encode()


@pytest.fixture
def feed_url() -> Iterator[str]:
    with serve_feed(feed_xml) as url:
        yield url


class Fake:
    """A fake chat API running as its own process, as in production a platform would."""

    def __init__(self, module: str, log: Path) -> None:
        self.log = log
        self.proc, self.url = spawn_fake(module, log)
        self.base = "/".join(self.url.split("/")[:3])  # http://127.0.0.1:port

    def inject(self, **fault: Any) -> None:
        request = Request(
            f"{self.base}/_fake/inject",
            data=json.dumps(fault).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urlopen(request, timeout=5) as response:
            assert response.status == 200

    def messages(self) -> list[dict[str, Any]]:
        try:
            return list(json.loads(self.log.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return []

    def stop(self) -> None:
        # A clean exit is tested in tests/notify/test_fakes.py; here it is only clean-up.
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[tuple[Fake, Fake]]:
    slack = Fake("slack_api", tmp_path / "slack.json")
    try:
        telegram = Fake("telegram_api", tmp_path / "telegram.json")
    except BaseException:
        slack.stop()
        raise
    try:
        slack.inject(method="chat.postMessage", fault="slow", times=1000,
                     seconds=ANSWER_DELAY, after_accept=True)  # fmt: skip
        telegram.inject(method="sendMessage", fault="slow", times=1000,
                        seconds=ANSWER_DELAY, after_accept=True)  # fmt: skip
        yield slack, telegram
    finally:
        slack.stop()
        telegram.stop()


def write_config(tmp_path: Path, feed_url: str) -> Path:
    # No digest during the test: the daily digest is due half a day from now.
    digest_at = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:%M")
    lease = f"  send_lease: {int(TEST_LEASE.total_seconds())}s\n" if HAS_LEASE_SETTING else ""
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "settings:\n  data_dir: state\n  allow_private_hosts: [localhost]\n"
        f"  fetch_timeout: 5s\n  send_interval: 1s\n  chat_commands: false\n{lease}"
        f"feeds:\n  - {{url: '{feed_url}', name: Airship Desk, lang: en}}\n"
        "topics:\n  airships:\n    concepts:\n      airship: [zeppelin(s), airship(s)]\n"
        "    any: [airship]\n"
        "channels:\n"
        f"  - {{id: '{SLACK}', follows: [airships], digest_at: '{digest_at}'}}\n"
        f"  - {{id: '{TELEGRAM}', follows: [airships], digest_at: '{digest_at}'}}\n",
        encoding="utf-8",
    )
    return config


class Bot:
    """`skywatch run` as a real process, started again after every kill."""

    def __init__(self, tmp_path: Path, config: Path, slack: Fake, telegram: Fake) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_"))
        }
        self.env |= {
            "SLACK_BOT_TOKEN": "xoxb-crash-test",
            "SKYWATCH_SLACK_API_URL": slack.url,
            "TELEGRAM_BOT_TOKEN": "123456:crash-test",
            "SKYWATCH_TELEGRAM_API_URL": telegram.url,
        }
        self.runs = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.runs += 1
        self.log = self.tmp_path / f"run{self.runs}.log"
        with self.log.open("w") as log:
            self.proc = start_run(self.config, self.tmp_path, self.env, log, subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)  # no clean-up of any kind: a crash
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout=20)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
        return self.proc.returncode

    def logs(self, *, until_stop: bool = False) -> str:
        """Every run's log; with `until_stop`, up to the start of a clean stop."""
        texts = [
            (self.tmp_path / f"run{i}.log").read_text(errors="replace")
            for i in range(1, self.runs + 1)
        ]
        if until_stop:
            texts = [text.split("bot.app: stopping")[0] for text in texts]
        return "\n".join(f"--- run {i}:\n{text}" for i, text in enumerate(texts, 1))


def wait_for(condition: Callable[[], bool], timeout: float, what: str, bot: Bot) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert bot.proc is not None
        if bot.proc.poll() is not None:
            raise AssertionError(f"the bot exited while waiting for {what}:\n{bot.logs()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{bot.logs()}")


def outbox_left(db: Path) -> int | None:
    """Outbox rows not yet sent (None before the database exists)."""
    if not db.exists():
        return None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            (total,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
            (left,) = conn.execute("SELECT count(*) FROM outbox WHERE status != 'sent'").fetchone()
        except sqlite3.OperationalError:
            return None  # not migrated yet, or busy: ask again
    return int(left) if total == 2 * ITEMS else None


def per_item(messages: list[dict[str, Any]]) -> Counter[str]:
    return Counter(t for m in messages for t in set(re.findall(r"zq\d\d", m.get("text") or "")))


def more_messages(fake: Fake, count: int) -> Callable[[], bool]:
    """True once `count` more messages than now were accepted (and not yet answered)."""
    target = len(fake.messages()) + count
    return lambda: len(fake.messages()) >= target


def test_kill_9_while_sending_loses_nothing_and_doubles_at_most_the_narrow_window(
    tmp_path: Path, feed_url: str, fakes: tuple[Fake, Fake]
) -> None:
    slack, telegram = fakes
    db = tmp_path / "state" / "skywatch.db"
    bot = Bot(tmp_path, write_config(tmp_path, feed_url), slack, telegram)
    # Three moments: alerts just queued; a Telegram message, then a Slack message,
    # accepted by the platform but not yet answered.
    kills: list[tuple[str, Callable[[], Callable[[], bool]]]] = [
        ("the alerts to be queued", lambda: lambda: outbox_left(db) is not None),
        ("a Telegram message in flight", lambda: more_messages(telegram, 2)),
        ("a Slack message in flight", lambda: more_messages(slack, 5)),
    ]
    try:
        for what, moment in kills:
            reached = moment()
            bot.start()
            wait_for(reached, timeout=60, what=what, bot=bot)
            bot.kill()
        assert len(per_item(slack.messages())) < ITEMS, "the kills came too late to test much"
        bot.start()
        # Rows abandoned by a kill return once their lease is over.
        lease = TEST_LEASE if HAS_LEASE_SETTING else LEASE
        wait_for(
            lambda: outbox_left(db) == 0,
            timeout=lease.total_seconds() + 90,
            what="the outbox to drain",
            bot=bot,
        )
        assert bot.stop() == 0, bot.logs()
    finally:
        if bot.proc is not None and bot.proc.poll() is None:
            bot.proc.kill()
    expected = {tag(i) for i in range(ITEMS)}
    on_slack, on_telegram = per_item(slack.messages()), per_item(telegram.messages())
    assert set(on_slack) == expected and set(on_telegram) == expected, bot.logs()
    # Slack: the retry of an abandoned row finds its delivery id in the history.
    assert max(on_slack.values()) == 1, on_slack
    # Telegram: a kill leaves at most one message of the chat accepted but unrecorded.
    assert sum(on_telegram.values()) - ITEMS <= len(kills), on_telegram
    # (A stop during a drain logs the cancelled job's traceback: reported apart.)
    assert "Traceback" not in bot.logs(until_stop=True)
