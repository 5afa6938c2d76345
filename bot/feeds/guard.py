"""The address guard: which URLs and IP addresses a feed fetch may reach (RELIABILITY.md D1).

A feed URL comes from a chat user, so it must never reach this machine or a
private network (SSRF). String checks on the URL are not enough: one address
has many spellings (``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) and a
public-looking name can resolve inward. So the decision has two layers:

* `check_url` runs before every request and redirect hop: http(s) only, no
  userinfo, and literal IP hosts (which aiohttp connects to without asking the
  resolver) must be public.
* `GuardedResolver` is the connector's resolver. It drops every resolved
  address that is not public, so the address that was checked is the address
  that is connected to (pinned), on every hop, with no second DNS lookup an
  attacker could rebind.

Both layers also refuse the public addresses of this machine's own interfaces
(read once from /proc/net on Linux, see `this_machine_addresses`), since a VPS
fetching its own public IP reaches services that listen on 0.0.0.0.

`is_public_address` is the pure classification both layers share. Python's
`ipaddress` alone misclassifies some addresses (V5: ``::ffff:127.0.0.1`` is not
loopback, ``::127.0.0.1`` is global), so embedded IPv4 addresses are unwrapped
and checked as IPv4. Hosts named in ``allow_private_hosts`` (exact names or
literal IPs) skip the address check; that is how intranet feeds and tests work.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Collection, Iterable
from pathlib import Path

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from bot.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})

_ALLOW_HINT = "allow it with settings.allow_private_hosts"

#: IPv4 networks that are never a public feed server. `is_global` covers most of
#: these, but its table has moved between Python releases; this list is ours.
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 connects to this machine
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598); not `is_private` (V5)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, home of cloud metadata (169.254.169.254)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including 255.255.255.255 broadcast
    )
)

#: The only IPv6 unicast space that is routed on the internet (RFC 4291 §2.4).
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) included
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")  # ::ffff:a.b.c.d, IPv4-mapped
_TRANSLATED_V4 = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_COMPATIBLE_V4 = ipaddress.IPv6Network("::/96")  # ::a.b.c.d, deprecated; also :: and ::1
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")  # 6to4: bits 16-48 are an IPv4 address


@functools.lru_cache(maxsize=4096)
def parse_address(text: str) -> IPAddress | None:
    """Read an IP address in any spelling a resolver accepts, or None if `text` is a name.

    Besides canonical forms this reads the legacy IPv4 spellings that
    `inet_aton` (and so getaddrinfo and browsers) accept: ``2130706433``,
    ``127.1``, ``0177.0.0.1``, ``0x7f.0.0.1``.

    Cached (it is pure, and its answers immutable): `check_url` asks it for every
    request and redirect hop, and a name costs ~7 us of failed address parsing.
    """
    text = text.strip().rstrip(".") if not text.startswith("[") else text.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    return _legacy_ipv4(text)


def _legacy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """The WHATWG URL IPv4 parser: 1-4 parts, each decimal, 0-octal or 0x-hex."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        number = _legacy_number(part)
        if number is None:
            return None
        numbers.append(number)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _legacy_number(part: str) -> int | None:
    lowered = part.lower()
    try:
        if lowered.startswith("0x"):
            return int(lowered[2:] or "0", 16)
        if len(lowered) > 1 and lowered.startswith("0"):
            return int(lowered[1:], 8)
        return int(lowered, 10) if lowered.isdigit() else None
    except ValueError:
        return None


def is_public_address(ip: str | IPAddress) -> bool:
    """True if `ip` is a public unicast address a feed may be fetched from.

    False for this machine, private, link-local, loopback, CGNAT, multicast,
    reserved, documentation and unspecified addresses, IPv4 and IPv6, also when
    the IPv4 address is embedded in an IPv6 one (mapped, compatible, translated,
    NAT64, 6to4). Teredo and local-use NAT64 are refused outright. A string that
    is not an address at all is not public either.
    """
    address = ip if not isinstance(ip, str) else parse_address(ip)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return _is_public_v6(address)
    return _is_public_v4(address)


def _is_public_v4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not any(address in net for net in _BLOCKED_V4)


def _is_public_v6(address: ipaddress.IPv6Address) -> bool:
    address = ipaddress.IPv6Address(int(address))  # drop a %scope; it cannot make it public
    for prefix in (_MAPPED_V4, _TRANSLATED_V4, _NAT64):
        if address in prefix:
            return _is_public_v4(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _COMPATIBLE_V4:
        # ::, ::1 and the deprecated ::a.b.c.d form; no feed server lives here.
        return False
    if address in _SIX_TO_FOUR:
        return _is_public_v4(ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF))
    return (
        address in _GLOBAL_UNICAST_V6
        and not any(address in net for net in _BLOCKED_V6)
        and address.is_global
    )


def normalize_host(host: str) -> str:
    """A host name as compared with the allow list: lower case, no brackets or trailing dot."""
    return host.strip("[]").rstrip(".").lower()


def is_allowed_host(host: str, allow_hosts: Collection[str]) -> bool:
    """True if the operator allowed `host` (an exact name, or a literal IP in any spelling)."""
    names, addresses = _allow_list(tuple(allow_hosts))
    wanted = normalize_host(host)
    if wanted in names:
        return True
    if not addresses:
        return False
    address = parse_address(wanted)
    return address is not None and address in addresses


