"""Expected result of parsing atom10.xml (at URL) with bot.feeds.parse.parse_feed.

Atom 1.0: xml:base on the feed and on one entry; enclosure links are not the item link;
the second entry has only <updated>, so `published` is None.
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "atom10"
ITEMS = [
    (
        "Drohnenabwehr am Flughafen ausgebaut",
        "https://nachrichten.example.de/artikel/6001",
        "tag:nachrichten.example.de,2026:6001",
        "2026-11-26T07:00:00+00:00",
    ),
    (
        "Luftalarm & Entwarnung im Norden",
        "https://nachrichten.example.de/eilmeldungen/6002",
        "tag:nachrichten.example.de,2026:6002",
        None,
    ),
]
