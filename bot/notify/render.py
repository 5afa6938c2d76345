"""Rendering outbox payloads for Slack, Telegram and the console (pure functions).

Feed text is hostile until escaped (RELIABILITY A4–A9): a title may hold
`<!channel>`, `<script>` or `</a><a href="javascript:…">`, and a link may use
any scheme. So:

* Slack mrkdwn: `&`, `<` and `>` are escaped everywhere
  (https://api.slack.com/reference/surfaces/formatting#escaping); the only `<`
  we emit opens our own `<url|title>` token, and only for http(s) URLs free of
  `|`, `<`, `>`, `"` and whitespace. Sections stay within 3,000 characters and
  messages within 45 blocks (Slack: 50), digests are split into messages.
* Telegram HTML: text goes through `html.escape`; we emit only `<b>`, `<i>`
  and `<a href="…">` (http(s) only), each opened and closed on one line, and
  split long messages between lines, so never inside a tag. Lengths are
  measured in UTF-16 code units over the whole HTML, tags included, which is
  never less than what Telegram counts after parsing entities (limit 4,096).
* Console: plain text with control characters removed (no terminal escapes).

Every payload shape is described in bot/store/outbox.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Telegram's limit is 4096 after entity parsing; we measure more and keep a margin
TELEGRAM_LIMIT = 4000
#: Slack: 3,000 characters per section text, 50 blocks, ~13k characters per message
SLACK_SECTION_LIMIT = 2900
SLACK_MAX_BLOCKS = 45
SLACK_MESSAGE_LIMIT = 11000

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_SPACE = re.compile(r"\s+")
_LINK_FORBIDDEN = re.compile(r"[|<>\"'\s\x00-\x1f\x7f]")


def utf16_len(text: str) -> int:
    """Length as Telegram and JavaScript count it: emoji outside the BMP count twice."""
    return len(text.encode("utf-16-le")) // 2


def slack_escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def tg_escape(text: str) -> str:
    return html.escape(text, quote=True)


def clean(text: object) -> str:
    """One line of plain text: control characters dropped, whitespace collapsed."""
    return _SPACE.sub(" ", _CONTROL.sub("", str(text or ""))).strip()


def fit(text: str, budget: int, escape: Callable[[str], str]) -> str:
    """`escape(text)`, cut (before escaping, so never inside an entity) to `budget` units."""
    escaped = escape(text)
    if utf16_len(escaped) <= budget:
        return escaped
    used, out = 1, []  # 1 for the ellipsis
    for ch in text:
        piece = escape(ch)
        used += utf16_len(piece)
        if used > budget:
            break
        out.append(piece)
    return "".join(out) + "…"


def safe_link(url: object) -> str | None:
    """The URL if it may become a clickable link: http(s), a host, no delimiter characters."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > 2000 or _LINK_FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def local_time(iso: object, timezone: str) -> str:
    """`2026-11-27 09:15 EET` in the channel's zone; '' when the time is unreadable."""
    try:
        when = datetime.fromisoformat(str(iso))
        zone = ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        return ""
    if when.tzinfo is None:
        return ""
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or timezone}"


@dataclass(frozen=True, slots=True)
class AlertView:
    """The fields of an alert payload, cleaned but not yet escaped."""

    title: str
    #: the link if safe to make clickable, else None
    link: str | None
    #: a link we refuse to make clickable, shown as text (A5)
    raw_link: str | None
    feed: str
    when: str
    topics: tuple[str, ...]
    terms: tuple[str, ...]
    snippet: str


def alert_view(payload: dict[str, Any], timezone: str) -> AlertView:
    why = [w for w in payload.get("why") or [] if isinstance(w, dict)]
    terms = dict.fromkeys(
        clean(h.get("term")) for w in why for h in w.get("hits") or [] if isinstance(h, dict)
    )
    snippet = next((clean(w.get("snippet")) for w in why if clean(w.get("snippet"))), "")
    link = safe_link(payload.get("link"))
    raw = clean(payload.get("link")) or None
    return AlertView(
        title=clean(payload.get("title")) or "(untitled)",
        link=link,
        raw_link=None if link else raw,
        feed=clean(payload.get("feed")),
        when=local_time(payload.get("published_at"), timezone),
        topics=tuple(clean(t) for t in payload.get("topics") or []),
        terms=tuple(t for t in terms if t),
        snippet=snippet or clean(payload.get("summary"))[:400],
    )


# -- Slack -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """Arguments for chat.postMessage: mrkdwn blocks plus the notification `text` fallback."""

    text: str
    blocks: tuple[dict[str, Any], ...]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(*texts: str) -> dict[str, Any] | None:
    elements = [{"type": "mrkdwn", "text": t} for t in texts if t]
    return {"type": "context", "elements": elements} if elements else None


