"""Fetcher against the hostile loopback server: validators, deadlines, caps, redirects, errors."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time

import pytest

from bot import USER_AGENT
from bot.config import Settings
from bot.errors import BlockedAddressError, FetchError
from bot.feeds.fetch import Fetcher, format_size, parse_retry_after
from bot.types import FeedForUpdate, Fetched, NotModified
from tests.feeds.conftest import TEST_MAX_BYTES, FetcherFactory
from tests.feeds.servers import (
    FEED_BODY,
    FEED_ETAG,
    FEED_LAST_MODIFIED,
    HTML_BODY,
    RETRY_AFTER_S,
    UNAVAILABLE_FOR_S,
    HostileFeedServer,
)


def feed(url: str, **fields: object) -> FeedForUpdate:
    return FeedForUpdate(id=1, url=url, **fields)  # type: ignore[arg-type]


# -- 200 and 304 (B3) -----------------------------------------------------------------


async def test_200_returns_body_and_lowercased_kept_headers(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    result = await fetcher.fetch(feed(feed_server.url("/feed")))

    assert isinstance(result, Fetched)
    assert result.body == FEED_BODY
    assert result.url == feed_server.url("/feed")
    assert result.moved_to is None
    assert result.headers["etag"] == FEED_ETAG
    assert result.headers["last-modified"] == FEED_LAST_MODIFIED
    assert result.headers["cache-control"] == "max-age=300"
    assert result.headers["content-type"].startswith("application/rss+xml")
    assert "set-cookie" not in result.headers  # never handed on, never stored


async def test_sends_user_agent_and_no_validators_on_first_fetch(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    await fetcher.fetch(feed(feed_server.url("/feed")))

    (sent,) = feed_server.requests["/feed"]
    assert sent["User-Agent"] == USER_AGENT
    assert "Skywatch" in USER_AGENT and "https://" in USER_AGENT
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


@pytest.mark.parametrize(
    "validators",
    [
        pytest.param({"etag": FEED_ETAG}, id="etag"),
        pytest.param({"last_modified": FEED_LAST_MODIFIED}, id="last-modified"),
        pytest.param({"etag": FEED_ETAG, "last_modified": FEED_LAST_MODIFIED}, id="both"),
    ],
)
async def test_matching_validators_give_not_modified_without_a_body(
    fetcher: Fetcher, feed_server: HostileFeedServer, validators: dict[str, str]
) -> None:
    result = await fetcher.fetch(feed(feed_server.url("/feed"), **validators))

    assert isinstance(result, NotModified)
    assert result.headers["etag"] == FEED_ETAG
    assert feed_server.bytes_sent["/feed"] == 0  # 304: nothing to parse
    (sent,) = feed_server.requests["/feed"]
    assert sent.get("If-None-Match") == validators.get("etag")
    assert sent.get("If-Modified-Since") == validators.get("last_modified")


async def test_stale_validator_gives_the_new_body(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    result = await fetcher.fetch(feed(feed_server.url("/feed"), etag='"old"'))

    assert isinstance(result, Fetched)
    assert result.body == FEED_BODY


async def test_fetch_url_sends_no_validators_and_returns_html_as_is(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    result = await fetcher.fetch_url(feed_server.url("/html"))

    assert result.body == HTML_BODY
    assert result.headers["content-type"].startswith("text/html")


async def test_no_cookies_are_kept_between_feeds(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    await fetcher.fetch_url(feed_server.url("/cookie"))
    await fetcher.fetch_url(feed_server.url("/feed"))

    assert "Cookie" not in feed_server.requests["/feed"][0]


# -- deadline and size cap (B1, B2) ----------------------------------------------------


async def test_trickling_server_is_cut_off_by_the_total_deadline(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    started = time.monotonic()
    async with make_fetcher(timeout_s=1.0) as fetcher:
        with pytest.raises(FetchError, match=r"^timed out after 1 s$"):
            await fetcher.fetch_url(feed_server.url("/trickle"))

    # Each byte comes well within any per-read timeout; only a total deadline stops it.
    assert time.monotonic() - started < 5
    assert feed_server.bytes_sent["/trickle"] >= 2


async def test_endless_body_is_cut_off_at_the_cap(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(FetchError, match=r"^body larger than 256 KiB$"):
        await fetcher.fetch_url(feed_server.url("/huge"))


async def test_declared_content_length_over_the_cap_is_refused_before_reading(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="body larger than"):
        await fetcher.fetch_url(feed_server.url("/huge-declared"))
    # The server never sends the gigabyte; not waiting for it means we did not read.
    assert time.monotonic() - started < 1.0


async def test_gzip_bomb_is_cut_off_by_its_decompressed_size(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(FetchError, match="body larger than"):
        await fetcher.fetch_url(feed_server.url("/bomb"))

    # Far less than the cap went over the wire: the cap counted decompressed bytes.
    assert 0 < feed_server.bytes_sent["/bomb"] < TEST_MAX_BYTES // 4


async def test_body_exactly_at_the_cap_is_accepted(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    async with make_fetcher(max_bytes=len(FEED_BODY)) as fetcher:
        result = await fetcher.fetch_url(feed_server.url("/feed"))
    assert result.body == FEED_BODY
    async with make_fetcher(max_bytes=len(FEED_BODY) - 1) as fetcher:
        with pytest.raises(FetchError, match="body larger than"):
            await fetcher.fetch_url(feed_server.url("/feed"))


async def test_connection_closed_mid_body(fetcher: Fetcher, feed_server: HostileFeedServer) -> None:
    with pytest.raises(FetchError, match=r"^connection closed mid-body$"):
        await fetcher.fetch_url(feed_server.url("/cut"))


async def test_server_that_never_answers_is_cut_off(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(FetchError, match=r"^timed out after 1 s$"):
        await fetcher.fetch_url(feed_server.url("/silent"))


async def test_server_hanging_up_without_a_response(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(FetchError, match=r"^localhost closed the connection without a response$"):
        await fetcher.fetch_url(feed_server.url("/hangup"))


async def test_body_that_is_not_the_gzip_it_claims(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(FetchError, match=r"^the body is not valid gzip/deflate data$"):
        await fetcher.fetch_url(feed_server.url("/bad-gzip"))


# -- status codes (B4, B5) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "HTTP 404 Not Found"),
        ("/gone", "feed is gone (HTTP 410)"),
        ("/status/500", "HTTP 500 Internal Server Error"),
        ("/status/503", "HTTP 503 Service Unavailable"),  # no Retry-After: plain backoff
        ("/status/429", "HTTP 429 Too Many Requests"),
        ("/status/403", "HTTP 403 Forbidden"),
        ("/status/599", "HTTP 599"),
        ("/status/300", "HTTP 300 Multiple Choices"),  # not followed: no single target
        ("/no-location", "HTTP 302 redirect without a Location"),
    ],
)
async def test_error_statuses_have_clear_messages(
    fetcher: Fetcher, feed_server: HostileFeedServer, path: str, message: str
) -> None:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(feed(feed_server.url(path)))
    assert str(caught.value) == message
    assert caught.value.permanent is (path == "/gone")
    assert caught.value.retry_after is None


async def test_429_with_retry_after_seconds(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(FetchError, match="HTTP 429 Too Many Requests") as caught:
        await fetcher.fetch(feed(feed_server.url("/limited")))
    assert caught.value.retry_after == RETRY_AFTER_S
    assert not caught.value.permanent


async def test_503_with_retry_after_http_date(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(FetchError, match="HTTP 503 Service Unavailable") as caught:
        await fetcher.fetch(feed(feed_server.url("/unavailable")))
    assert caught.value.retry_after is not None
    # HTTP-dates have one-second resolution, and the test takes a moment.
    assert UNAVAILABLE_FOR_S - 5 <= caught.value.retry_after <= UNAVAILABLE_FOR_S


async def test_retry_after_is_capped(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    async with make_fetcher(max_retry_after_s=60) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(feed(feed_server.url("/limited")))
    assert caught.value.retry_after == 60


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (email.utils.formatdate(NOW + 90, usegmt=True), 90.0),
        (email.utils.formatdate(NOW - 90, usegmt=True), 0.0),  # in the past: now
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("size", "text"),
    [(10 * 1024 * 1024, "10 MiB"), (256 * 1024, "256 KiB"), (1536, "1.5 KiB"), (100, "100 bytes")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


# -- redirects (B5, D1) ----------------------------------------------------------------


def redirect(server: HostileFeedServer, code: int, to: str) -> str:
    from yarl import URL

    return str(URL(server.url(f"/redirect/{code}")).with_query(to=to))


@pytest.mark.parametrize("code", [301, 308])
async def test_permanent_redirect_reports_the_new_url(
    fetcher: Fetcher, feed_server: HostileFeedServer, code: int
) -> None:
    result = await fetcher.fetch(feed(redirect(feed_server, code, "/feed")))

    assert isinstance(result, Fetched)
    assert result.body == FEED_BODY
    assert result.moved_to == feed_server.url("/feed")
    assert result.url == feed_server.url("/feed")


@pytest.mark.parametrize("code", [302, 303, 307])
async def test_temporary_redirect_is_followed_but_not_a_move(
    fetcher: Fetcher, feed_server: HostileFeedServer, code: int
) -> None:
    result = await fetcher.fetch(feed(redirect(feed_server, code, "/feed")))

    assert isinstance(result, Fetched)
    assert result.body == FEED_BODY
    assert result.moved_to is None


async def test_move_stops_at_the_first_temporary_hop(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    temporary = redirect(feed_server, 302, "/feed")
    result = await fetcher.fetch(feed(redirect(feed_server, 301, temporary)))

    assert isinstance(result, Fetched)
    assert result.moved_to == temporary  # moved to B; B only temporarily serves C


async def test_temporary_then_permanent_is_no_move(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    permanent = redirect(feed_server, 301, "/feed")
    result = await fetcher.fetch(feed(redirect(feed_server, 302, permanent)))

    assert isinstance(result, Fetched)
    assert result.moved_to is None


async def test_redirect_loop_stops_after_max_redirects(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    async with make_fetcher(max_redirects=3) as fetcher:
        with pytest.raises(FetchError, match=r"^more than 3 redirects$"):
            await fetcher.fetch_url(feed_server.url("/loop"))
    assert feed_server.hits["/loop"] == 4


async def test_redirect_to_a_non_http_scheme_is_refused(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(BlockedAddressError, match="file: URLs"):
        await fetcher.fetch_url(redirect(feed_server, 302, "file:///etc/passwd"))


# -- network failures ------------------------------------------------------------------


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match=r"^connection refused by localhost$"):
        await fetcher.fetch_url(f"http://localhost:{unused_port()}/feed")


async def test_unresolvable_host(make_fetcher: FetcherFactory) -> None:
    async with make_fetcher(timeout_s=5) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch_url("http://example.invalid/feed")
    assert str(caught.value) == "cannot resolve host example.invalid"
    assert not isinstance(caught.value, BlockedAddressError)


async def test_invalid_url(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match=r"no host|not a valid URL"):
        await fetcher.fetch_url("http:///feed")


async def test_fetch_needs_an_open_fetcher(make_fetcher: FetcherFactory) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        await make_fetcher().fetch_url("http://localhost/")


# -- concurrency and configuration ---------------------------------------------------


async def test_per_host_limit_queues_outside_the_deadline(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    """With one slot per host, the next fetch waits for a trickle's slot, then succeeds."""
    async with make_fetcher(per_host=1, timeout_s=0.6) as fetcher:
        slow = asyncio.create_task(fetcher.fetch_url(feed_server.url("/trickle")))
        await asyncio.sleep(0.1)
        quick = await fetcher.fetch_url(feed_server.url("/feed"))
        # It got the slot only once the trickle timed out, and waiting (~0.5 s of
        # a 0.6 s deadline) did not count against its own deadline.
        assert slow.done()
        with pytest.raises(FetchError, match="timed out"):
            await slow

    assert quick.body == FEED_BODY