@functools.lru_cache(maxsize=16)
def _allow_list(allow_hosts: tuple[str, ...]) -> tuple[frozenset[str], frozenset[IPAddress]]:
    """The allowed names, normalized, and the addresses among them (asked on every fetch)."""
    names = frozenset(normalize_host(h) for h in allow_hosts)
    parsed = (parse_address(name) for name in names)
    return names, frozenset(a for a in parsed if a is not None)


def check_url(
    url: str | URL,
    allow_hosts: Collection[str] = (),
    local_addresses: Collection[IPAddress] = (),
) -> None:
    """Raise `BlockedAddressError` unless `url` may be fetched, as far as the URL alone tells.

    Literal IP hosts are decided here, because aiohttp connects to them without
    its resolver; names are decided by `GuardedResolver` on the resolved address.
    `local_addresses` are this machine's own (public) addresses, refused too.
    """
    parsed = url if isinstance(url, URL) else parse_url(url)
    scheme = parsed.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}: URLs" if scheme else "URLs without a scheme"
        if parsed.raw_path[:1].isdigit() and not parsed.raw_host:
            # "127.0.0.1:8080/feed", "localhost:8080/feed": a host and its port, read as a
            # scheme and a path; "127.0.0.1: URLs are not feeds" would puzzle
            shown = "URLs without a scheme"
        raise BlockedAddressError(f"refused: {shown} are not feeds; only http:// and https://")
    if parsed.user is not None or parsed.password is not None:
        raise BlockedAddressError(
            "refused: URLs with a user name or password (user:pass@host) are not allowed"
        )
    host = parsed.raw_host
    if not host:
        raise BlockedAddressError("refused: the URL has no host")
    if is_allowed_host(host, allow_hosts):
        return
    name = normalize_host(host)
    if name == "localhost" or name.endswith(".localhost"):
        # RFC 6761: always this machine, whatever a resolver says.
        raise BlockedAddressError(f"refused: {name} is this machine; {_ALLOW_HINT}")
    address = parse_address(name)
    if address is not None and not is_public_address(address):
        raise BlockedAddressError(
            f"refused: {name} is a private address ({address}); {_ALLOW_HINT}"
        )
    if address is not None and address in local_addresses:
        raise BlockedAddressError(f"refused: {name} is this machine ({address}); {_ALLOW_HINT}")


def parse_url(url: str) -> URL:
    """`url` (stripped) as a yarl URL; BlockedAddressError when it is not one."""
    try:
        return URL(url.strip())
    except (ValueError, TypeError) as e:
        # The URL itself is not echoed: it may carry a token in its query.
        raise BlockedAddressError(f"refused: not a valid URL ({e})") from None


def refused_resolution(
    host: str, addresses: Iterable[str], what: str = "a private address"
) -> BlockedAddressError:
    """The error for a name whose every address is refused."""
    shown = ", ".join(dict.fromkeys(addresses)) or "no address"
    return BlockedAddressError(
        f"refused: {normalize_host(host)} resolves to {what} ({shown}); {_ALLOW_HINT}"
    )


def this_machine_addresses(proc_net: Path = Path("/proc/net")) -> frozenset[IPAddress]:
    """The addresses of this machine's interfaces, from Linux's /proc; empty elsewhere.

    Best effort: private and loopback ones are refused anyway, this adds the
    public ones. Reading fails quietly, because the guard still holds without it.
    """
    found: set[IPAddress] = set()
    for name, parse in (("fib_trie", parse_fib_trie), ("if_inet6", parse_if_inet6)):
        try:
            found |= parse((proc_net / name).read_text(encoding="ascii", errors="replace"))
        except OSError:
            continue
    return frozenset(found)


def parse_fib_trie(text: str) -> set[IPAddress]:
    """IPv4 addresses marked ``/32 host LOCAL`` in /proc/net/fib_trie."""
    found: set[IPAddress] = set()
    last: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif stripped.startswith("/32 host LOCAL") and last is not None:
            address = parse_address(last)
            if address is not None:
                found.add(address)
    return found


def parse_if_inet6(text: str) -> set[IPAddress]:
    """IPv6 addresses in /proc/net/if_inet6 (32 hex digits, then index, prefix, scope...)."""
    found: set[IPAddress] = set()
    for line in text.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            try:
                found.add(ipaddress.IPv6Address(int(fields[0], 16)))
            except ValueError:
                continue
    return found


class GuardedResolver(AbstractResolver):
    """A resolver that only returns public addresses, except for allowed hosts.

    It wraps aiohttp's default resolver. Because the connector connects to
    exactly the addresses returned here, the check cannot be raced by a second
    lookup (DNS rebinding). A name with some public and some private addresses
    keeps only the public ones.
    """

    def __init__(
        self,
        allow_hosts: Collection[str] = (),
        inner: AbstractResolver | None = None,
        local_addresses: Collection[IPAddress] = (),
    ) -> None:
        self._allow = tuple(allow_hosts)
        self._inner = inner if inner is not None else DefaultResolver()
        self._local = frozenset(local_addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if is_allowed_host(host, self._allow):
            return results
        public = [r for r in results if is_public_address(r["host"])]
        if not public:
            raise refused_resolution(host, (r["host"] for r in results))
        remote = [r for r in public if parse_address(r["host"]) not in self._local]
        if not remote:
            raise refused_resolution(host, (r["host"] for r in public), "this machine")
        return remote

    async def close(self) -> None:
        await self._inner.close()
