"""Rendering hostile feed text for Slack, Telegram and the console (RELIABILITY A4–A9)."""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from bot.notify import render
from bot.notify.render import SlackMessage, utf16_len
from tests.notify.builders import alert, digest

HOSTILE_TEXT = [
    "<!channel>",
    "<!here|here> <!everyone>",
    "<@U1>",
    "a & b",
    "<script>alert(1)</script>",
    '</a><a href="javascript:x">click</a>',
    "<b>x",
    "<div>",
    "<<",
    "&amp; &lt; &#x3C; &",
    "<https://evil.example|totally safe>",
    "\"quoted\" 'single'",
    "pipe | and > gt",
    "\x1b[31mred\x07 \u202eevil",
    "line\nbreak\ttab",
    "emoji 😀🇺🇦👩‍👩‍👧",
    "😀" * 3000,
    "x" * 5000,
    "&" * 2000,
    "",
]
HOSTILE_LINKS = [
    None,
    "",
    "https://ok.example/a?b=1&c=2",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>",
    "tg://resolve?domain=x",
    "https://x.example/a|b",
    "https://x.example/a>b",
    "https://x.example/<b>",
    'https://x.example/"onmouseover="x',
    "http://x.example/a b",
    "ftp://x.example/",
    "//x.example/no-scheme",
    "https://" + "a" * 3000 + ".example/",
    "https://" + "&" * 1500,
]
CASES = list(itertools.product(HOSTILE_TEXT, HOSTILE_LINKS))

_OUR_LINK = re.compile(r"<(https?://[^|<>\s\"]+)\|([^<>]*)>")
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def slack_texts(message: SlackMessage) -> list[str]:
    texts = [message.text]
    for block in message.blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts.extend(e["text"] for e in block.get("elements", []))
    return texts


def assert_safe_slack(messages: list[SlackMessage]) -> None:
    for message in messages:
        assert 1 <= len(message.blocks) <= 50
        assert sum(utf16_len(t) for t in slack_texts(message)) <= 13000
        for text in slack_texts(message):
            assert utf16_len(text) <= 3000
            for url, _ in _OUR_LINK.findall(text):
                assert url.lower().startswith(("http://", "https://"))
            # our own tokens: <url|title> links and "> " block quotes at a line start
            stripped = re.sub(r"(?m)^> ", "", _OUR_LINK.sub("", text))
            assert "<" not in stripped and ">" not in stripped, text[:200]
            assert not _ENTITY.search(text), text[:200]


