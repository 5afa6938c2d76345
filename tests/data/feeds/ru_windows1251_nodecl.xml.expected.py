"""Expected result of parsing ru_windows1251_nodecl.xml (at URL) with bot.feeds.parse.parse_feed.

windows-1251 with no XML declaration: the charset comes from the HTTP header (headers.json).
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "rss20"
ITEMS = [
    (
        "ПВО сбила беспилотник над Киевом",
        "https://news.example.ua/ru/2001",
        "https://feeds.example.com/path/ru-2001",
        "2026-11-25T01:05:00+00:00",
    ),
    (
        "Воздушная тревога объявлена в пяти областях",
        "https://news.example.ua/ru/2002",
        "https://feeds.example.com/path/ru-2002",
        "2026-11-25T02:30:00+00:00",
    ),
]
