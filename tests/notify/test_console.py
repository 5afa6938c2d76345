"""The console notifier prints one readable block per message."""

from __future__ import annotations

import io

from bot.notify.base import OutgoingMessage
from bot.notify.console import ConsoleNotifier
from tests.notify.builders import alert, digest


async def test_prints_alert_blocks_and_counts_message_ids() -> None:
    out = io.StringIO()
    console = ConsoleNotifier(stream=out)
    first = await console.send(
        OutgoingMessage("console", "alert", alert("Kyiv \x1b[2J power"), timezone="Europe/Kyiv")
    )
    second = await console.send(OutgoingMessage("console", "report", {"text": "Feed x failed"}))
    assert (first.message_id, second.message_id) == ("1", "2")
    assert out.getvalue().split("\n\n")[0].splitlines() == [
        "━━ Kyiv [2J power",
        "   Example News · 2026-11-27 09:30 EET",
        "   topics: energy, war",
        "   matched: power plant, Kyiv",
        "   “…a drone hit the power plant in Kyiv overnight…”",
        "   https://news.example/kyiv?id=1&lang=en",
    ]
    assert "!! Feed x failed" in out.getvalue()


async def test_prints_digests() -> None:
    out = io.StringIO()
    await ConsoleNotifier(stream=out).send(OutgoingMessage("console", "digest", digest(2)))
    text = out.getvalue()
    assert "══ Daily digest, 27 Nov" in text
    assert "   • x war 1 — Example News https://news.example/war/1" in text
    assert "   …and 3 more" in text
