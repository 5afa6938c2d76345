"""Expected result of parsing rss092.xml (at URL) with bot.feeds.parse.parse_feed.

RSS 0.92: an item with neither title nor link is still an item (normalize keys it by content).
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "rss092"
ITEMS = [
    ("Patrol aircraft spotted unidentified drone", "https://wire.example.com/92/1", None, None),
    (None, None, None, None),
]
