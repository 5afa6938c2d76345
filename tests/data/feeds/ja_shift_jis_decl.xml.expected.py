"""Expected result of parsing ja_shift_jis_decl.xml (at URL) with bot.feeds.parse.parse_feed.

Shift_JIS declared in the XML declaration. The guids have no isPermaLink="false",
so feedparser treats them as URLs and resolves them against the feed URL.
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "rss20"
ITEMS = [
    (
        "防空システムが首都上空でドローン三機を迎撃",
        "https://news.example.jp/a/1001",
        "https://feeds.example.com/path/ja-1001",
        "2026-11-23T23:15:00+00:00",
    ),
    (
        "無人機の目撃情報、沿岸部で相次ぐ",
        "https://news.example.jp/a/1002",
        "https://feeds.example.com/path/ja-1002",
        "2026-11-24T00:40:00+00:00",
    ),
]
