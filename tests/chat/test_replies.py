"""Rendering replies: hostile text escaped per platform, links only when safe, limits kept."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from bot.chat.replies import (
    TELEGRAM_MAX_MESSAGES,
    TRUNCATED,
    Reply,
    Span,
    Table,
    line,
    to_slack,
    to_telegram,
)
from bot.notify.render import utf16_len

HOSTILE = "<!channel> <@U123> <#C1|x> & <script>alert(1)</script> </a><a href='x'>"


def slack_text(reply: Reply) -> str:
    return "\n".join(b["text"]["text"] for m in to_slack(reply) for b in m["blocks"])


def test_slack_escapes_what_users_and_feeds_write() -> None:
    reply = Reply((line("You searched ", Span(HOSTILE, bold=True)), line(Span(HOSTILE, code=True))))
    (message,) = to_slack(reply)
    text = slack_text(reply)
    assert "<" not in text and ">" not in text  # no mention, link or special token survives
    assert "&lt;!channel&gt; &lt;@U123&gt; &lt;#C1|x&gt; &amp; &lt;script&gt;" in text
    assert all(b["text"]["verbatim"] is True for b in message["blocks"])
    assert "<" not in message["text"] and message["response_type"] == "ephemeral"


def test_telegram_escapes_what_users_and_feeds_write() -> None:
    (html,) = to_telegram(Reply((line("You searched ", Span(HOSTILE, bold=True)),)))
    assert html == (
        "You searched <b>&lt;!channel&gt; &lt;@U123&gt; &lt;#C1|x&gt; &amp; "
        "&lt;script&gt;alert(1)&lt;/script&gt; &lt;/a&gt;&lt;a href=&#x27;x&#x27;&gt;</b>"
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "tg://resolve?domain=x",
        "https://example.com/a|b",
        "https://example.com/a>b",
        'https://example.com/"onmouseover=x',
        "https://exa mple.com/",
        "//example.com/no-scheme",
    ],
)
def test_unsafe_links_stay_plain_text(url: str) -> None:
    reply = Reply((line(Span("Title", link=url)),))
    assert slack_text(reply) == "Title"
    assert to_telegram(reply) == ["Title"]


def test_safe_links_become_links_with_escaped_text() -> None:
    reply = Reply((line(Span("A <b> & B", link="https://example.com/x?a=1&b=2", bold=True)),))
    assert slack_text(reply) == "*<https://example.com/x?a=1&amp;b=2|A &lt;b&gt; &amp; B>*"
    assert to_telegram(reply) == [
        '<b><a href="https://example.com/x?a=1&amp;b=2">A &lt;b&gt; &amp; B</a></b>'
    ]


def test_tables_are_monospaced_blocks() -> None:
    table = Table(("id", "feed"), (("1", "Wire <x>"), ("22", "A" * 100)))
    reply = Reply((line("Feeds"), table))
    slack = slack_text(reply)
    assert slack.startswith("Feeds\n```id  feed\n--  ")
    assert "1   Wire &lt;x&gt;" in slack and "A" * 47 + "…" in slack and "A" * 49 not in slack
    (html,) = to_telegram(reply)
    assert "<pre>id  feed\n" in html and "1   Wire &lt;x&gt;" in html and html.endswith("</pre>")


class TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def test_long_telegram_replies_split_between_lines_within_the_limit() -> None:
    lines = tuple(
        line(f"{n} 🛰️ ", Span(f"Патриот <{n}> " * 12, link=f"https://e.example/{n}", bold=True))
        for n in range(80)
    )
    table = Table(("n", "text"), tuple((str(n), "ППО 🚀 " * 8) for n in range(200)))
    chunks = to_telegram(Reply((*lines, table)))
    assert len(chunks) == TELEGRAM_MAX_MESSAGES and chunks[-1].endswith(TRUNCATED)
    for chunk in chunks:
        assert utf16_len(chunk) <= 4096
        parser = TagBalance()
        parser.feed(chunk)
        assert parser.stack == [], "a tag was split across messages"


def test_long_slack_replies_stay_within_block_limits() -> None:
    lines = tuple(
        line(Span(f"<!here> item {n} " * 20, link="https://e.example/")) for n in range(300)
    )
    messages = to_slack(Reply(lines))
    assert 1 < len(messages) <= 4
    for message in messages:
        assert len(message["blocks"]) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"])
        assert "<!here>" not in str(message)
    assert messages[-1]["blocks"][-1]["text"]["text"] == TRUNCATED


def test_plain_text_and_usage() -> None:
    reply = Reply((line("a ", Span("b", bold=True)), Table(("x",), (("1",),))))
    assert reply.plain() == "a b\nx\n-\n1"
    assert Reply.text("one", "two", ephemeral=False).plain() == "one\ntwo"
    assert to_slack(Reply.text("shared", ephemeral=False))[0]["response_type"] == "in_channel"