def slack_link(url: str | None, title: str, budget: int) -> str:
    """`<url|title>` for a safe URL, else the escaped title alone."""
    text = fit(title, budget, slack_escape)
    if url is None or utf16_len(slack_escape(url)) > 1000:
        return text
    return f"<{slack_escape(url)}|{text}>"


def slack_alert(payload: dict[str, Any], timezone: str) -> SlackMessage:
    v = alert_view(payload, timezone)
    where = " · ".join(fit(p, 300, slack_escape) for p in (v.feed, v.when) if p)
    blocks = [_section(f"*{slack_link(v.link, v.title, 1500)}*")]
    topics = fit(", ".join(v.topics), 400, slack_escape)
    if context := _context(where, f"topics: {topics}" if topics else ""):
        blocks.append(context)
    body = []
    if v.terms:
        body.append(f"_matched:_ {fit(', '.join(v.terms), 400, slack_escape)}")
    if v.snippet:
        body.append(f"> {fit(v.snippet, 600, slack_escape)}")
    if v.raw_link:
        body.append(f"link (not clickable): {fit(v.raw_link, 300, slack_escape)}")
    elif v.link and utf16_len(slack_escape(v.link)) > 1000:
        body.append(f"link: {fit(v.link, 300, slack_escape)}")
    if body:
        blocks.append(_section("\n".join(body)))
    text = fit(f"{v.title} — {v.feed}" if v.feed else v.title, 1000, slack_escape)
    return SlackMessage(text=text, blocks=tuple(blocks))


#: sources listed in one thread follow-up before "and K more"
FOLLOWUP_SOURCES = 10


@dataclass(frozen=True, slots=True)
class SourceView:
    """One more outlet reporting a story, cleaned but not yet escaped."""

    title: str
    link: str | None
    feed: str


def followup_view(payload: dict[str, Any]) -> tuple[list[SourceView], int]:
    """The sources a thread follow-up lists (at most FOLLOWUP_SOURCES), and how many more.

    A payload without `sources` lists its own item.
    """
    raw = [s for s in payload.get("sources") or [payload] if isinstance(s, dict)]
    views = [
        SourceView(
            title=clean(s.get("title")) or "(untitled)",
            link=safe_link(s.get("link")),
            feed=clean(s.get("feed")),
        )
        for s in raw[:FOLLOWUP_SOURCES]
    ]
    return views, max(len(raw) - FOLLOWUP_SOURCES, 0)


def _followup_heading(sources: list[SourceView]) -> str:
    feeds = list(dict.fromkeys(s.feed for s in sources if s.feed))
    return f"Also reported by {', '.join(feeds)}" if feeds else "Also reported"


def slack_followup(payload: dict[str, Any]) -> SlackMessage:
    sources, more = followup_view(payload)
    lines = []
    for src in sources:
        feed = fit(src.feed, 100, slack_escape)
        lines.append(f"• {slack_link(src.link, src.title, 200)}" + (f" — {feed}" if feed else ""))
    heading = f"*{fit(_followup_heading(sources), 400, slack_escape)}*"
    text = _bounded(heading, lines, more, SLACK_SECTION_LIMIT)
    fallback = fit(_followup_heading(sources), 500, slack_escape)
    return SlackMessage(text=fallback, blocks=(_section(text),))


def telegram_followup(payload: dict[str, Any]) -> str:
    sources, more = followup_view(payload)
    lines = []
    for src in sources:
        feed = fit(src.feed, 100, tg_escape)
        lines.append(f"• {tg_link(src.link, src.title, 200)}" + (f" — {feed}" if feed else ""))
    heading = f"<b>{fit(_followup_heading(sources), 400, tg_escape)}</b>"
    return _bounded(heading, lines, more, TELEGRAM_LIMIT)


def _bounded(heading: str, lines: list[str], more: int, limit: int) -> str:
    """The heading and as many whole lines as fit in `limit`; the rest counted as "more"."""
    kept, used = [heading], utf16_len(heading)
    reserve = 30  # for the "…and K more" line
    for i, line in enumerate(lines):
        if used + 1 + utf16_len(line) > limit - reserve:
            more += len(lines) - i
            break
        kept.append(line)
        used += 1 + utf16_len(line)
    if more:
        kept.append(f"…and {more} more")
    return "\n".join(kept)


def console_followup(payload: dict[str, Any]) -> str:
    sources, more = followup_view(payload)
    lines = [f"   ↳ {_followup_heading(sources)[:500]}"]
    for src in sources:
        lines.append(f"     • {src.title[:200]} — {src.feed[:100]} {src.link or ''}".rstrip())
    if more:
        lines.append(f"     …and {more} more")
    return "\n".join(lines)


