"""Expected result of parsing atom03.xml (at URL) with bot.feeds.parse.parse_feed.

Atom 0.3: <issued> is the published date.
"""

URL = "https://feeds.example.com/path/feed.xml"
VERSION = "atom03"
ITEMS = [
    (
        "Counter-drone lasers enter field trials",
        "https://notes.example.com/2026/11/lasers",
        "tag:notes.example.com,2026:lasers",
        "2026-11-26T08:00:00+00:00",
    ),
    (
        "Missile defence budget debated",
        "https://notes.example.com/2026/11/budget",
        "tag:notes.example.com,2026:budget",
        "2026-11-25T18:00:00+00:00",
    ),
]
