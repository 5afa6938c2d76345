"""The address guard (RELIABILITY.md D1): classification tables, URL checks, and real loopback.

The loopback tests bind a `ConnectionCounter` on the address an attacker would
aim at and assert it saw **zero** connections: refusing after connecting (or
after sending the request) would already be too late.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.errors import BlockedAddressError, FetchError
from bot.feeds.guard import (
    GuardedResolver,
    check_url,
    is_allowed_host,
    is_public_address,
    parse_address,
    parse_fib_trie,
    parse_if_inet6,
    this_machine_addresses,
)
from bot.types import FeedForUpdate
from tests.feeds.conftest import FetcherFactory
from tests.feeds.servers import FEED_BODY, ConnectionCounter, HostileFeedServer

# -- is_public_address ---------------------------------------------------------------

NOT_PUBLIC = {
    # IPv4
    "loopback": "127.0.0.1",
    "loopback, far end": "127.255.255.254",
    "unspecified": "0.0.0.0",
    "this network": "0.1.2.3",
    "private 10/8": "10.0.0.5",
    "private 172.16/12": "172.16.0.1",
    "private 172.31": "172.31.255.255",
    "private 192.168/16": "192.168.1.1",
    "link-local, cloud metadata": "169.254.169.254",
    "CGNAT 100.64/10": "100.64.0.1",
    "CGNAT, far end": "100.127.255.254",
    "IETF protocol 192.0.0/24": "192.0.0.9",
    "documentation TEST-NET-1": "192.0.2.1",
    "documentation TEST-NET-2": "198.51.100.7",
    "documentation TEST-NET-3": "203.0.113.9",
    "benchmarking": "198.18.0.1",
    "6to4 relay anycast": "192.88.99.1",
    "multicast": "224.0.0.1",
    "multicast, high": "239.255.255.250",
    "reserved 240/4": "240.0.0.1",
    "broadcast": "255.255.255.255",
    # IPv6
    "v6 unspecified": "::",
    "v6 loopback": "::1",
    "v6 loopback, long form": "0:0:0:0:0:0:0:1",
    "v6 unique local": "fd00::2",
    "v6 unique local fc": "fc00::1",
    "v6 link-local": "fe80::1",
    "v6 link-local with scope": "fe80::1%eth0",
    "v6 site-local (deprecated)": "fec0::1",
    "v6 multicast": "ff02::1",
    "v6 discard": "100::1",
    "v6 documentation": "2001:db8::1",
    "v6 documentation 3fff": "3fff::1",
    "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped loopback, hex": "::ffff:7f00:1",
    "IPv4-mapped private": "::ffff:10.0.0.1",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "IPv4-compatible loopback": "::127.0.0.1",
    "IPv4-compatible public (deprecated form)": "::8.8.8.8",
    "IPv4-translated loopback": "::ffff:0:127.0.0.1",
    "NAT64 loopback": "64:ff9b::127.0.0.1",
    "NAT64 private": "64:ff9b::a00:1",
    "NAT64 local-use prefix": "64:ff9b:1::8.8.8.8",
    "6to4 loopback": "2002:7f00:1::",
    "6to4 private": "2002:c0a8:101::1",
    "6to4 CGNAT": "2002:6440:1::1",
    # legacy IPv4 spellings that inet_aton accepts
    "decimal": "2130706433",
    "short dotted": "127.1",
    "two parts": "10.1",
    "octal": "0177.0.0.1",
    "hex": "0x7f.0.0.1",
    "hex whole": "0x7f000001",
    "octal whole": "017700000001",
    "mixed": "0x7f.0.1",
    "zero": "0",
    # not addresses at all
    "a name": "example.com",
    "empty": "",
    "too many parts": "1.2.3.4.5",
    "octet too big": "256.1.1.1",
    "garbage": "0x7g.0.0.1",
}

PUBLIC = {
    "v4": "8.8.8.8",
    "v4 one.one": "1.1.1.1",
    "v4 next to 10/8": "11.0.0.1",
    "v4 next to 172.16/12": "172.32.0.1",
    "v4 next to CGNAT": "100.128.0.1",
    "v4 decimal spelling": "134744072",
    "v4 hex spelling": "0x8.0x8.0x8.0x8",
    "v6": "2606:4700:4700::1111",
    "v6 global 2a00": "2a00:1450:4001::200e",
    "IPv4-mapped public": "::ffff:8.8.8.8",
    "NAT64 public": "64:ff9b::8.8.8.8",
    "6to4 public": "2002:808:808::1",
}


@pytest.mark.parametrize("ip", NOT_PUBLIC.values(), ids=NOT_PUBLIC.keys())
def test_not_public(ip: str) -> None:
    assert is_public_address(ip) is False


@pytest.mark.parametrize("ip", PUBLIC.values(), ids=PUBLIC.keys())
def test_public(ip: str) -> None:
    assert is_public_address(ip) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("0x7F.0X0.0.1", "127.0.0.1"),
        ("0x", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),  # a trailing dot is still the address
        ("[::1]", "::1"),
        ("4294967295", "255.255.255.255"),
        ("4294967296", None),
        ("1.16777216", None),
        ("08.0.0.1", None),  # 8 is not an octal digit
        ("example.com", None),
        ("1e3", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed is not None else None) == expected


# -- check_url -------------------------------------------------------------------------

REFUSED_URLS = {
    "file": ("file:///etc/passwd", "file: URLs"),
    "ftp": ("ftp://example.com/feed", "ftp: URLs"),
    "gopher": ("gopher://example.com/", "gopher: URLs"),
    "data": ("data:text/xml,<rss/>", "data: URLs"),
    "javascript": ("javascript:alert(1)", "javascript: URLs"),
    "no scheme": ("/etc/passwd", "without a scheme"),
    "host and port, no scheme": ("127.0.0.1:8080/feed", "without a scheme"),
    "name and port, no scheme": ("localhost:8080/feed", "without a scheme"),
    "userinfo": ("http://user:pass@example.com/feed", "user name or password"),
    "user only": ("https://user@example.com/feed", "user name or password"),
    "no host": ("http:///feed", "no host"),
    "localhost": ("http://localhost/feed", "this machine"),
    "localhost upper, dot": ("http://LOCALHOST./feed", "this machine"),
    "sub.localhost": ("http://feeds.localhost:8080/", "this machine"),
    "loopback": ("http://127.0.0.1/", "private address (127.0.0.1)"),
    "loopback with port": ("http://127.0.0.1:8080/x", "private address (127.0.0.1)"),
    "decimal": ("http://2130706433/", "private address (127.0.0.1)"),
    "octal": ("http://0177.0.0.1/", "private address (127.0.0.1)"),
    "hex": ("http://0x7f.0.0.1/", "private address (127.0.0.1)"),
    "short": ("http://127.1/", "private address (127.0.0.1)"),
    "v6 loopback": ("http://[::1]/", "private address (::1)"),
    "v4-mapped": ("http://[::ffff:127.0.0.1]/", "private address"),
    "v4-compatible": ("http://[::127.0.0.1]/", "private address"),
    "metadata": ("http://169.254.169.254/latest/meta-data/", "private address"),
    "private": ("https://10.0.0.5/feed", "private address (10.0.0.5)"),
    "CGNAT": ("http://100.64.0.1/", "private address"),
    "unspecified": ("http://0.0.0.0:8080/", "private address (0.0.0.0)"),
    "v6 link-local with zone": ("http://[fe80::1%25eth0]/", "private address"),
    "fullwidth dots": ("http://127。0。0。1/", "private address (127.0.0.1)"),
}


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS.values(), ids=REFUSED_URLS.keys())
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(BlockedAddressError, match=r"^refused: ") as caught:
        check_url(url, ())
    assert reason in str(caught.value)
    assert caught.value.permanent


def test_refusal_says_how_to_allow_it() -> None:
    with pytest.raises(BlockedAddressError) as caught:
        check_url("http://127.0.0.1:8080/feed")
    assert str(caught.value) == (
        "refused: 127.0.0.1 is a private address (127.0.0.1); "
        "allow it with settings.allow_private_hosts"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/feed",
        "https://example.com:8443/feed.xml?x=1",
        "HTTPS://Example.COM/feed",
        "http://8.8.8.8/",
        "http://[2606:4700:4700::1111]/feed",
        "http://127.0.0.1.nip.io/",  # a name: the resolver decides on its address
    ],
)
def test_check_url_passes_public_urls_and_names(url: str) -> None:
    check_url(url, ())  # raises if refused
    check_url(URL(url), ())


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://localhost:8080/feed", ["localhost"]),
        ("http://LocalHost./feed", ["localhost"]),
        ("http://intranet.corp/feed", ["INTRANET.corp"]),
        ("http://127.0.0.1/feed", ["127.0.0.1"]),
        ("http://2130706433/feed", ["127.0.0.1"]),  # the same address, spelled otherwise
        ("http://[::1]:80/feed", ["::1"]),
        ("http://[::1]/feed", ["[::1]"]),
    ],
)
def test_allowed_hosts_pass(url: str, allow: list[str]) -> None:
    check_url(url, allow)


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.2/feed", ["127.0.0.1"]),
        ("http://localhost/feed", ["127.0.0.1"]),  # names and addresses are not mixed
        ("http://intranet.localhost/feed", ["localhost"]),  # exact names, no suffixes
        ("file:///etc/passwd", ["localhost", ""]),  # schemes are never allowed
        ("http://u:p@localhost/feed", ["localhost"]),
    ],
)
def test_allow_list_is_exact(url: str, allow: list[str]) -> None:
    with pytest.raises(BlockedAddressError):
        check_url(url, allow)


def test_is_allowed_host_ignores_case_brackets_and_trailing_dots() -> None:
    assert is_allowed_host("[::1]", ["::1"])
    assert is_allowed_host("Feeds.Example.", ["feeds.example"])
    assert not is_allowed_host("feeds.example", [])


# -- GuardedResolver with a stub underneath ------------------------------------------


class StubResolver(AbstractResolver):
    """Answers from a table, as a DNS server an attacker controls would."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.table:
            raise OSError(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for ip in self.table[host]
        ]

    async def close(self) -> None:
        self.closed = True