async def test_feeds_queued_behind_a_busy_host_do_not_starve_other_hosts(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    """Two global slots, one per host: a second trickle on localhost waits for its host
    without holding the other global slot, so 127.0.0.1 is fetched meanwhile."""
    async with make_fetcher(
        concurrency=2, per_host=1, allow_private_hosts=("localhost", "127.0.0.1")
    ) as fetcher:
        first = asyncio.create_task(fetcher.fetch_url(feed_server.url("/trickle")))
        second = asyncio.create_task(fetcher.fetch_url(feed_server.url("/trickle")))
        await asyncio.sleep(0.1)
        other = await fetcher.fetch_url(f"http://127.0.0.1:{feed_server.port}/feed")
        assert not first.done() and not second.done()
        for task in (first, second):
            with pytest.raises(FetchError, match="timed out"):
                await task

    assert other.body == FEED_BODY


async def test_accept_header_prefers_feeds(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    await fetcher.fetch_url(feed_server.url("/feed"))
    accept = feed_server.requests["/feed"][0]["Accept"]
    assert accept.startswith("application/rss+xml, application/atom+xml")


async def test_304_nobody_asked_for_is_an_error(
    fetcher: Fetcher, feed_server: HostileFeedServer
) -> None:
    with pytest.raises(FetchError, match="nothing was asked conditionally"):
        await fetcher.fetch_url(feed_server.url("/always-304"))
    result = await fetcher.fetch(feed(feed_server.url("/always-304"), etag='"x"'))
    assert isinstance(result, NotModified)


def test_from_settings() -> None:
    settings = Settings.model_validate(
        {
            "fetch_timeout": "7s",
            "max_feed_bytes": 1234,
            "concurrency": 9,
            "per_host_concurrency": 2,
            "allow_private_hosts": ["intranet.local"],
        }
    )
    fetcher = Fetcher.from_settings(settings)

    assert fetcher.timeout_s == 7
    assert fetcher.max_bytes == 1234
    assert fetcher.allow_private_hosts == ("intranet.local",)
