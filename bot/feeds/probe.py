"""Find out what a URL a user typed really is: a feed, or a site page that links to one.

Used by `skywatch feeds add`, `skywatch parse URL` and the chat `feeds add`
command. Every fetch goes through the same guarded Fetcher as polling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.errors import BlockedAddressError, FetchError, NotAFeedError
from bot.feeds.normalize import normalize_title
from bot.types import Fetched, ParsedFeed


class UrlFetcher(Protocol):
    async def fetch_url(self, url: str) -> Fetched: ...


@dataclass(frozen=True, slots=True)
class ProbedFeed:
    """The feed found at (or through) a URL."""

    #: the feed's own URL: the given one, or the one a site page advertised
    url: str
    parsed: ParsedFeed

    @property
    def title(self) -> str:
        return normalize_title(self.parsed.title) or self.url


async def probe_feed(fetcher: UrlFetcher, url: str) -> ProbedFeed:
    """Fetch `url`; if it is an HTML page advertising feeds, follow its first feed link.

    Raises FetchError (unreachable, refused address) or ParseError/NotAFeedError.
    """
    fetched = await fetcher.fetch_url(url)
    try:
        return ProbedFeed(fetched.url, _parse(fetched))
    except NotAFeedError as e:
        if not e.feed_links:
            raise NotAFeedError(
                f"{url} is a web page, not a feed, and it links to no feed", ()
            ) from None
        link = e.feed_links[0]
    try:
        fetched = await fetcher.fetch_url(link)
    except BlockedAddressError:
        raise  # says which address it refused
    except FetchError as e:  # else "HTTP 404 Not Found" would seem to be about `url`
        raise FetchError(f"{url} links to the feed {link}, which failed: {e}") from e
    return ProbedFeed(fetched.url, _parse(fetched))


def _parse(fetched: Fetched) -> ParsedFeed:
    # imported here: the parsers and feedparser (~7 MB) stay out of a running bot's
    # main process until someone adds a feed (its parser workers have their own)
    from bot.feeds.parse import parse_feed

    return parse_feed(fetched.body, fetched.headers, fetched.url)
