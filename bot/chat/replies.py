"""Command replies: one platform-neutral model, rendered for Slack and Telegram.

The command core builds a `Reply` from plain text (what users typed, feed
titles, URLs: all hostile) and never writes markup itself. Rendering is the
only place markup is made, with the escaping of bot/notify/render.py
(RELIABILITY A4, A5):

* Slack mrkdwn: `&`, `<`, `>` escaped, so `<!channel>` or `<@U1>` typed by a
  user shows as text and pings nobody; text objects are `verbatim`, so Slack
  does not auto-link or auto-mention either. Links become `<url|text>` only
  for http(s) URLs without delimiter characters. Tables are code blocks.
* Telegram HTML: `html.escape` on every text, only `<b>`, `<code>`, `<pre>`
  and `<a href>` emitted, messages split between lines (never inside a tag)
  within 4,096 characters. Tables are `<pre>` blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.notify.render import (
    SLACK_MAX_BLOCKS,
    SLACK_MESSAGE_LIMIT,
    SLACK_SECTION_LIMIT,
    TELEGRAM_LIMIT,
    fit,
    pack,
    safe_link,
    slack_escape,
    tg_escape,
    utf16_len,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")

#: widest table cell, in characters (URLs and error texts are cut)
CELL_LIMIT = 48
#: Slack allows five responses per response_url; leave room for "working…"
SLACK_MAX_MESSAGES = 4
TELEGRAM_MAX_MESSAGES = 5
TRUNCATED = "… (cut here: too long for one reply)"


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of one line: text, optionally bold, code, or a link."""

    text: str
    #: made clickable only when `safe_link` accepts it; else the text stays plain
    link: str | None = None
    bold: bool = False
    code: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    """Rows shown in a monospaced block, columns padded."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Line = tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    """What a command answers."""

    body: tuple[Line | Table, ...]
    #: shown only to the user who typed the command (Slack); Telegram replies in the chat
    ephemeral: bool = True
    #: ok, usage, refused or error; for logs and tests, never shown
    kind: str = "ok"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def text(cls, *lines: str, ephemeral: bool = True, kind: str = "ok") -> Reply:
        """A reply of plain text lines."""
        return cls(tuple((Span(line),) for line in lines), ephemeral=ephemeral, kind=kind)

    def plain(self) -> str:
        """The reply as plain text (logs, tests, the console)."""
        out: list[str] = []
        for part in self.body:
            if isinstance(part, Table):
                out.extend(_table_lines(part))
            else:
                out.append("".join(span.text for span in part))
        return "\n".join(out)


def line(*parts: str | Span) -> Line:
    """A line from strings (plain text) and spans."""
    return tuple(Span(p) if isinstance(p, str) else p for p in parts)


def _clean(text: str) -> str:
    """One line: control characters (terminal escapes, bidi overrides) dropped, whitespace
    collapsed; unlike render.clean, edges are kept so spans join with their spaces."""
    return _SPACE.sub(" ", _CONTROL.sub("", text))


# -- Slack ------------------------------------------------------------------------------


def to_slack(reply: Reply) -> list[dict[str, Any]]:
    """Keyword arguments for bolt's `respond()`/`ack()`: one dict per message."""
    sections = pack(_slack_chunks(reply.body), SLACK_SECTION_LIMIT, None)
    blocks = [_slack_section(s) for s in sections]
    groups = _slack_groups(blocks)
    if len(groups) > SLACK_MAX_MESSAGES:
        groups = groups[:SLACK_MAX_MESSAGES]
        groups[-1][-1] = _slack_section(TRUNCATED)
    groups = groups or [[]]
    fallback = fit(_clean(reply.plain().split("\n", 1)[0]).strip() or "Skywatch", 300, slack_escape)
    kind = "ephemeral" if reply.ephemeral else "in_channel"
    return [{"text": fallback, "blocks": group, "response_type": kind} for group in groups]


