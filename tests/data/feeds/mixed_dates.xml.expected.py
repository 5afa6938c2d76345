"""Expected result of parsing mixed_dates.xml (at URL) with bot.feeds.parse.parse_feed.

Dates in many formats, all read by feedparser's date parsers and converted to UTC.
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "rss20"
ITEMS = [
    (
        "RFC 822 date",
        "https://news.example.com/d/1",
        "https://feeds.example.com/path/d-1",
        "2026-11-26T06:00:00+00:00",
    ),
    (
        "ISO 8601 date",
        "https://news.example.com/d/2",
        "https://feeds.example.com/path/d-2",
        "2026-11-26T06:00:00+00:00",
    ),
    (
        "Space separated date",
        "https://news.example.com/d/3",
        "https://feeds.example.com/path/d-3",
        "2026-11-26T17:00:00+00:00",
    ),
    (
        "Two digit year",
        "https://news.example.com/d/4",
        "https://feeds.example.com/path/d-4",
        "2026-11-26T14:00:00+00:00",
    ),
    ("Garbage date", "https://news.example.com/d/5", "https://feeds.example.com/path/d-5", None),
    ("No date", "https://news.example.com/d/6", "https://feeds.example.com/path/d-6", None),
    (
        "Timezone name",
        "https://news.example.com/d/7",
        "https://feeds.example.com/path/d-7",
        "2026-11-26T17:00:00+00:00",
    ),
    (
        "Date only",
        "https://news.example.com/d/8",
        "https://feeds.example.com/path/d-8",
        "2026-11-26T00:00:00+00:00",
    ),
    (
        "asctime date",
        "https://news.example.com/d/9",
        "https://feeds.example.com/path/d-9",
        "2026-11-26T09:00:00+00:00",
    ),
]