async def test_resolver_keeps_only_public_addresses() -> None:
    inner = StubResolver({"mixed.example": ["10.0.0.1", "8.8.8.8", "::1", "2606:4700::1"]})
    resolver = GuardedResolver((), inner)

    results = await resolver.resolve("mixed.example", 443, socket.AF_UNSPEC)

    assert [r["host"] for r in results] == ["8.8.8.8", "2606:4700::1"]
    assert all(r["port"] == 443 for r in results)


async def test_resolver_refuses_a_name_with_only_private_addresses() -> None:
    inner = StubResolver({"inward.example": ["127.0.0.1", "::ffff:10.0.0.1"]})

    with pytest.raises(BlockedAddressError) as caught:
        await GuardedResolver((), inner).resolve("inward.example", 80)

    assert str(caught.value) == (
        "refused: inward.example resolves to a private address (127.0.0.1, ::ffff:10.0.0.1); "
        "allow it with settings.allow_private_hosts"
    )


async def test_resolver_passes_allowed_hosts_through_and_closes_inner() -> None:
    inner = StubResolver({"intranet.corp": ["10.1.2.3"]})
    resolver = GuardedResolver(["intranet.corp"], inner)

    results = await resolver.resolve("intranet.corp", 80)
    await resolver.close()

    assert [r["host"] for r in results] == ["10.1.2.3"]
    assert inner.closed


