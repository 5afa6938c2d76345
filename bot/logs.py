"""Logging: one line per event with key=value context, and secrets redacted.

Tokens must never reach a log (RELIABILITY.md D6): httpx logs Telegram's
`/bot<TOKEN>/` URLs at INFO, and exception texts can echo Slack tokens. A filter
on the root handler rewrites every record, whatever library produced it.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

_SECRET_PATTERNS = [
    re.compile(r"(?<!\d)\d{5,}:[\w-]{30,}"),  # Telegram bot token (also inside /bot<TOKEN>/)
    re.compile(r"\bxox[abeoprs]-[\w-]+"),  # Slack tokens
    re.compile(r"\bxapp-[\w-]+"),  # Slack app-level token
    re.compile(r"(https://hooks\.slack\.com/)[\w/]+"),  # response_url / webhooks
    re.compile(r"(://[^:/@\s]+:)[^@\s]+@"),  # passwords in URLs
]
#: record attributes that are not "extra" context
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


class RedactingFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, with secrets replaced by ***."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{key}={value}" for key, value in vars(record).items() if key not in _STANDARD
        )
        line = super().format(record)
        if extras:
            line = f"{line} {extras}"
        return redact(line)


def setup_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty libraries: httpx logs full request URLs (Telegram tokens) at INFO.
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access", "slack_bolt", "telegram"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
