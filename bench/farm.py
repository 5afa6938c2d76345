"""A local farm of RSS feeds for benchmarks: N feeds of 30 items, ETag/304, changes on demand.

    python -m bench.farm --feeds 1000          # prints "http://127.0.0.1:PORT" and serves

    GET  /f/<i>.xml          feed i: 200 with ETag and Last-Modified, or 304 when they match
    POST /_change?fraction=  give that fraction of feeds one new item (a new ETag)
    POST /_reset             every feed back to its first version
    GET  /_stats             {"requests": feed requests served since the last reset}

Responses are generated once per version and kept as bytes, and served by a
bare asyncio protocol (HTTP/1.1, keep-alive), so the farm costs little next to
the client being measured. The text is generated from word lists
written for this file; items are about 1 KB, feeds about 30 KB, as on real sites.
About one item in twenty (ON_TOPIC) is about the watched topics, so matching and
alerting cost what they cost on real news, where most items match nothing; and
about a third of the words are rare ones (RARE), so that, as in real news,
unrelated items share few words and story clustering sees few candidates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import urllib.parse
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

ITEMS = 30
#: share of items about the watched topics (feeds.yaml): most news is about other things
ON_TOPIC = 0.05
#: general news vocabulary, for the items no topic is about
_GENERAL_TEXT = """
the a of to in and for on with at by from as after over about into their its new said
year week month today yesterday council mayor school teachers parents students hospital
doctors patients health study research university scientists data survey results team
season match players coach league club fans goals win loss final championship music
festival film cinema artists concert album theatre museum exhibition book author library
weather rain snow storm flood heat forecast traffic road bridge bus train station airport
flights delays company shares profits earnings bank interest rates inflation jobs workers
union strike wages housing rents property prices shops sales consumers farmers harvest
food restaurant police court judge trial case lawyers fire crews residents neighbourhood
park garden river lake beach tourism hotels visitors technology software phone app users
internet data privacy election voters campaign candidates party leader poll debate
"""
GENERAL = _GENERAL_TEXT.split()
#: the watched topics' vocabulary, for the on-topic items
TOPICAL = [
    "air",
    "defence",
    "battery",
    "interceptor",
    "drone",
    "missile",
    "strike",
    "city",
    "power",
    "grid",
    "shipment",
    "pause",
    "minister",
    "talks",
    "summit",
    "production",
    "joint",
    "venture",
    "factory",
    "ammunition",
    "shells",
    "radar",
    "system",
    "brigade",
    "region",
    "overnight",
    "attack",
    "damage",
    "officials",
    "said",
    "report",
    "according",
    "statement",
    "government",
    "parliament",
    "budget",
    "energy",
    "winter",
    "weather",
    "market",
    "prices",
    "rail",
    "port",
    "border",
    "Kyiv",
    "Berlin",
    "Tokyo",
    "Warsaw",
    "Kharkiv",
    "Odesa",
    "Lviv",
    "Munich",
    "Osaka",
    "Vilnius",
    "Patriot",
    "IRIS-T",
    "NASAMS",
]
#: the oldest item's date: five hours before the farm starts, so that every run sees
#: the same mix of items whatever the calendar day (a fixed date would slowly turn every
#: item into backlog, which the bot stores but never alerts); five hours holds a feed's
#: 30 items (7 minutes apart) and some changes, all inside the bot's 24-hour backlog age
BASE_TIME = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=5)
#: share of words drawn from RARE: news text is mostly common words, but the names,
#: places and specifics that tell one story from another are rare ones
RARE_SHARE = 0.3


_SYLLABLES = "ka ro mi ten sul var bo lin da pe gor ush ni tal ve mor zan sek"


def _rare_words(count: int) -> list[str]:
    """Made-up words (names, places, terms) that no topic matches, built from syllables."""
    rng = random.Random(7)
    syllables = _SYLLABLES.split()
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


RARE = _rare_words(5000)


def _sentence(rng: random.Random, words: int, vocabulary: list[str]) -> str:
    chosen = (
        rng.choice(RARE) if rng.random() < RARE_SHARE else rng.choice(vocabulary)
        for _ in range(words)
    )
    return " ".join(chosen).capitalize()


def _item(feed: int, n: int) -> str:
    rng = random.Random(feed * 100_003 + n)
    # On-topic items mix the topics' words into ordinary prose, as real reports do.
    words = GENERAL + TOPICAL if rng.random() < ON_TOPIC else GENERAL
    title = escape(_sentence(rng, rng.randint(7, 12), words))
    summary = escape(". ".join(_sentence(rng, rng.randint(12, 20), words) for _ in range(5)) + ".")
    published = format_datetime(BASE_TIME + timedelta(minutes=n * 7 + feed % 60))
    link = f"https://news{feed % 97}.example/{feed}/story-{n}"
    return (
        f"<item><title>{title}</title><link>{link}</link>"
        f'<guid isPermaLink="false">farm-{feed}-{n}</guid><pubDate>{published}</pubDate>'
        f"<description>&lt;p&gt;{summary}&lt;/p&gt;</description></item>"
    )


def render_feed(feed: int, version: int) -> bytes:
    """Feed `feed` at `version`: the newest 30 items, one more per version."""
    newest = ITEMS + version
    items = "".join(_item(feed, n) for n in range(newest - 1, newest - 1 - ITEMS, -1))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Farm outlet {feed}</title><link>https://news{feed % 97}.example/</link>"
        f"<description>Synthetic feed {feed}</description><ttl>15</ttl>{items}</channel></rss>"
    ).encode()


class Farm:
    """The feeds and their versions; `answer` is the whole HTTP logic."""

    def __init__(self, feeds: int) -> None:
        self.feeds = feeds
        self.versions = [0] * feeds
        self.requests = 0
        #: per feed: its ETag, its 200 response and its 304 response, built per version
        self.answers: list[tuple[str, bytes, bytes]] = [self._render(i) for i in range(feeds)]

    def _render(self, feed: int) -> tuple[str, bytes, bytes]:
        version = self.versions[feed]
        etag = f'"{feed}-{version}"'
        modified = format_datetime(BASE_TIME + timedelta(hours=version), usegmt=True)
        head = f"ETag: {etag}\r\nLast-Modified: {modified}\r\nCache-Control: max-age=60\r\n"
        body = render_feed(feed, version)
        ok = _response(200, head + "Content-Type: application/rss+xml\r\n", body)
        return etag, ok, _response(304, head, None)

    def answer(self, method: str, target: str, headers: dict[str, str]) -> bytes:
        path, _, query = target.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        if method == "GET" and path.startswith("/f/") and path.endswith(".xml"):
            self.requests += 1
            try:
                etag, ok, not_modified = self.answers[int(path[3:-4])]
            except (ValueError, IndexError):
                return _response(404, "", b"no such feed")
            return not_modified if headers.get("if-none-match") == etag else ok
        if method == "POST" and path == "/_change":
            rng = random.Random(int(params.get("seed", "1")))
            chosen = rng.sample(
                range(self.feeds), int(self.feeds * float(params.get("fraction", "0.1")))
            )
            for feed in chosen:
                self.versions[feed] += 1
                self.answers[feed] = self._render(feed)
            return _response(200, "", str(len(chosen)).encode())
        if method == "POST" and path == "/_reset":
            for feed in range(self.feeds):
                if self.versions[feed]:
                    self.versions[feed] = 0
                    self.answers[feed] = self._render(feed)
            self.requests = 0
            return _response(200, "", b"ok")
        if method == "GET" and path == "/_stats":
            stats = json.dumps({"requests": self.requests}).encode()
            return _response(200, "Content-Type: application/json\r\n", stats)
        return _response(404, "", b"not found")


def _response(status: int, head: str, body: bytes | None) -> bytes:
    """An HTTP/1.1 response; a 304 has no body (and no Content-Length)."""
    reason = {200: "OK", 304: "Not Modified", 404: "Not Found", 400: "Bad Request"}[status]
    length = "" if body is None else f"Content-Length: {len(body)}\r\n"
    return f"HTTP/1.1 {status} {reason}\r\n{head}{length}\r\n".encode() + (body or b"")


class FarmProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive on a bare asyncio protocol: the responses are built once
    per feed version, so a request costs the farm one split and one write. With
    aiohttp's server the farm took 0.25 s of the 2-core machine's CPU in a 1,000-feed
    cold cycle, CPU a real feed server never takes from the client's machine."""

    def __init__(self, farm: Farm) -> None:
        self.farm = farm
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way
            self.buffer = self.buffer[end + 4 + length :]
            try:
                method, target, _ = lines[0].split(" ", 2)
            except ValueError:
                self.transport.write(_response(400, "Connection: close\r\n", b"bad request"))
                self.transport.close()
                return
            self.transport.write(self.farm.answer(method, target, headers))
            if headers.get("connection", "").lower() == "close":
                self.transport.close()
                return


async def serve(feeds: int, port: int) -> None:
    farm = Farm(feeds)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FarmProtocol(farm), "127.0.0.1", port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.feeds, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