async def test_resolver_errors_pass_through_as_os_errors() -> None:
    with pytest.raises(OSError):
        await GuardedResolver((), StubResolver({})).resolve("nowhere.example", 80)


# -- real loopback: refused before any connection --------------------------------------


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


LISTEN_ON = [
    pytest.param("127.0.0.2", id="127.0.0.2"),
    pytest.param(
        "::1",
        id="::1",
        marks=pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback"),
    ),
]


@pytest.mark.parametrize("listen_on", LISTEN_ON)
@pytest.mark.parametrize("code", [301, 302, 307])
async def test_redirect_from_allowed_host_to_loopback_is_refused(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer, listen_on: str, code: int
) -> None:
    async with ConnectionCounter(listen_on) as target, make_fetcher() as fetcher:
        url = str(URL(feed_server.url(f"/redirect/{code}")).with_query(to=target.url("/feed")))
        with pytest.raises(BlockedAddressError, match="private address"):
            await fetcher.fetch_url(url)

    assert feed_server.hits[f"/redirect/{code}"] == 1  # the allowed hop was fetched
    assert target.connections == 0


@pytest.mark.parametrize(
    "spelling",
    ["127.0.0.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]"],
)
async def test_literal_loopback_is_refused_before_connecting(
    make_fetcher: FetcherFactory, spelling: str
) -> None:
    async with ConnectionCounter("127.0.0.1") as target, make_fetcher() as fetcher:
        with pytest.raises(BlockedAddressError):
            await fetcher.fetch_url(f"http://{spelling}:{target.port}/feed")

    assert target.connections == 0


async def test_name_not_allowed_that_resolves_to_loopback_is_refused(
    make_fetcher: FetcherFactory,
) -> None:
    inner = StubResolver({"feeds.example.com": ["127.0.0.1"]})
    async with (
        ConnectionCounter("127.0.0.1") as target,
        make_fetcher(resolver=inner) as fetcher,
    ):
        with pytest.raises(BlockedAddressError, match=r"feeds\.example\.com resolves to a private"):
            await fetcher.fetch_url(f"http://feeds.example.com:{target.port}/feed")

    assert target.connections == 0


