"""Secrets never reach the logs (RELIABILITY.md D6)."""

from __future__ import annotations

import io
import logging

import pytest

from bot.logs import redact, setup_logging

TELEGRAM = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"POST https://api.telegram.org/bot{TELEGRAM}/sendMessage", TELEGRAM),
        ("token xoxb-1111-2222-abcdEFGH rejected", "xoxb-1111-2222-abcdEFGH"),
        ("app token xapp-1-A0-12-abc", "xapp-1-A0-12-abc"),
        ("reply to https://hooks.slack.com/commands/T1/123/abc", "T1/123/abc"),
        ("postgresql://bot:hunter2@db.example/x", "hunter2"),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_library_logs_are_redacted_too() -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream)
    logging.getLogger("some.library").warning("calling /bot%s/getMe", TELEGRAM)
    logging.getLogger("bot.update").info("feed failed", extra={"feed": "https://x.example/"})
    output = stream.getvalue()
    assert TELEGRAM not in output
    assert "feed=https://x.example/" in output
    assert logging.getLogger("httpx").level >= logging.WARNING