def _slack_groups(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Blocks grouped into messages under Slack's block count and message size limits."""
    groups: list[list[dict[str, Any]]] = []
    size = 0
    for block in blocks:
        length = utf16_len(block["text"]["text"])
        if not groups or len(groups[-1]) >= SLACK_MAX_BLOCKS or size + length > SLACK_MESSAGE_LIMIT:
            groups.append([])
            size = 0
        groups[-1].append(block)
        size += length
    return groups


def _slack_section(text: str) -> dict[str, Any]:
    # verbatim: Slack must not auto-link URLs or turn "@here" into a mention
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _slack_chunks(body: Iterable[Line | Table]) -> Iterable[str]:
    for part in body:
        if isinstance(part, Table):
            yield from _code_blocks(part, slack_escape, "```", "```")
        else:
            yield "".join(_slack_span(s) for s in part) or " "


def _slack_span(span: Span) -> str:
    text = fit(_clean(span.text), 1500, slack_escape)
    url = safe_link(span.link)
    if url is not None and utf16_len(url) <= 1000:
        text = f"<{slack_escape(url)}|{text or slack_escape(url)}>"
    if span.code and text:
        text = f"`{text}`"
    if span.bold and text:
        text = f"*{text}*"
    return text


# -- Telegram ---------------------------------------------------------------------------


def to_telegram(reply: Reply) -> list[str]:
    """HTML messages (parse_mode=HTML), each within Telegram's length limit."""
    chunks = pack(_telegram_chunks(reply.body), TELEGRAM_LIMIT, None)
    if len(chunks) > TELEGRAM_MAX_MESSAGES:
        chunks = chunks[:TELEGRAM_MAX_MESSAGES]
        chunks[-1] += "\n" + TRUNCATED  # the limit keeps a margin below Telegram's 4,096
    return chunks or ["…"]


def _telegram_chunks(body: Iterable[Line | Table]) -> Iterable[str]:
    for part in body:
        if isinstance(part, Table):
            yield from _code_blocks(part, tg_escape, "<pre>", "</pre>")
        else:
            yield "".join(_telegram_span(s) for s in part)


def _telegram_span(span: Span) -> str:
    text = fit(_clean(span.text), 1500, tg_escape)
    url = safe_link(span.link)
    if url is not None and utf16_len(url) <= 1000:
        text = f'<a href="{tg_escape(url)}">{text or tg_escape(url)}</a>'
    if span.code and text:
        text = f"<code>{text}</code>"
    if span.bold and text:
        text = f"<b>{text}</b>"
    return text


# -- tables -----------------------------------------------------------------------------


def _code_blocks(table: Table, escape: Any, open_: str, close: str) -> Iterable[str]:
    """The table as one or more code blocks, each short enough to stand as one chunk."""
    budget = min(SLACK_SECTION_LIMIT, TELEGRAM_LIMIT) - len(open_) - len(close) - 2
    block: list[str] = []
    size = 0
    for text in _table_lines(table):
        escaped = escape(text)
        if block and size + utf16_len(escaped) + 1 > budget:
            yield open_ + "\n".join(block) + close
            block, size = [], 0
        block.append(escaped)
        size += utf16_len(escaped) + 1
    if block:
        yield open_ + "\n".join(block) + close


def _table_lines(table: Table) -> list[str]:
    rows = [tuple(_cell(c) for c in row) for row in (table.header, *table.rows)]
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(table.header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _cell(value: str) -> str:
    text = _clean(value).strip()
    return text if len(text) <= CELL_LIMIT else text[: CELL_LIMIT - 1] + "…"


def usage_reply(usage: str | Sequence[str]) -> Reply:
    """The usage line(s) of a command given wrong arguments."""
    lines = [usage] if isinstance(usage, str) else list(usage)
    return Reply(tuple(line("Usage: ", Span(u, code=True)) for u in lines), kind="usage")