def _report_lines(payload: dict[str, Any]) -> list[str]:
    text = str(payload.get("text") or "").strip() or "(empty report)"
    return [_CONTROL.sub("", line) for line in text.splitlines()]


def slack_report(payload: dict[str, Any]) -> list[SlackMessage]:
    lines = _report_lines(payload)
    sections = pack(lines, SLACK_SECTION_LIMIT, slack_escape)
    return _slack_messages([_section(s) for s in sections], fallback=lines[0] if lines else "")


def slack_digest(payload: dict[str, Any]) -> list[SlackMessage]:
    title = clean(payload.get("title")) or "Digest"
    blocks = [_section(f"*{fit(title, 300, slack_escape)}*")]
    for section in payload.get("sections") or []:
        lines = [f"*{fit(clean(section.get('topic')), 200, slack_escape)}*"]
        for item in section.get("items") or []:
            lines.append(_slack_digest_line(item))
        if more := int(section.get("more") or 0):
            lines.append(f"…and {more} more")
        blocks.extend(_section(s) for s in pack(lines, SLACK_SECTION_LIMIT, None))
    return _slack_messages(blocks, fallback=title)


def _slack_digest_line(item: dict[str, Any]) -> str:
    link = slack_link(safe_link(item.get("link")), clean(item.get("title")) or "(untitled)", 300)
    extra = [fit(clean(item.get("feed")), 100, slack_escape)]
    if (sources := int(item.get("sources") or 1)) > 1:
        extra.append(f"{sources} sources")
    return f"• {link} — {' · '.join(e for e in extra if e)}"


def _slack_messages(blocks: list[dict[str, Any]], fallback: str) -> list[SlackMessage]:
    """Group blocks into messages under the block-count and total-size limits."""
    messages = split_greedy(
        blocks,
        lambda block: utf16_len(block["text"]["text"]),
        SLACK_MESSAGE_LIMIT,
        max_count=SLACK_MAX_BLOCKS,
    ) or [[]]
    total = len(messages)
    base = fit(clean(fallback), 500, slack_escape)
    return [
        SlackMessage(text=base if total == 1 else f"{base} ({i}/{total})", blocks=tuple(group))
        for i, group in enumerate(messages, 1)
    ]


# -- Telegram ----------------------------------------------------------------------


def tg_link(url: str | None, title: str, budget: int) -> str:
    text = fit(title, budget, tg_escape)
    if url is None or utf16_len(tg_escape(url)) > 1000:
        return text
    return f'<a href="{tg_escape(url)}">{text}</a>'


def telegram_alert(payload: dict[str, Any], timezone: str) -> str:
    v = alert_view(payload, timezone)
    lines = [f"<b>{tg_link(v.link, v.title, 1500)}</b>"]
    where = " · ".join(fit(p, 200, tg_escape) for p in (v.feed, v.when) if p)
    if where:
        lines.append(where)
    if v.topics:
        lines.append(f"topics: {fit(', '.join(v.topics), 300, tg_escape)}")
    if v.terms:
        lines.append(f"matched: {fit(', '.join(v.terms), 300, tg_escape)}")
    if v.snippet:
        lines.append(f"<i>{fit(v.snippet, 500, tg_escape)}</i>")
    if v.raw_link:
        lines.append(fit(v.raw_link, 300, tg_escape))
    elif v.link and utf16_len(tg_escape(v.link)) > 1000:
        lines.append(fit(v.link, 300, tg_escape))
    return "\n".join(lines)


def telegram_report(payload: dict[str, Any]) -> list[str]:
    return pack(_report_lines(payload), TELEGRAM_LIMIT, tg_escape)


def telegram_digest(payload: dict[str, Any]) -> list[str]:
    title = clean(payload.get("title")) or "Digest"
    lines = [f"<b>{fit(title, 300, tg_escape)}</b>"]
    for section in payload.get("sections") or []:
        lines.append("")
        lines.append(f"<b>{fit(clean(section.get('topic')), 200, tg_escape)}</b>")
        for item in section.get("items") or []:
            link = tg_link(
                safe_link(item.get("link")), clean(item.get("title")) or "(untitled)", 300
            )
            extra = [fit(clean(item.get("feed")), 100, tg_escape)]
            if (sources := int(item.get("sources") or 1)) > 1:
                extra.append(f"{sources} sources")
            lines.append(f"• {link} — {' · '.join(e for e in extra if e)}")
        if more := int(section.get("more") or 0):
            lines.append(f"…and {more} more")
    return pack(lines, TELEGRAM_LIMIT, None)


