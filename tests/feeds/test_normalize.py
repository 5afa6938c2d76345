"""The normalize stage: canonical links, plain text, identity and time."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.feeds import normalize as normalize_module
from bot.feeds.normalize import (
    SUMMARY_MAX,
    canonical_url,
    content_hash,
    html_to_text,
    normalize_item,
    normalize_text,
)
from bot.types import RawItem

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
FEED = "https://news.example.org/feeds/world.xml"


# --- canonical_url -------------------------------------------------------------------------

URL_CASES = {
    "already canonical": ("https://news.example.org/a/1", None, "https://news.example.org/a/1"),
    "scheme and host lower-cased": ("HTTPS://News.Example.ORG/A/1", None, "https://news.example.org/A/1"),
    "default https port dropped": ("https://news.example.org:443/a", None, "https://news.example.org/a"),
    "default http port dropped": ("http://news.example.org:80/a", None, "http://news.example.org/a"),
    "other port kept": ("http://news.example.org:8080/a", None, "http://news.example.org:8080/a"),
    "fragment dropped": ("https://news.example.org/a#comments", None, "https://news.example.org/a"),
    "empty path becomes /": ("https://news.example.org", None, "https://news.example.org/"),
    "utm params dropped, order kept": (
        "https://n.example.org/a?b=2&utm_source=rss&a=1&UTM_Medium=x",
        None,
        "https://n.example.org/a?b=2&a=1",
    ),
    "bbc at_ params dropped": (
        "https://www.bbc.co.uk/news/world-1?at_medium=RSS&at_campaign=KARANGA",
        None,
        "https://www.bbc.co.uk/news/world-1",
    ),
    "click ids dropped": (
        "https://n.example.org/a?fbclid=1&gclid=2&yclid=3&mc_cid=4&mc_eid=5&igshid=6&_ga=7",
        None,
        "https://n.example.org/a",
    ),
    "ref, cmpid, ocid dropped": (
        "https://n.example.org/a?id=5&ref=rss&cmpid=x&ocid=y",
        None,
        "https://n.example.org/a?id=5",
    ),
    "value spelling kept": ("https://n.example.org/a?q=a%20b&x=", None, "https://n.example.org/a?q=a%20b&x="),
    "relative resolved against base": ("/a/2?utm_term=z", FEED, "https://news.example.org/a/2"),
    "relative without base": ("/a/2", None, None),
    "mailto refused": ("mailto:desk@example.org", None, None),
    "javascript refused": ("javascript:alert(1)", FEED, None),
    "ftp refused": ("ftp://files.example.org/x", None, None),
    "credentials refused": ("https://user:pw@news.example.org/a", None, None),
    "bad port refused": ("https://news.example.org:99999/a", None, None),
    "blank": ("   ", FEED, None),
    "whitespace trimmed": ("  https://news.example.org/a  ", None, "https://news.example.org/a"),
    "ipv6 host": ("http://[2001:DB8::1]:80/a", None, "http://[2001:db8::1]/a"),
    # an absolute link beside a base: as urljoin spells it (the join itself is skipped)
    "absolute beside a base": ("HTTPS://X.example/a?#top", FEED, "https://x.example/a"),
    "empty params, same scheme": ("https://x.example/a;", "https://f.example/", "https://x.example/a"),
    "empty params, other scheme": ("http://x.example/a;", "https://f.example/", "http://x.example/a;"),
    "bad port beside a base": ("https://x.example:99999/a", FEED, None),
}  # fmt: skip


@pytest.mark.parametrize(("url", "base", "expected"), URL_CASES.values(), ids=URL_CASES.keys())
def test_canonical_url(url: str, base: str | None, expected: str | None) -> None:
    assert canonical_url(url, base) == expected


# --- text ----------------------------------------------------------------------------------

TEXT_CASES = {
    "plain text unchanged": ("Drones over Kyiv", False, "Drones over Kyiv"),
    "entities decoded": ("Radar &amp; sensors &#8211; &quot;new&quot;", False,
                         'Radar & sensors – "new"'),
    "double-encoded decoded once": ("Tom &amp;amp; Jerry", False, "Tom &amp; Jerry"),
    "tags stripped": ("<p>Air <b>raid</b> alert</p>", False, "Air raid alert"),
    "script and style dropped": (
        "<style>p{}</style><p>Text</p><script>var x = '<b>';</script>",
        False,
        "Text",
    ),
    "br and p become lines": ("<p>One</p><p>Two<br>Three</p>", True, "One\nTwo\nThree"),
    "lines fold when not kept": ("<p>One</p><p>Two</p>", False, "One Two"),
    "kept lines lose blank lines and edges": (
        " \n<p> One \t two </p>\n \r\n<p>\u2028Three\x0b</p>\n ", True, "One two\nThree",
    ),
    "kept lines fold other breaks to spaces": ("a\u2029b\x1cc\x85d\ne", True, "a b c d\ne"),
    "no line break to keep": ("\tOne \r two\u3000", True, "One two"),
    "whitespace folded": ("  Air \t\n  defence   news ", False, "Air defence news"),
    "NFKC full-width": ("ＰＶＯ　ドローン１２３", False, "PVO ドローン123"),
    "NFKC ligature": ("ﬁre control", False, "fire control"),
    "non-breaking space": ("Air\u00a0defence", False, "Air defence"),
    "zero-width dropped": ("Dro\u200bnes", False, "Drones"),
    "a lone < is text": ("a < b and c > d", False, "a < b and c > d"),
    "empty": ("", False, ""),
}  # fmt: skip


@pytest.mark.parametrize(("raw", "keep", "expected"), TEXT_CASES.values(), ids=TEXT_CASES.keys())
def test_normalize_text(raw: str, keep: bool, expected: str) -> None:
    assert normalize_text(raw, keep_lines=keep) == expected


def test_html_to_text_keeps_unclosed_markup_text() -> None:
    assert html_to_text("<div>Alert <b>lifted") == "\nAlert lifted"


def test_long_summary_is_cut_at_a_word_boundary() -> None:
    words = " ".join(f"word{n}" for n in range(400))
    item = normalize_item(RawItem(title="t", summary=words), feed_url=FEED, now=NOW)
    assert item is not None
    assert len(item.summary) <= SUMMARY_MAX
    assert item.summary.endswith("…")
    body = item.summary.removesuffix("…")
    assert body in words and words[len(body)] == " "  # the cut fell between words


def test_long_summary_without_spaces_is_cut_at_the_limit() -> None:
    text = "防空" * 800
    item = normalize_item(RawItem(title="t", summary=text), feed_url=FEED, now=NOW)
    assert item is not None
    assert len(item.summary) == SUMMARY_MAX


# --- identity ------------------------------------------------------------------------------


def _raw(**fields: object) -> RawItem:
    base = RawItem(
        title="Drone shot down over Odesa",
        link="https://news.example.org/a/1?utm_source=rss",
        guid="urn:news:1",
        published=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        summary="<p>Air defence was active.</p>",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def _norm(raw: RawItem) -> object:
    return normalize_item(raw, feed_url=FEED, now=NOW, lang="en")


def test_full_item() -> None:
    item = normalize_item(_raw(), feed_url=FEED, now=NOW, lang="uk")
    assert item is not None
    assert item.key == "urn:news:1"
    assert item.title == "Drone shot down over Odesa"
    assert item.link == "https://news.example.org/a/1"
    assert item.summary == "Air defence was active."
    assert item.published_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert item.lang == "uk"
    expected = hashlib.sha256(b"Drone shot down over Odesa\nAir defence was active.").hexdigest()
    assert item.content_hash == expected == content_hash(item.title, item.summary)


KEY_CASES = {
    "guid first": (_raw(), "urn:news:1"),
    "guid stripped": (_raw(guid="  urn:news:1 \n"), "urn:news:1"),
    "canonical link without guid": (_raw(guid=None), "https://news.example.org/a/1"),
    "blank guid falls to link": (_raw(guid="   "), "https://news.example.org/a/1"),
    "relative link resolved": (_raw(guid=None, link="/a/7"), "https://news.example.org/a/7"),
}


@pytest.mark.parametrize(("raw", "key"), KEY_CASES.values(), ids=KEY_CASES.keys())
def test_key(raw: RawItem, key: str) -> None:
    item = normalize_item(raw, feed_url=FEED, now=NOW)
    assert item is not None and item.key == key


def test_content_hash_key_without_guid_or_link() -> None:
    item = normalize_item(_raw(guid=None, link=None), feed_url=FEED, now=NOW)
    assert item is not None
    assert item.key == f"sha256:{item.content_hash}"
    assert item.link is None


def test_unusable_link_is_dropped_not_fatal() -> None:
    item = normalize_item(_raw(link="javascript:alert(1)"), feed_url=FEED, now=NOW)
    assert item is not None and item.link is None


@pytest.mark.parametrize(
    "raw",
    [
        RawItem(),
        RawItem(title="  ", summary="<p> </p>", guid="x"),
        RawItem(link="mailto:x@example.org", published=NOW),
    ],
)
def test_item_without_title_link_or_summary_is_none(raw: RawItem) -> None:
    assert normalize_item(raw, feed_url=FEED, now=NOW) is None


def test_hash_ignores_dates_links_and_markup() -> None:
    a = normalize_item(_raw(), feed_url=FEED, now=NOW)
    b = normalize_item(
        _raw(
            published=datetime(2026, 11, 20, tzinfo=UTC),
            link="https://news.example.org/other",
            summary="<div>Air   defence was <i>active</i>.</div>",
        ),
        feed_url=FEED,
        now=NOW,
    )
    assert a is not None and b is not None
    assert a.content_hash == b.content_hash


def test_hash_changes_with_the_title() -> None:
    a = normalize_item(_raw(), feed_url=FEED, now=NOW)
    b = normalize_item(_raw(title="Two drones shot down over Odesa"), feed_url=FEED, now=NOW)
    assert a is not None and b is not None
    assert a.content_hash != b.content_hash


# --- time ----------------------------------------------------------------------------------

KYIV = timezone(timedelta(hours=2))
TIME_CASES = {
    "published kept": (_raw(), datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
    "other zone to UTC": (
        _raw(published=datetime(2026, 11, 26, 11, 0, tzinfo=KYIV)),
        datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    ),
    "missing: fetch time": (_raw(published=None), NOW),
    "updated when no published": (
        _raw(published=None, updated=datetime(2026, 11, 25, tzinfo=UTC)),
        datetime(2026, 11, 25, tzinfo=UTC),
    ),
    "future clamped": (_raw(published=NOW + timedelta(days=3)), NOW),
    "naive read as UTC": (_raw(published=datetime(2026, 11, 26, 8, 0)),
                          datetime(2026, 11, 26, 8, 0, tzinfo=UTC)),
}  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), TIME_CASES.values(), ids=TIME_CASES.keys())
def test_published_at(raw: RawItem, expected: datetime) -> None:
    item = normalize_item(raw, feed_url=FEED, now=NOW)
    assert item is not None
    assert item.published_at == expected
    assert item.published_at.tzinfo is not None


def _full_parse(raw: str) -> str:
    parser = normalize_module._TextExtractor()
    parser.feed(raw)
    parser.close()
    return "".join(parser.parts)


SIMPLE_MARKUP = [
    "<p>Air defence</p>",
    "<P >Tom &amp; Jerry<BR/>again</P >",
    "One<br />two<hr>three</li>",
    "<b>bold</b> and <i>x &lt;y&gt;</i> &nbsp;&#8212;",
    "text & more &amp",
]
#: markup the quick path leaves to HTMLParser
OTHER_MARKUP = [
    "<p class='x'>attrs</p>",
    "a < b and c > d",
    "<script>var x = '<b>';</script>Text",
    "<title>t</title>x",
    "<!-- note -->x",
    "</p/>x",
    "<p\u00a0>x",
]


@pytest.mark.parametrize("raw", SIMPLE_MARKUP)
def test_simple_markup_takes_the_quick_path_to_the_same_text(raw: str) -> None:
    assert normalize_module._simple_html_to_text(raw) == _full_parse(raw)
    assert html_to_text(raw) == _full_parse(raw)


@pytest.mark.parametrize("raw", OTHER_MARKUP)
def test_other_markup_goes_to_the_html_parser(raw: str) -> None:
    assert normalize_module._simple_html_to_text(raw) is None
    assert html_to_text(raw) == _full_parse(raw)
