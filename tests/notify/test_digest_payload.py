"""The digest payload every renderer and `digest --dry-run` read (bot/notify/digest.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.notify.digest import StoryLine, digest_payload, digest_preview_rows
from bot.notify.render import console_text

WHEN = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_an_untitled_story_reads_as_alerts_read_it() -> None:
    grouped = {
        "air_defense": [
            StoryLine("", "https://a.example/1", WHEN, 1.0, ["Desk"]),
            StoryLine("Patriot batteries arrive", None, WHEN, 0.5, ["Wire"]),
        ]
    }
    payload = digest_payload(grouped, title="Digest")
    rows = digest_preview_rows(payload)
    assert [row[2] for row in rows] == ["(untitled)", "Patriot batteries arrive"]
    assert "(untitled)" in console_text("digest", payload, "UTC")