_ANCHOR = re.compile(r'<a href="([^"]*)">(.*?)</a>')
_TAG = re.compile(r"</?[a-z]+>")


def telegram_plain(markup: str) -> str:
    """Our own HTML as plain text, for the resend after "can't parse entities" (A9).

    Only valid on HTML this module made: all feed text in it is escaped, so the
    only tags are ours.
    """
    text = _ANCHOR.sub(lambda m: f"{m.group(2)} ({m.group(1)})", markup)
    return html.unescape(_TAG.sub("", text))


# -- console -----------------------------------------------------------------------


def console_alert(payload: dict[str, Any], timezone: str) -> str:
    v = alert_view(payload, timezone)
    lines = [f"━━ {v.title[:500]}"]
    if where := " · ".join(p for p in (v.feed, v.when) if p):
        lines.append(f"   {where}")
    if v.topics:
        lines.append(f"   topics: {', '.join(v.topics)}")
    if v.terms:
        lines.append(f"   matched: {', '.join(v.terms)}")
    if v.snippet:
        lines.append(f"   “{v.snippet[:400]}”")
    if link := v.link or v.raw_link:
        lines.append(f"   {link}")
    return "\n".join(lines)


def console_text(kind: str, payload: dict[str, Any], timezone: str) -> str:
    if kind == "thread":
        return console_followup(payload)
    if kind == "alert":
        return console_alert(payload, timezone)
    if kind == "digest":
        lines = [f"══ {clean(payload.get('title')) or 'Digest'}"]
        for section in payload.get("sections") or []:
            lines.append(f"   [{clean(section.get('topic'))}]")
            for item in section.get("items") or []:
                link = clean(item.get("link"))
                lines.append(f"   • {clean(item.get('title'))} — {clean(item.get('feed'))} {link}")
            if more := int(section.get("more") or 0):
                lines.append(f"   …and {more} more")
        return "\n".join(lines)
    return "\n".join(f"!! {line}" for line in _report_lines(payload))


# -- shared ------------------------------------------------------------------------


def pack(lines: Iterable[str], limit: int, escape: Callable[[str], str] | None) -> list[str]:
    """Join lines into chunks of at most `limit` UTF-16 units, splitting only between lines.

    With `escape`, lines are raw text, escaped here (and an over-long line is cut
    into pieces before escaping); without it, lines are finished markup, each
    already short enough.
    """
    groups = split_greedy(_pieces(lines, limit, escape), utf16_len, limit, separator=1)
    return ["\n".join(group) for group in groups if any(group)]


def split_greedy(
    items: Iterable[T],
    size: Callable[[T], int],
    limit: int,
    *,
    separator: int = 0,
    max_count: int | None = None,
) -> list[list[T]]:
    """Items in order, in as few groups as the greedy rule gives: a group ends when the
    next item would take it over `limit` (counting `separator` between items) or over
    `max_count` items. An item over the limit on its own gets a group of its own.

    The one splitting rule for every message: lines into Telegram messages and Slack
    sections, blocks into Slack messages.
    """
    groups: list[list[T]] = []
    current: list[T] = []
    used = 0
    for item in items:
        length = size(item)
        full = max_count is not None and len(current) >= max_count
        if current and (full or used + separator + length > limit):
            groups.append(current)
            current, used = [], 0
        used += length + (separator if current else 0)
        current.append(item)
    if current:
        groups.append(current)
    return groups


def _pieces(lines: Iterable[str], limit: int, escape: Callable[[str], str] | None) -> Iterable[str]:
    for line in lines:
        if escape is None:
            yield line
            continue
        piece: list[str] = []
        size = 0
        for ch in line:
            escaped = escape(ch)
            if size + utf16_len(escaped) > limit:
                yield "".join(piece)
                piece, size = [], 0
            piece.append(escaped)
            size += utf16_len(escaped)
        yield "".join(piece)


def render_slack(kind: str, payload: dict[str, Any], timezone: str) -> list[SlackMessage]:
    """The Slack messages for one delivery (several for a long digest)."""
    if kind == "thread":
        return [slack_followup(payload)]
    if kind == "alert":
        return [slack_alert(payload, timezone)]
    if kind == "digest":
        return slack_digest(payload)
    return slack_report(payload)


def render_telegram(kind: str, payload: dict[str, Any], timezone: str) -> list[str]:
    """The Telegram HTML messages for one delivery (several for a long digest)."""
    if kind == "thread":
        return [telegram_followup(payload)]
    if kind == "alert":
        return [telegram_alert(payload, timezone)]
    if kind == "digest":
        return telegram_digest(payload)
    return telegram_report(payload)
