"""Fetching feeds over HTTP: one shared aiohttp session, guarded, capped and deadlined.

`Fetcher` owns everything between a feed URL and its body bytes:

* the address guard on the URL and on every redirect hop (`bot.feeds.guard`),
  with redirects followed by hand so each hop is checked;
* conditional GETs (ETag / Last-Modified) and 304 handling (RELIABILITY.md B3);
* one **total** deadline per fetch covering connect, headers and the whole body,
  so a server trickling bytes is cut off (B1; a per-read timeout would never fire);
* a cap on the *decompressed* body, enforced while streaming, so a gzip bomb is
  stopped early (B2);
* 429/503 Retry-After, 410 Gone and 301/308 moves reported to the caller (B4, B5);
* global and per-host concurrency limits, a descriptive User-Agent and no
  cookies kept between feeds.

Every failure becomes a `FetchError` with a short message meant for users
("HTTP 404 Not Found", "timed out after 20 s"); no aiohttp or asyncio exception
escapes. Messages name the host, never the full URL, which may carry a token.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from bot import USER_AGENT
from bot.config import Settings
from bot.errors import BlockedAddressError, FetchError
from bot.feeds.guard import GuardedResolver, check_url, parse_url, this_machine_addresses
from bot.types import FeedForUpdate, Fetched, NotModified

MiB = 1024 * 1024

#: response headers handed on (lower-cased); others, such as Set-Cookie, are dropped
KEPT_HEADERS = (
    "content-type",
    "etag",
    "last-modified",
    "cache-control",
    "expires",
    "retry-after",
    "content-location",
)
#: feeds first, then anything: a site URL may answer with HTML that links its feed
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1"
)
PERMANENT_REDIRECTS = frozenset({301, 308})
TEMPORARY_REDIRECTS = frozenset({302, 303, 307})
_CHUNK = 64 * 1024


class Fetcher:
    """Fetches feeds with one shared `aiohttp.ClientSession`; use as an async context manager."""

    def __init__(
        self,
        *,
        timeout_s: float = 20,
        max_bytes: int = 10 * MiB,
        concurrency: int = 50,
        per_host: int = 4,
        allow_private_hosts: Sequence[str] = (),
        user_agent: str = USER_AGENT,
        max_redirects: int = 5,
        max_retry_after_s: float = 86400,
        resolver: AbstractResolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`resolver` replaces the system resolver under the guard (tests); `clock` is
        the wall clock in epoch seconds, for Retry-After dates."""
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.allow_private_hosts = tuple(allow_private_hosts)
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self.max_retry_after_s = max_retry_after_s
        self._concurrency = concurrency
        self._per_host = per_host
        self._inner_resolver = resolver
        #: refused like private ones; read once, since interfaces rarely change
        self.local_addresses = this_machine_addresses()
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Fetcher:
        """A fetcher configured from the global settings."""
        return cls(
            timeout_s=settings.fetch_timeout.total_seconds(),
            max_bytes=settings.max_feed_bytes,
            concurrency=settings.concurrency,
            per_host=settings.per_host_concurrency,
            allow_private_hosts=settings.allow_private_hosts,
        )

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(
                self.allow_private_hosts, self._inner_resolver, self.local_addresses
            ),
            limit=self._concurrency,
            # A backstop for redirects to other hosts; the first host is limited by
            # our own semaphores, which are taken *before* the deadline starts.
            limit_per_host=self._per_host,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # one feed must not see another's cookies
            headers={"User-Agent": self.user_agent, "Accept": ACCEPT},
            # One deadline, ours (asyncio.timeout in _fetch), so one clear message.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None),
            trust_env=False,  # an environment proxy would bypass the address guard
            auto_decompress=True,
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, feed: FeedForUpdate) -> Fetched | NotModified:
        """A conditional GET of `feed.url`: 304 gives NotModified (body unread), 2xx Fetched."""
        validators: dict[str, str] = {}
        if feed.etag:
            validators["If-None-Match"] = feed.etag
        if feed.last_modified:
            validators["If-Modified-Since"] = feed.last_modified
        return await self._fetch(feed.url, validators)

    async def fetch_url(self, url: str) -> Fetched:
        """An unconditional GET, for one-off fetches (`parse URL`, `feeds add URL`)."""
        result = await self._fetch(url, {})
        if not isinstance(result, Fetched):  # _fetch refuses a 304 nobody asked for
            raise FetchError("HTTP 304 Not Modified, but nothing was asked conditionally")
        return result

    async def _fetch(self, url: str, validators: Mapping[str, str]) -> Fetched | NotModified:
        session = self._require_session()
        # Checked before waiting for a slot, so a refused URL fails at once; `_follow`
        # checks every later hop. (Not cached per feed: 10,000 parsed URLs take 8 MB.)
        start = parse_url(url)
        check_url(start, self.allow_private_hosts, self.local_addresses)
        host = (start.host or "").lower()
        # Wait for slots first: time spent queueing behind other feeds is not the
        # server's fault and must not eat into its deadline. The host's slot comes
        # first, so feeds queued behind one busy host hold no global slot.
        async with self._host_slot(host), self._slots:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await self._follow(session, start, validators, started)
            except FetchError:
                raise
            except TimeoutError as e:
                raise FetchError(f"timed out after {self.timeout_s:g} s") from e
            except (aiohttp.ClientError, OSError, ValueError) as e:
                raise describe_error(e, host) from e

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Fetcher is not open; use `async with Fetcher(...) as fetcher`")
        return self._session

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self._per_host)
        return slot

    async def _follow(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        validators: Mapping[str, str],
        started: float,
    ) -> Fetched | NotModified:
        """Request `url`, following up to max_redirects redirects, each hop guarded."""
        moved_to: URL | None = None
        still_permanent = True
        for hop in range(self.max_redirects + 1):
            if hop:  # the first was checked by `_fetch`
                check_url(url, self.allow_private_hosts, self.local_addresses)
            async with session.get(url, headers=validators, allow_redirects=False) as response:
                target = redirect_target(response, url)
                if target is None:
                    return await self._answer(response, url, moved_to, bool(validators), started)
            # A feed has moved only as far as an unbroken run of permanent
            # redirects from the start takes it; a later 302 is only temporary.
            if still_permanent and response.status in PERMANENT_REDIRECTS:
                moved_to = target
            else:
                still_permanent = False
            url = target
        raise FetchError(f"more than {self.max_redirects} redirects")

    async def _answer(
        self,
        response: aiohttp.ClientResponse,
        url: URL,
        moved_to: URL | None,
        conditional: bool,
        started: float,
    ) -> Fetched | NotModified:
        """Turn a final (non-redirect) response into a result or a FetchError."""
        status = response.status
        headers = kept_headers(response.headers)
        if status == 304:
            if not conditional:
                raise FetchError("HTTP 304 Not Modified, but nothing was asked conditionally")
            return NotModified(str(url), headers, time.monotonic() - started)
        if 200 <= status < 300:
            body = await self._read_body(response)
            moved = str(moved_to) if moved_to is not None else None
            return Fetched(str(url), body, headers, moved, time.monotonic() - started)
        raise self._status_error(status, response.headers.get("Retry-After"))

    def _status_error(self, status: int, retry_after_header: str | None) -> FetchError:
        if status == 410:
            return FetchError("feed is gone (HTTP 410)", permanent=True)
        message = f"HTTP {status} {status_phrase(status)}".rstrip()
        if status in (429, 503):
            wait = parse_retry_after(retry_after_header, self._clock())
            if wait is not None:
                wait = min(wait, self.max_retry_after_s)
                return FetchError(f"{message}; retry after {wait:.0f} s", retry_after=wait)
        return FetchError(message)

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        """Read the decompressed body, giving up as soon as it passes max_bytes."""
        # Content-Length is the *compressed* size when encoded, so it can only
        # refuse early; the running total below is what enforces the cap.
        if response.content_length is not None and response.content_length > self.max_bytes:
            raise self._too_big()
        chunks: list[bytes] = []
        total = 0
        # aiohttp decompresses while streaming, in bounded pieces, so the total
        # counts decompressed bytes and a bomb is stopped after about one chunk.
        async for chunk in response.content.iter_chunked(_CHUNK):
            total += len(chunk)
            if total > self.max_bytes:
                raise self._too_big()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_big(self) -> FetchError:
        """Made only when a body is too big: formatting it costs every fetch ~0.7 us."""
        return FetchError(f"body larger than {format_size(self.max_bytes)}")