class TagChecker(HTMLParser):
    """Accepts only the HTML we mean to send: balanced <b>, <i>, <a href=http(s)>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ("b", "i", "a"), tag
        assert tag not in self.stack, f"nested <{tag}>"
        if tag == "a":
            assert len(attrs) == 1 and attrs[0][0] == "href"
            assert (attrs[0][1] or "").lower().startswith(("http://", "https://"))
        else:
            assert attrs == []
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.visible.append(data)


def assert_safe_telegram(parts: list[str]) -> None:
    assert parts
    for markup in parts:
        assert 0 < utf16_len(markup) <= 4096
        checker = TagChecker()
        checker.feed(markup)
        checker.close()
        assert checker.stack == [], "unclosed tags"
        raw = re.sub(r'</?(b|i)>|<a href="[^"<>]*">|</a>', "", markup)
        assert "<" not in raw and ">" not in raw, raw[:200]
        assert not re.search(r"&(?!amp;|lt;|gt;|quot;|#x27;)", markup)
        assert utf16_len("".join(checker.visible)) <= 4096


@pytest.mark.parametrize(("text", "link"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_hostile_alerts_render_safely_everywhere(text: str, link: str | None) -> None:
    payload = alert(
        title=text, link=link, feed=text[:300], topics=[text[:50]],
        why=[{"topic": "t", "score": 1, "snippet": text,
              "hits": [{"concept": "c", "term": text[:80], "field": "title", "at": [0, 1]}]}],
    )  # fmt: skip
    assert_safe_slack(render.render_slack("alert", payload, "Europe/Kyiv"))
    assert_safe_telegram(render.render_telegram("alert", payload, "Europe/Kyiv"))
    console = render.console_text("alert", payload, "Europe/Kyiv")
    assert "\x1b" not in console and "\x07" not in console


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_hostile_reports_and_digests_render_safely(text: str) -> None:
    assert_safe_slack(render.render_slack("report", {"text": f"Feed {text} failed\n{text}"}, "UTC"))
    assert_safe_telegram(render.render_telegram("report", {"text": f"Feed {text}\n{text}"}, "UTC"))
    payload = digest(30, topics=("war", text[:100] or "empty"), title=text)
    assert_safe_slack(render.render_slack("digest", payload, "UTC"))
    assert_safe_telegram(render.render_telegram("digest", payload, "UTC"))


def test_slack_mentions_are_escaped_and_links_are_tokens() -> None:
    [message] = render.render_slack("alert", alert("<!channel> <@U123> & co"), "UTC")
    title = message.blocks[0]["text"]["text"]
    assert (
        title
        == "*<https://news.example/kyiv?id=1&amp;lang=en|&lt;!channel&gt; &lt;@U123&gt; &amp; co>*"
    )
    assert message.text.startswith("&lt;!channel&gt; &lt;@U123&gt; &amp; co")


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "https://x.example/a|b", 'https://x.example/"', "data:text/html,x"],
)
def test_unsafe_links_are_plain_text_never_links(link: str) -> None:
    [message] = render.render_slack("alert", alert("Title", link), "UTC")
    texts = "\n".join(slack_texts(message))
    assert not _OUR_LINK.search(texts)
    assert "link (not clickable): " + render.slack_escape(link) in texts
    [markup] = render.render_telegram("alert", alert("Title", link), "UTC")
    assert "<a " not in markup
    assert render.tg_escape(link) in markup


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://a.example/x?y=1&z=2#f", True),
        ("http://a.example", True),
        ("HTTPS://A.EXAMPLE/", True),
        ("https://a.example/a b", False),
        ("https:///path-only", False),
        ("javascript://a.example/%0aalert(1)", False),
        ("mailto:a@example.org", False),
        (42, False),
    ],
)
def test_safe_link(url: Any, safe: bool) -> None:
    assert (render.safe_link(url) is not None) is safe


def test_alert_shows_outlet_local_time_topics_terms_and_snippet() -> None:
    [markup] = render.render_telegram("alert", alert(), "Europe/Kyiv")
    assert markup.splitlines() == [
        '<b><a href="https://news.example/kyiv?id=1&amp;lang=en">'
        "Drone strike on Kyiv power plant</a></b>",
        "Example News · 2026-11-27 09:30 EET",
        "topics: energy, war",
        "matched: power plant, Kyiv",
        "<i>…a drone hit the power plant in Kyiv overnight…</i>",
    ]
    [message] = render.render_slack("alert", alert(), "America/New_York")
    assert message.blocks[1]["elements"][0]["text"] == "Example News · 2026-11-27 02:30 EST"


def test_long_titles_are_cut_before_escaping_never_inside_an_entity() -> None:
    [markup] = render.render_telegram("alert", alert("&" * 5000), "UTC")
    first = markup.splitlines()[0]
    assert first.endswith("…</a></b>")
    assert re.fullmatch(r'<b><a href="[^"]+">(&amp;)+…</a></b>', first)


def test_slack_digest_of_200_items_is_split_within_limits() -> None:
    payload = digest(50, topics=("war", "energy", "economy", "elections"))
    messages = render.render_slack("digest", payload, "UTC")
    assert len(messages) >= 2
    assert_safe_slack(messages)
    everything = "\n".join(t for m in messages for t in slack_texts(m))
    for topic in ("war", "energy", "economy", "elections"):
        for i in range(50):
            assert f"|x {topic} {i}>" in everything
    assert messages[0].text == f"Daily digest, 27 Nov (1/{len(messages)})"


def test_telegram_digest_with_emoji_is_split_between_items() -> None:
    payload = digest(120, topics=("war", "energy"), title="😀 Україна")
    parts = render.render_telegram("digest", payload, "UTC")
    assert len(parts) >= 2
    assert_safe_telegram(parts)
    lines = [line for part in parts for line in part.splitlines()]
    assert sum(line.startswith("• ") for line in lines) == 240
    assert lines.count("…and 3 more") == 2


def test_telegram_plain_keeps_text_and_urls() -> None:
    markup = render.telegram_alert(alert("<b>Tom & Jerry</b>"), "UTC")
    plain = render.telegram_plain(markup)
    assert plain.splitlines()[0] == "<b>Tom & Jerry</b> (https://news.example/kyiv?id=1&lang=en)"
    assert "<i>" not in plain and "&amp;" not in plain


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert utf16_len("a😀ї") == 4


@pytest.mark.parametrize("payload", [{"text": ""}, {"text": "  \n "}, {}])
def test_an_empty_report_still_renders_a_message(payload: dict[str, Any]) -> None:
    [slack] = render.render_slack("report", payload, "UTC")
    assert slack.blocks[0]["text"]["text"] == "(empty report)"
    assert render.render_telegram("report", payload, "UTC") == ["(empty report)"]
    assert render.console_text("report", payload, "UTC") == "!! (empty report)"


@pytest.mark.parametrize(("text", "link"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_hostile_follow_ups_render_safely_everywhere(text: str, link: str | None) -> None:
    source = {"title": text, "link": link, "feed": text[:300], "published_at": "x"}
    payload = alert(sources=[source] * 30)
    assert_safe_slack(render.render_slack("thread", payload, "UTC"))
    assert_safe_telegram(render.render_telegram("thread", payload, "UTC"))
    console = render.console_text("thread", payload, "UTC")
    assert "\x1b" not in console and "\x07" not in console


def test_a_follow_up_lists_its_new_sources_and_counts_the_rest() -> None:
    sources = [
        {"title": f"Report {i}", "link": f"https://n{i}.example/a", "feed": f"Outlet {i}"}
        for i in range(12)
    ]
    (slack,) = render.render_slack("thread", alert(sources=sources), "UTC")
    assert slack.text.startswith("Also reported by Outlet 0, Outlet 1,")
    body = slack.blocks[0]["text"]["text"]
    assert "• <https://n9.example/a|Report 9> — Outlet 9" in body
    assert "Report 10" not in body and body.endswith("…and 2 more")
    (tg,) = render.render_telegram("thread", alert(sources=sources[:1]), "UTC")
    assert tg == (
        '<b>Also reported by Outlet 0</b>\n• <a href="https://n0.example/a">Report 0</a> — Outlet 0'
    )


@pytest.mark.parametrize(
    ("sizes", "limit", "separator", "max_count", "groups"),
    [
        pytest.param([3, 3, 3], 7, 1, None, [[3, 3], [3]], id="separator counts"),
        pytest.param([3, 3, 3], 6, 0, None, [[3, 3], [3]], id="exactly full"),
        pytest.param([9, 1, 1], 5, 0, None, [[9], [1, 1]], id="oversized alone"),
        pytest.param([1] * 5, 100, 0, 2, [[1, 1], [1, 1], [1]], id="count limit"),
        pytest.param([], 5, 0, None, [], id="nothing"),
    ],
)
def test_split_greedy(
    sizes: list[int], limit: int, separator: int, max_count: int | None, groups: list[list[int]]
) -> None:
    got = render.split_greedy(sizes, lambda n: n, limit, separator=separator, max_count=max_count)
    assert got == groups
