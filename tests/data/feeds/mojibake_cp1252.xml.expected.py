"""Expected result of parsing mojibake_cp1252.xml (at URL) with bot.feeds.parse.parse_feed.

feedparser's last touches on text: UTF-8 read as Latin-1 is undone, and C1 controls
become the windows-1252 characters they stand for (&#150; is an en dash).
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "rss20"
ITEMS = [
    ("«Air defence» report, UTF-8 read as Latin-1", "https://news.example.com/m/1", "m-1", None),
    ("Interceptor–drone ratio “unsustainable”", "https://news.example.com/m/2", "m-2", None),
    ("Ã©té de drones – stays as it is", "https://news.example.com/m/3", "m-3", None),
]