async def test_public_name_redirecting_to_a_name_that_resolves_inward_is_refused(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    inner = StubResolver({"localhost": ["127.0.0.1"], "rebind.example": ["127.0.0.1"]})
    async with make_fetcher(resolver=inner) as fetcher:
        to = f"http://rebind.example:{feed_server.port}/feed"
        url = str(URL(feed_server.url("/redirect/302")).with_query(to=to))
        with pytest.raises(BlockedAddressError, match=r"rebind\.example"):
            await fetcher.fetch_url(url)

    assert feed_server.hits["/feed"] == 0


async def test_allowed_name_resolving_to_loopback_is_fetched(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    inner = StubResolver({"intranet.corp": ["127.0.0.1"]})
    async with make_fetcher(resolver=inner, allow_private_hosts=["intranet.corp"]) as fetcher:
        result = await fetcher.fetch_url(f"http://intranet.corp:{feed_server.port}/feed")

    assert result.body == FEED_BODY


async def test_allowed_literal_ip_is_fetched(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    async with make_fetcher(allow_private_hosts=["127.0.0.1"]) as fetcher:
        result = await fetcher.fetch_url(f"http://127.0.0.1:{feed_server.port}/feed")

    assert result.body == FEED_BODY


async def test_permanent_redirect_to_a_refused_address_reports_no_move(
    make_fetcher: FetcherFactory, feed_server: HostileFeedServer
) -> None:
    """A refused hop is an error, so no moved_to can ever name a refused address."""
    async with ConnectionCounter("127.0.0.2") as target, make_fetcher() as fetcher:
        url = str(URL(feed_server.url("/redirect/301")).with_query(to=target.url("/feed")))
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(FeedForUpdate(id=1, url=url))

    assert isinstance(caught.value, BlockedAddressError)
    assert caught.value.permanent
    assert target.connections == 0


# -- this machine's own public addresses ---------------------------------------------

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 203.0.113.0/24 2 0 2
           |-- 198.51.100.0
              /24 link UNICAST
           |-- 93.184.216.34
              /32 host LOCAL
"""
IF_INET6 = """fd000000000000000000000000000002 04 40 00 82     eth0
00000000000000000000000000000001 01 80 10 80       lo
26064700000000000000000000001111 02 40 00 80     eth1
"""


def test_parse_fib_trie_finds_local_ipv4_addresses() -> None:
    assert {str(a) for a in parse_fib_trie(FIB_TRIE)} == {"127.0.0.1", "93.184.216.34"}


def test_parse_if_inet6_finds_ipv6_addresses() -> None:
    assert {str(a) for a in parse_if_inet6(IF_INET6)} == {"fd00::2", "::1", "2606:4700::1111"}


def test_this_machine_addresses_reads_proc_net(tmp_path: Path) -> None:
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text(IF_INET6)

    found = this_machine_addresses(tmp_path)

    assert ipaddress.ip_address("93.184.216.34") in found
    assert ipaddress.ip_address("2606:4700::1111") in found
    assert this_machine_addresses(tmp_path / "missing") == frozenset()


def test_check_url_refuses_this_machines_public_address() -> None:
    mine = {ipaddress.ip_address("93.184.216.34")}
    with pytest.raises(BlockedAddressError, match=r"is this machine \(93\.184\.216\.34\)"):
        check_url("http://93.184.216.34/feed", (), mine)
    check_url("http://93.184.216.35/feed", (), mine)


async def test_resolver_refuses_a_name_resolving_to_this_machine() -> None:
    inner = StubResolver(
        {"me.example": ["93.184.216.34"], "both.example": ["93.184.216.34", "8.8.8.8"]}
    )
    resolver = GuardedResolver((), inner, {ipaddress.ip_address("93.184.216.34")})

    with pytest.raises(BlockedAddressError) as caught:
        await resolver.resolve("me.example", 80)
    kept = await resolver.resolve("both.example", 80)

    assert str(caught.value) == (
        "refused: me.example resolves to this machine (93.184.216.34); "
        "allow it with settings.allow_private_hosts"
    )
    assert [r["host"] for r in kept] == ["8.8.8.8"]


def test_fetcher_knows_this_machines_loopback_address(make_fetcher: FetcherFactory) -> None:
    if not Path("/proc/net/fib_trie").exists():
        pytest.skip("no /proc/net/fib_trie on this system")
    assert ipaddress.ip_address("127.0.0.1") in make_fetcher().local_addresses
