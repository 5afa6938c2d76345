"""Expected result of parsing rss10.rdf (at URL) with bot.feeds.parse.parse_feed.

RSS 1.0: the id is rdf:about; dc:date is an *updated* date for feedparser, so `published` is None.
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "rss10"
ITEMS = [
    (
        "ミサイル発射を確認、政府が警戒呼びかけ",
        "https://news.example.jp/r/1",
        "https://news.example.jp/r/1",
        None,
    ),
    (
        "上空の無人機、空港を一時閉鎖",
        "https://news.example.jp/r/2",
        "https://news.example.jp/r/2",
        None,
    ),
]