def redirect_target(response: aiohttp.ClientResponse, url: URL) -> URL | None:
    """The absolute URL a redirect response points to, or None if it is no redirect."""
    if response.status not in PERMANENT_REDIRECTS | TEMPORARY_REDIRECTS:
        return None
    location = response.headers.get("Location", "").strip()
    if not location:
        raise FetchError(f"HTTP {response.status} redirect without a Location")
    try:
        return url.join(URL(location)).with_fragment(None)
    except (ValueError, TypeError) as e:
        raise FetchError(f"HTTP {response.status} redirect to an invalid URL") from e


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers later stages need, with lower-cased names."""
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date; RFC 9110 §10.2.3).

    `now` is epoch seconds. A date in the past gives 0; garbage gives None.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def status_phrase(status: int) -> str:
    """The standard reason phrase; the server's own may be anything, so it is not shown."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def format_size(size: int) -> str:
    """10485760 -> '10 MiB', 1536 -> '1.5 KiB'."""
    for unit, scale in (("MiB", MiB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def describe_error(error: BaseException, host: str) -> FetchError:
    """A FetchError with a short, user-facing message for a client or network failure."""
    if isinstance(error, BlockedAddressError):
        return error
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return FetchError(f"cannot resolve host {host}")
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return FetchError(f"the TLS certificate of {host} is not valid")
    if isinstance(error, aiohttp.ClientSSLError):
        return FetchError(f"TLS handshake with {host} failed")
    if isinstance(error, aiohttp.ClientConnectorError):
        if isinstance(error.os_error, ConnectionRefusedError):
            return FetchError(f"connection refused by {host}")
        reason = error.os_error.strerror or type(error.os_error).__name__
        return FetchError(f"cannot connect to {host}: {reason}")
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return FetchError(f"{host} closed the connection without a response")
    if isinstance(error, aiohttp.ClientPayloadError):
        if "encod" in str(error).lower() and "transfer" not in str(error).lower():
            return FetchError("the body is not valid gzip/deflate data")
        return FetchError("connection closed mid-body")
    if isinstance(error, aiohttp.InvalidURL | ValueError):
        return FetchError("not a valid URL")
    if isinstance(error, aiohttp.ClientResponseError):
        return FetchError(f"{host} sent a malformed HTTP response")
    if isinstance(error, OSError):
        return FetchError(
            f"network error talking to {host}: {error.strerror or type(error).__name__}"
        )
    return FetchError(f"request to {host} failed ({type(error).__name__})")
