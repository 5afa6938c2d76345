"""Expected result of parsing relative_links.xml (at URL) with bot.feeds.parse.parse_feed.

Relative links: resolved against Content-Location (headers.json) and xml:base.
The last title looks like escaped HTML, so feedparser (and we) keep `&amp;` as it is.
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "rss20"
ITEMS = [
    (
        "Relative to the feed URL",
        "https://rel.example.com/news/9001",
        "https://rel.example.com/news/9001",
        "2026-11-26T12:00:00+00:00",
    ),
    ("Relative to xml:base", "https://mirror.example.net/archive/9002.html", "rel-9002", None),
    (
        "Guid as link, no link element",
        "https://rel.example.com/feeds/story/9003",
        "https://rel.example.com/feeds/story/9003",
        None,
    ),
    ("Query with &amp; entity", "https://rel.example.com/feeds/news?id=9004&lang=en", None, None),
]
